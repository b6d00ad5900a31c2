"""coldstart: from starting the server process to the first `handshake` packet received by a client
that keeps trying to connect, with M messages stored (written straight into the SQLite file, as in
`history`). Repeated `reps` times on the same data directory; also the time to import the server's
code alone (`python -c "import originchats.server.app"`), which is the floor of any start.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server
from .wsclient import UPGRADE


def _first_handshake(port: int, t0: float, timeout: float = 60.0) -> float:
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            time.sleep(0.002)
            continue
        with s:
            s.sendall(UPGRADE)
            buf = b""
            while b'"handshake"' not in buf:
                data = s.recv(65536)
                if not data:
                    break
                buf += data
            if b'"handshake"' in buf:
                return time.monotonic() - t0
    raise RuntimeError("no handshake")


def _import_secs() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import originchats.server.app, originchats.cli"], check=True)
    return time.monotonic() - t0


async def coldstart(args: Any) -> dict[str, Any]:
    srv = Server(argon2=CHEAP_ARGON2)
    try:
        common.add_users(srv.data_dir, ["u0"], CHEAP_ARGON2)
        fill = common.add_messages(srv.data_dir, args.messages, "USR:local_u0")
        times = []
        for _ in range(args.reps):
            srv.start(wait=False)
            times.append(_first_handshake(srv.port, srv.started_at))
            srv.stop()
        imports = [_import_secs() for _ in range(args.reps)]
    finally:
        srv.cleanup()
    return {"scenario": "coldstart", "messages": args.messages, "reps": args.reps,
            "secs": round(statistics.median(times), 3), "all_secs": [round(t, 3) for t in times],
            "import_only_secs": round(statistics.median(imports), 3), "prefill_secs": round(fill, 1)}
