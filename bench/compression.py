"""compression: what permessage-deflate costs and saves (issue 11 part 5; server/deflate.py).

Two parts, each measured with and without compression in the same sitting:

* chat fan-out (bench/fanout.py at N receivers): `plain` (the clients do not offer the extension),
  `offered` (every client offers it, as browsers do; the default threshold leaves chat frames
  plain) and `all` (`[compression] threshold_bytes = 0`: every frame compressed, once per
  broadcast). Server CPU per delivery and bytes on the wire per delivery; ratios against `plain`.
  The counting receivers walk the frames in every variant (bench/wsclient.py `walk`), so the load
  generator costs the same with or without compression: the server's CPU per delivery depends on
  how fast the clients read (how many frames one write carries), and a cheaper client for one
  variant would flatter it.
* `messages_get` pages: `--pages` requests of 100 messages each, by `--readers` clients one at a
  time each, from a channel of `--stored` messages of varied text (random words, 20-300
  characters). Server CPU per page and bytes per page, `plain` vs `offered`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from typing import Any

from . import common
from .fanout import fanout
from .server import CHEAP_ARGON2, Server

HOST = "127.0.0.1"
WORDS = ("the quick brown fox jumps over lazy dog hello world server message channel thread reply "
         "image link today tomorrow yes no maybe thanks please sorry great cool lol ok sure when where "
         "why how what who meeting later build release bug fix test deploy coffee lunch weekend").split()


def _add_varied_messages(data_dir: Any, count: int, user_id: str) -> None:
    from originchats.store.search_index import index_all

    rng = random.Random(11)
    con = common.open_store(data_dir)
    try:
        cid = common.general_channel_id(con)
        base = time.time() - count
        rows = []
        for i in range(count):
            words, size = [], rng.randint(20, 300)
            while sum(len(w) + 1 for w in words) < size:
                words.append(rng.choice(WORDS))
            rows.append((str(uuid.uuid4()), cid, user_id, " ".join(words), base + i))
        con.execute("BEGIN")
        con.executemany("INSERT INTO messages(id, channel_id, thread_id, user_id, content, timestamp, edited, pinned)"
                        " VALUES (?, ?, NULL, ?, ?, ?, 0, 0)", rows)
        con.execute("COMMIT")
        index_all(con)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


async def _pages(args: Any, deflate: bool) -> dict[str, Any]:
    srv = Server(argon2=CHEAP_ARGON2)
    names = [f"r{i}" for i in range(args.readers)]
    common.add_users(srv.data_dir, names, CHEAP_ARGON2)
    _add_varied_messages(srv.data_dir, args.stored, "USR:local_r0")
    with srv:
        clients = [await common.connect_login(HOST, srv.port, name, deflate=deflate) for name in names]
        await common.quiet(clients)
        per = max(1, args.pages // len(clients))

        async def read(ws: Any) -> None:
            for _ in range(per):
                await common.timed(ws, "messages_get", {"channel": "general", "limit": 100})

        bytes0 = sum(ws.bytes_in for ws in clients)
        cpu0, t0 = srv.cpu(), time.monotonic()
        await asyncio.gather(*(read(ws) for ws in clients))
        cpu1, t1 = srv.cpu(), time.monotonic()
        pages = per * len(clients)
        wire = sum(ws.bytes_in for ws in clients) - bytes0
        for ws in clients:
            ws.close()
    return {"pages": pages, "secs": round(t1 - t0, 3), "server_us_per_page": round((cpu1 - cpu0) * 1e6 / pages, 1),
            "wire_bytes_per_page": round(wire / pages), "deflated": sum(ws.deflated for ws in clients)}


async def compression(args: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": "compression", "n": args.n}
    chat: dict[str, Any] = {}
    base = {"n": args.n, "senders": args.senders, "messages": args.messages, "window": args.window,
            "one_at_a_time": args.one_at_a_time, "users": args.users, "pad": args.pad}
    for name, deflate, threshold in (("plain", False, None), ("offered", True, None), ("all", True, 0)):
        a = argparse.Namespace(**base, deflate=deflate, threshold=threshold, metrics=False, walk=True)
        r = await fanout(a)
        chat[name] = {k: r[k] for k in ("server_us_per_delivery", "wire_bytes_per_delivery", "deliveries_per_s",
                                        "receivers_deflated", "loss", "timed_out")}
    for name in ("offered", "all"):
        chat[name]["cpu_ratio"] = round(chat[name]["server_us_per_delivery"] / chat["plain"]["server_us_per_delivery"], 3)
        chat[name]["bytes_ratio"] = round(chat[name]["wire_bytes_per_delivery"] / chat["plain"]["wire_bytes_per_delivery"], 3)
    out["chat"] = chat
    pages = {"plain": await _pages(args, False), "offered": await _pages(args, True)}
    pages["offered"]["cpu_ratio"] = round(pages["offered"]["server_us_per_page"] / pages["plain"]["server_us_per_page"], 3)
    pages["offered"]["bytes_ratio"] = round(pages["offered"]["wire_bytes_per_page"] / pages["plain"]["wire_bytes_per_page"], 3)
    out["pages"] = pages
    return out
