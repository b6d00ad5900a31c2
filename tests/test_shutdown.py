"""Graceful shutdown: SIGTERM/SIGINT close every WebSocket with 1001, the process exits 0 within
5 s, and the writes already handed to the writer are committed (the writer drains last)."""

from __future__ import annotations

import signal
import sqlite3

import pytest
import trio

from originchats.core import dispatch
from originchats.core.effects import Persist
from originchats.core.writes import MessageCreated
from originchats.store import writer as writer_mod
from originchats.store.db import db_path
from tests.test_durability import ServerProcess, burst, record_broadcasts


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_clients_1001_commits_and_exits_0(tmp_path, sig):
    seen: set[str] = set()
    sent = [0]
    async with ServerProcess(tmp_path) as srv:
        async with trio.open_nursery() as nursery:
            anon = await srv.connect(nursery)
            writers = [await srv.user(nursery, f"w{i}") for i in range(3)]
            for c in writers:
                await c.drain()
            enough = trio.Event()
            for i, c in enumerate(writers):
                nursery.start_soon(record_broadcasts, c, seen, enough, 50)
                nursery.start_soon(burst, c, f"w{i}", sent)
            with trio.fail_after(20):
                await enough.wait()
            srv.signal(sig)  # while messages are still being read and committed
            start = trio.current_time()
            assert await srv.wait_exit(5) == 0
            assert trio.current_time() - start < 5
            with trio.fail_after(5):
                for c in [anon, *writers]:
                    assert await c.wait_closed() == 1001
        events = [e["event"] for e in srv.events()]
        assert "shutdown_started" in events and events[-1] == "server_stopped"
        assert "Traceback" not in srv.stderr()
        stored = srv.stored_message_ids()
    assert seen <= stored
    assert len(stored) >= len(seen) >= 50
    # nothing is stored that was not sent; all of it may be (a fast writer commits what it read
    # before the signal), so `<` would only measure the writer's speed. A burst counts a message
    # after its send returns, so each of the 3 writers may have one more out than it counted.
    assert len(stored) <= sent[0] + len(writers)


async def test_in_process_shutdown_drains_the_writer(server, monkeypatch):
    """Every message whose handler ran (its write handed to the writer) is in the database after
    `shutdown()`, even when commits are slow and many are still queued when it starts."""
    handled: list[str] = []
    original = dispatch.HANDLERS["message_new"]

    def recording(state, ctx, req):  # type: ignore[no-untyped-def]
        step = original(state, ctx, req)
        for effect in step.effects:
            if isinstance(effect, Persist):
                handled.extend(w.message.id for w in effect.writes if isinstance(w, MessageCreated))
        return step

    monkeypatch.setitem(dispatch.HANDLERS, "message_new", recording)
    slow_apply = writer_mod._apply_batch

    def slow(con, batch, *rest):  # type: ignore[no-untyped-def]
        import time

        time.sleep(0.02)  # a slow disk: commits fall behind (a worker thread, not the event loop)
        slow_apply(con, batch, *rest)

    monkeypatch.setattr(writer_mod, "_apply_batch", slow)
    alice = await server.user("alice")
    for i in range(200):
        await alice.send("message_new", channel="general", content=f"m{i}")
    with trio.fail_after(10):
        while len(handled) < 100:  # well into the burst; most of it is not committed yet
            await trio.sleep(0.005)
    await server.shutdown()
    assert await alice.wait_closed() == 1001
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    try:
        stored = {row[0] for row in con.execute("SELECT id FROM messages")}
    finally:
        con.close()
    assert len(handled) >= 100
    assert set(handled) <= stored
