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
    topology = getattr(args, "topology", "all") or "all"
    if topology != "all":
        return await connect_cluster(args, n, topology)
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
        clients, failures = await _open(n, [srv.port], users, sources)
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


async def _open(n: int, ports: list[int], users: int, sources: int) -> tuple[list[Any], int]:
    async def one(i: int):
        source = f"127.0.0.{1 + i % sources}" if sources > 1 else None  # one: as the kernel picks
        ws = await common.connect_login(HOST, ports[i % len(ports)], f"u{i % users}", source=source)
        ws.counting()
        return ws

    return await common.in_batches([lambda i=i: one(i) for i in range(n)], batch=250)


async def connect_cluster(args: Any, n: int, topology: str) -> dict[str, Any]:
    """The same through a core and gateways (bench/cluster.py, issue 12), the connections spread
    over the gateways in turn: RSS and CPU per connection of each process (the core keeps each
    connection's state, a gateway its socket)."""
    from .cluster import PLACEMENT, Cluster
    from .fanout import TOPOLOGY

    match = TOPOLOGY.fullmatch(topology)
    if match is None:
        raise ValueError(f"--topology: {topology!r} is neither all nor core+Ngw")
    users = min(args.users, n)
    sources = getattr(args, "sources", 0) or max(1, -(-n // 10_000))
    nofile = raise_nofile()
    cluster = Cluster(argon2=CHEAP_ARGON2, gateways=int(match.group(1)))
    common.add_users(cluster.core.data_dir, [f"u{i}" for i in range(users)], CHEAP_ARGON2)
    with cluster:
        await cluster.ready()
        for port in cluster.ports:  # warm up each process, as above
            ws = await common.connect_login(HOST, port, "u0")
            ws.close()
        await asyncio.sleep(0.5)
        rss0, cpu0, t0 = cluster.rss_mib(), cluster.cpu_parts(), time.monotonic()
        clients, failures = await _open(n, cluster.ports, users, sources)
        secs = time.monotonic() - t0
        cpu1 = cluster.cpu_parts()
        await common.quiet(clients, settle=0.5)
        await asyncio.sleep(1.0)
        rss1 = cluster.rss_mib()
        alive = sum(1 for c in clients if not c.closed)
        for c in clients:
            c.close()
    held = max(1, len(clients))
    gateways = len(cluster.ports)
    by_process = {}
    for name in rss1:
        mine = held if name in ("core", "redis") else held / gateways  # a gateway holds its share
        by_process[name] = {"rss_before_mib": rss0[name], "rss_after_mib": rss1[name],
                            "rss_per_conn_kb": round((rss1[name] - rss0[name]) * 1024 / mine, 2),
                            "cpu_ms_per_conn": round((cpu1[name] - cpu0[name]) * 1000 / mine, 3)}
    return {
        "scenario": "connect", "topology": topology, "placement": PLACEMENT, "n": n, "users": users,
        "sources": sources, "nofile": nofile, "secs": round(secs, 2), "failures": failures, "held": alive,
        "connects_per_s": round(len(clients) / secs),
        "rss_per_conn_kb": round(sum((rss1[k] - rss0[k]) * 1024 for k in rss1) / held, 2),  # all processes
        "server_cpu_ms_per_conn": round(sum(cpu1[k] - cpu0[k] for k in cpu1) * 1000 / held, 3),
        "by_process": by_process,
    }
