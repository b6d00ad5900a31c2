"""history: round-trip latency of message_new, messages_get, messages_around, message_edit and
message_delete with 0 / 10k / 100k / 1M messages stored in the channel.

Big histories are written straight into the SQLite file while the server is stopped: plain
`INSERT`s of 50,000 rows per transaction with `synchronous=OFF` (bench/common.py `add_messages`),
through the same schema, indexes and triggers the server uses, so the server sees exactly what it
would have written itself. The history grows from one size to the next in the same data directory.
At "0" the channel holds only the messages the `message_new` step itself posted (they are the
targets of around/edit/delete there). One client, one request at a time; targets of
around/edit/delete are spread at random over the whole history.
"""

from __future__ import annotations

import random
import sqlite3
from functools import partial
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server

HOST = "127.0.0.1"
_timed = partial(common.timed, timeout=30.0)  # a request of this bench answers well within 30 s


def _sample_ids(srv: Server, k: int) -> list[str]:
    from originchats.store.db import db_path

    con = sqlite3.connect(f"file:{db_path(srv.data_dir)}?mode=ro", uri=True)
    try:
        lo, hi = con.execute("SELECT MIN(seq), MAX(seq) FROM messages").fetchone()
        if lo is None:
            return []
        out: list[str] = []
        rng = random.Random(7)
        while len(out) < k:
            row = con.execute("SELECT id FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1",
                              (rng.randint(lo, hi),)).fetchone()
            if row is not None and row[0] not in out:
                out.append(row[0])
        return out
    finally:
        con.close()


async def history(args: Any) -> dict[str, Any]:
    srv = Server(argon2=CHEAP_ARGON2)
    common.add_users(srv.data_dir, ["u0"], CHEAP_ARGON2)
    ops: dict[str, dict[str, Any]] = {k: {} for k in
                                      ("message_new", "messages_get", "messages_around", "message_edit", "message_delete")}
    prefill: dict[str, float] = {}
    stored = 0
    reps = args.reps
    try:
        for size in sorted(args.sizes):
            if size > stored:
                prefill[str(size)] = round(common.add_messages(srv.data_dir, size - stored, "USR:local_u0"), 2)
                stored = size
            srv.start()
            ws = await common.connect_login(HOST, srv.port, "u0")
            lat: dict[str, list[int]] = {k: [] for k in ops}
            posted = []
            for i in range(reps):
                dt, pkt = await _timed(ws, "message_new", {"channel": "general", "content": f"history probe {i}"})
                lat["message_new"].append(dt)
                posted.append(pkt["message"]["id"])
            stored += reps
            targets = _sample_ids(srv, 3 * reps) if size else posted * 3
            random.Random(size).shuffle(targets)
            for i in range(reps):
                dt, _ = await _timed(ws, "messages_get", {"channel": "general", "limit": 100})
                lat["messages_get"].append(dt)
            for t in targets[:reps]:
                dt, _ = await _timed(ws, "messages_around", {"channel": "general", "around": t,
                                                             "bounds": {"above": 50, "below": 50}})
                lat["messages_around"].append(dt)
            for t in targets[reps:2 * reps]:
                dt, _ = await _timed(ws, "message_edit", {"channel": "general", "id": t, "content": "edited"})
                lat["message_edit"].append(dt)
            deleted = set()
            for t in targets[2 * reps:]:
                if t in deleted:
                    continue
                dt, _ = await _timed(ws, "message_delete", {"channel": "general", "id": t})
                lat["message_delete"].append(dt)
                deleted.add(t)
            stored -= len(deleted)
            ws.close()
            srv.stop()
            for k, v in lat.items():
                ops[k][str(size)] = {"p50_ms": common.ms(v, .5), "p99_ms": common.ms(v, .99), "n": len(v)}
    finally:
        srv.cleanup()
    sizes = [str(s) for s in sorted(args.sizes)]
    ratio = {k: (round(v[sizes[-1]]["p50_ms"] / v[sizes[0]]["p50_ms"], 2) if v[sizes[0]]["p50_ms"] else None)
             for k, v in ops.items()}
    return {"scenario": "history", "sizes": [int(s) for s in sizes], "reps": reps, "ops": ops,
            "ratio_largest_vs_empty": ratio, "prefill_secs": prefill,
            "how": "rows INSERTed straight into the stopped server's SQLite file, 50k per transaction"}
