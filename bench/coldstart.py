"""coldstart: from starting the server process to the first `handshake` packet received by a client
that keeps trying to connect, with M messages stored (written straight into the SQLite file, as in
`history`). Repeated `reps` times on the same data directory; also the time to import the server's
code alone (`python -c "import originchats.server.app"`), which is the floor of any start.

With `--binary PATH` (the single-file binary of scripts/build-binary) the same start is timed for it on
the same data, alternating with `python -m originchats` run by run, and `PATH --version` is timed as the
binary's floor (it unpacks itself before Python starts).
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from . import common
from .server import CHEAP_ARGON2, NICE, SERVER_CPU, Server, can_pin, use_nice
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


def _version_secs(binary: str) -> float:
    t0 = time.monotonic()
    subprocess.run([binary, "--version"], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


class BinaryServer(Server):
    """The same server, started as `BINARY serve --config ...` instead of `python -m originchats serve`."""

    def __init__(self, binary: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.binary = binary

    def command(self) -> list[str]:
        cmd = [self.binary, "serve", "--config", str(self.config_path)]
        if can_pin():
            cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
        if use_nice():
            cmd = ["nice", "-n", str(NICE), *cmd]
        return cmd


def _time_start(srv: Server) -> float:
    srv.start(wait=False)
    try:
        return _first_handshake(srv.port, srv.started_at)
    finally:
        srv.stop()  # SIGTERM: the binary's launcher passes it on to the server it unpacked


async def coldstart(args: Any) -> dict[str, Any]:
    binary = getattr(args, "binary", None)
    srv = Server(argon2=CHEAP_ARGON2)
    bin_srv = BinaryServer(binary, data_dir=srv.data_dir, argon2=CHEAP_ARGON2) if binary else None
    try:
        common.add_users(srv.data_dir, ["u0"], CHEAP_ARGON2)
        fill = common.add_messages(srv.data_dir, args.messages, "USR:local_u0")
        times, bin_times = [], []
        for _ in range(args.reps):
            times.append(_time_start(srv))
            if bin_srv is not None:
                bin_times.append(_time_start(bin_srv))
        imports = [_import_secs() for _ in range(args.reps)]
        versions = [_version_secs(binary) for _ in range(args.reps)] if binary else []
    finally:
        if bin_srv is not None:
            bin_srv.cleanup()
        srv.cleanup()
    out = {"scenario": "coldstart", "messages": args.messages, "reps": args.reps,
           "secs": round(statistics.median(times), 3), "all_secs": [round(t, 3) for t in times],
           "import_only_secs": round(statistics.median(imports), 3), "prefill_secs": round(fill, 1)}
    if binary:
        out.update({"binary": binary, "binary_secs": round(statistics.median(bin_times), 3),
                    "binary_all_secs": [round(t, 3) for t in bin_times],
                    "binary_version_secs": round(statistics.median(versions), 3)})
    return out
