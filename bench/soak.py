"""soak: `clients` logged-in clients, each doing one operation at a time with random think time
(exponential, mean 1/`rate` s) for `secs` seconds: the offered load is clients x rate ops/s (the
original server saturated at ~121 ops/s when 100 clients offered ~500).

Mix: 45% message_new, 10% message_edit (own recent message), 5% message_delete (own), 15%
messages_get, 15% typing, 5% users_online, 5% messages_around. Latency is request to reply (the
reply carries the request's `listener`). Afterwards every acknowledged, undeleted message must be
readable through messages_get, no request may go unanswered, and no client may have been
disconnected.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server, self_cpu
from .wsclient import WS

HOST = "127.0.0.1"
MIX = [("message_new", 45), ("message_edit", 10), ("message_delete", 5), ("messages_get", 15),
       ("typing", 15), ("users_online", 5), ("messages_around", 5)]


def _summary(data: bytes, start: int, end: int) -> dict:
    """The reply's `cmd` (and a new message's id) without decoding the whole packet: a
    users_online or messages_get reply is tens of KB, and 100 clients must not cost the load
    generator more than the server."""
    if end - start < 4096:
        return json.loads(data[start:end])
    k = data.find(b'"cmd":"', start, end) + 7
    out: dict[str, Any] = {"cmd": data[k:data.find(b'"', k, end)].decode()}
    if out["cmd"] == "messages_get":
        out["ids"] = [data[i + 6:i + 42].decode() for i in _find_all(data, b'"id":"', start, end)]
    return out


def _find_all(data: bytes, needle: bytes, start: int, end: int) -> list[int]:
    out = []
    i = data.find(needle, start, end)
    while i >= 0:
        out.append(i)
        i = data.find(needle, i + 1, end)
    return out


class SoakClient:
    def __init__(self, ws: WS, idx: int) -> None:
        self.ws = ws
        self.idx = idx
        self.tag = b',"listener":"q'
        self.waiting: asyncio.Future | None = None
        self.broadcasts = 0
        ws.framing(self.on_text)

    def on_text(self, data: bytes, start: int, end: int, now: int) -> None:
        if data.find(self.tag, max(start, end - 24), end) < 0:
            self.broadcasts += 1
            return
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(_summary(data, start, end))

    async def request(self, cmd: str, **fields: Any) -> dict:
        self.waiting = asyncio.get_running_loop().create_future()
        self.ws.send(cmd, listener="q", **fields)
        return await asyncio.wait_for(self.waiting, 30)


async def soak(args: Any) -> dict[str, Any]:
    n = args.clients
    srv = Server(argon2=CHEAP_ARGON2, heartbeat=30.0)  # the real heartbeat: clients answer its pings
    common.add_users(srv.data_dir, [f"u{i}" for i in range(n)], CHEAP_ARGON2)
    names, weights = zip(*MIX)
    with srv:
        clients, failures = await common.in_batches(
            [lambda i=i: common.connect_login(HOST, srv.port, f"u{i}") for i in range(n)], batch=50)
        if failures:
            raise RuntimeError(f"{failures} clients could not log in")
        await common.quiet(clients)
        sc = [SoakClient(ws, i) for i, ws in enumerate(clients)]
        lat: dict[str, list[int]] = {k: [] for k in names}
        acked: dict[str, int] = {}
        deleted: set[str] = set()
        errors: list[str] = []
        unanswered = 0
        deadline = time.monotonic() + args.secs

        async def run(c: SoakClient) -> None:
            nonlocal unanswered
            rng = random.Random(c.idx)
            mine: list[str] = []
            seq = 0
            due = time.monotonic()
            while True:
                # open loop: the next operation is due a random interval after the last one was
                # due, whatever the server's latency (one at a time per client: a late reply delays it)
                due += rng.expovariate(args.rate)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if time.monotonic() >= deadline:
                    return
                op = rng.choices(names, weights)[0]
                if op in ("message_edit", "message_delete", "messages_around") and not mine:
                    op = "message_new"
                t0 = time.monotonic_ns()
                try:
                    if op == "message_new":
                        seq += 1
                        r = await c.request("message_new", channel="general", content=f"soak {c.idx}.{seq} hello")
                        if r.get("cmd") == "message_new":
                            mine.append(r["message"]["id"])
                            acked[r["message"]["id"]] = c.idx
                    elif op == "message_edit":
                        r = await c.request("message_edit", channel="general", id=rng.choice(mine[-20:]),
                                            content=f"soak {c.idx} edited")
                    elif op == "message_delete":
                        mid = mine.pop(rng.randrange(len(mine)))
                        r = await c.request("message_delete", channel="general", id=mid)
                        if r.get("cmd") == "message_delete":
                            deleted.add(mid)
                    elif op == "messages_get":
                        r = await c.request("messages_get", channel="general", limit=50)
                    elif op == "messages_around":
                        r = await c.request("messages_around", channel="general", around=rng.choice(mine),
                                            bounds={"above": 10, "below": 10})
                    elif op == "typing":
                        r = await c.request("typing", channel="general")
                    else:
                        r = await c.request("users_online")
                except (asyncio.TimeoutError, TimeoutError):
                    unanswered += 1
                    continue
                lat[op].append(time.monotonic_ns() - t0)
                if r.get("cmd") != op:
                    errors.append(f"{op}: {r}")

        cpu0, ccpu0, t0 = srv.cpu(), self_cpu(), time.monotonic()
        await asyncio.gather(*(run(c) for c in sc))
        secs = time.monotonic() - t0
        cpu1, ccpu1 = srv.cpu(), self_cpu()
        dropped = sum(1 for c in clients if c.closed)
        # every acknowledged message that was not deleted can be read back
        reader = sc[0]
        stored: set[str] = set()
        start = 0
        while True:
            page = await reader.request("messages_get", channel="general", start=start, limit=200)
            got = page["ids"] if "ids" in page else [m["id"] for m in page["messages"]]
            stored.update(got)
            if len(got) < 200:
                break
            start += 200
        want = set(acked) - deleted
        unreadable = len(want - stored)
        for ws in clients:
            ws.close()
    everything = [x for v in lat.values() for x in v]
    served = len(everything)
    return {
        "scenario": "soak", "clients": n, "secs": round(secs, 1), "offered_per_s": round(n * args.rate, 1),
        "served_per_s": round(served / args.secs, 1), "ops": served,
        "p50_ms": common.ms(everything, .5), "p99_ms": common.ms(everything, .99),
        "per_op_p99_ms": {k: common.ms(v, .99) for k, v in lat.items()},
        "acked_messages": len(acked), "deleted": len(deleted), "unreadable": unreadable,
        "unanswered": unanswered, "error_replies": len(errors), "first_error": errors[0] if errors else None,
        "dropped": dropped + unanswered,
        "server_cpu_util": round((cpu1 - cpu0) / secs, 3), "client_cpu_util": round((ccpu1 - ccpu0) / secs, 3),
    }
