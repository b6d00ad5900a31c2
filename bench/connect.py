"""connect: N idle authenticated connections (1,000 and 10,000; 50,000 where the fd limit allows).

The connections log in as `--users` accounts round robin (100 by default): each account's first
connection makes the server broadcast `user_connect` to every authenticated socket, so N distinct
accounts would cost N^2/2 deliveries (50 M at N = 10,000) and measure that broadcast storm instead
of holding connections. RSS per connection = (RSS with the N connections, once quiet) - (RSS with
none), divided by N. The idle clients only count packets, so nothing piles up on either side.

One client address has ~28,000 ephemeral ports (fewer when the port is picked by `bind`, as a
chosen source address needs), so past 10,000 the connections are spread over `--sources`
loopback addresses (127.0.0.1, 127.0.0.2, ...: the server's per-address limits are off in the
bench config). Both processes raise their open-file limit to the hard limit
(`raise_nofile`); the result shows it (`nofile`), since each side needs one descriptor per
connection: where the hard limit is below N, connections past it fail, and are counted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server, raise_nofile, self_cpu

HOST = "127.0.0.1"


async def connect(args: Any, n: int) -> dict[str, Any]:
    users = min(args.users, n)
    sources = getattr(args, "sources", 0) or max(1, -(-n // 10_000))
    nofile = raise_nofile()
    srv = Server(argon2=CHEAP_ARGON2)
    common.add_users(srv.data_dir, [f"u{i}" for i in range(users)], CHEAP_ARGON2)
    with srv:
        # warm up: one login and out, so imports and caches are not counted per connection
        ws = await common.connect_login(HOST, srv.port, "u0")
        ws.close()
        await asyncio.sleep(0.5)
        rss0 = srv.rss_kib()
        cpu0, ccpu0, t0 = srv.cpu(), self_cpu(), time.monotonic()

        async def one(i: int):
            source = f"127.0.0.{1 + i % sources}" if sources > 1 else None  # one: as the kernel picks
            ws = await common.connect_login(HOST, srv.port, f"u{i % users}", source=source)
            ws.counting()
            return ws

        clients, failures = await common.in_batches([lambda i=i: one(i) for i in range(n)], batch=250)
        secs = time.monotonic() - t0
        cpu1, ccpu1 = srv.cpu(), self_cpu()
        await common.quiet(clients, settle=0.5)
        await asyncio.sleep(1.0)
        rss1 = srv.rss_kib()
        alive = sum(1 for c in clients if not c.closed)
        for c in clients:
            c.close()
    held = max(1, len(clients))
    return {
        "scenario": "connect", "n": n, "users": users, "sources": sources, "nofile": nofile,
        "secs": round(secs, 2), "failures": failures,
        "held": alive, "connects_per_s": round(len(clients) / secs),
        "rss_before_mib": round(rss0 / 1024, 1), "rss_after_mib": round(rss1 / 1024, 1),
        "rss_per_conn_kb": round((rss1 - rss0) / held, 2),  # KiB, as ps and /proc show,
        "server_cpu_ms_per_conn": round((cpu1 - cpu0) * 1000 / held, 3),
        "client_cpu_util": round((ccpu1 - ccpu0) / secs, 3),
    }
