"""messages_around's absolute indices come from per-block counts kept by triggers (migration 0002),
not from counting the whole history: they must equal the brute-force position, across block
boundaries, after deletes, and for histories written straight into the database file."""

import sqlite3
import uuid

import trio

from originchats.store import grams
from originchats.store.db import db_path
from tests.client import MemoryListener


async def restart_with(server, change) -> None:  # type: ignore[no-untyped-def]
    await server.shutdown()
    await trio.to_thread.run_sync(change)
    server.listener = MemoryListener()
    server.stop = trio.Event()
    server.stopped = trio.Event()
    await server.start()


def brute_index(path, message_id: str) -> int:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(path)
    try:
        seq, cid = con.execute("SELECT seq, channel_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        return con.execute("SELECT COUNT(*) FROM messages WHERE channel_id = ? AND thread_id IS NULL AND seq < ?",
                           (cid, seq)).fetchone()[0]
    finally:
        con.close()


async def test_around_indices_match_the_real_positions(server):
    alice = await server.user("alice")
    await alice.send("message_new", channel="general", content="first", listener="a")
    first = (await alice.expect("message_new", listener="a"))["message"]["id"]
    path = db_path(server.config.storage.data_dir)
    ids: list[str] = []

    def bulk() -> None:
        con = sqlite3.connect(path)
        grams.register(con)  # the search index's triggers call it (store/db.py registers it on the store's own)
        cid = con.execute("SELECT id FROM channels WHERE name = 'general'").fetchone()[0]
        rows = []
        for i in range(9000):
            ids.append(str(uuid.uuid4()))
            rows.append((ids[-1], cid, "USR:local_alice", f"bulk {i}", 1.0 + i))
        with con:
            con.executemany("INSERT INTO messages(id, channel_id, user_id, content, timestamp) VALUES (?,?,?,?,?)", rows)
            # holes in the first and second block, and a whole stretch gone
            con.executemany("DELETE FROM messages WHERE id = ?", [(ids[i],) for i in (5, 77, 4100, *range(6000, 6500))])
        con.close()

    await restart_with(server, bulk)
    alice = await server.user("alice")
    await alice.send("message_delete", channel="general", id=ids[3000], listener="d")
    await alice.expect("message_delete", listener="d")
    for target in (first, ids[0], ids[4094], ids[4095], ids[4200], ids[6500], ids[8999]):
        await alice.send("messages_around", channel="general", around=target, bounds={"above": 2, "below": 3},
                         listener="r")
        got = await alice.expect("messages_around", listener="r")
        position = brute_index(path, target)
        older = min(3, position)
        assert got["range"] == {"start": position - older, "end": position - older + len(got["messages"])}
        assert got["messages"][older]["id"] == target
