"""Unread state through the real protocol (extended/unreads_pings.md): unreads_get, unreads_count,
unreads_ack, the `unreads_update` pushes and messages_get's auto-acknowledge, with each "Flaw in the
original" fixed (docs/compatibility.md, "Unreads and pings"), and the unread state following
deletions and restarts. Pings are in tests/test_pings.py.

The seeded world (tests/msgworld.py) plus 250 messages by alice in `history` (h0 … h249) and a
thread `t1` of three messages in the forum `ideas`, which alice has read up to its first message.
"""

from __future__ import annotations

from typing import Any

import pytest

from originchats.core import writes as w
from tests.client import Client, until_reply
from tests.msgworld import LOCAL, channel_id, msg, post, stored_rows, world_config

HISTORY = 250


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    history = [msg(f"h{i}", channel_id("history"), LOCAL + "alice", f"m{i}", 1000.0 + i) for i in range(HISTORY)]
    thread = [msg(f"t1-{i}", channel_id("ideas"), LOCAL + "bob", f"t{i}", 2000.0 + i, thread_id="t1")
              for i in range(3)]
    mark = w.ReadMarked(LOCAL + "alice", channel_id("ideas"), "t1", "t1-0")
    return world_config(tmp_path, [*history, *thread, mark])


async def members(server: Any, *names: str) -> list[Client]:
    """Logged-in members whose clients show `unreads_update` pushes in line."""
    clients = [await server.user(n, unreads=True) for n in names]
    for c in clients:
        await c.drain()
    return clients


async def ask(client: Client, cmd: str, **fields: Any) -> tuple[list[dict], dict]:
    """(packets before the reply, the reply)."""
    await client.send(cmd, listener="q", **fields)
    return await until_reply(client, "q")


async def unreads(client: Client) -> dict[str, Any]:
    before, reply = await ask(client, "unreads_get")
    assert before == [] and reply["cmd"] == "unreads_get", reply
    return reply["unreads"]


async def count(client: Client, **fields: Any) -> dict[str, Any]:
    _, reply = await ask(client, "unreads_count", **fields)
    return reply


def entry(last_read: str | None, unread: int, total: int, **more: Any) -> dict[str, Any]:
    return {"last_read": last_read, "unread_count": unread, "total_messages": total, **more}


# ---- unreads_get ------------------------------------------------------------------------------


async def test_unreads_get_lists_each_readable_text_channel_with_exact_counts(server):
    alice, adam = await members(server, "alice", "adam")
    got = await unreads(alice)
    # text channels alice may view; no staff/dropbox (hidden), no voice/forum/separator entries
    assert set(got) == {"general", "news", "quiet", "readonly", "pets", "history", "thread/t1"}
    assert got["history"] == entry(None, HISTORY, HISTORY)
    assert got["news"] == entry(None, 1, 1) and got["general"] == entry(None, 0, 0)
    assert "staff" in await unreads(adam) and "staff" not in got


async def test_counts_are_exact_beyond_200_and_mean_the_same_everywhere(server):
    """Flaw 2: the original counted over the newest 200 messages only, in unreads_count even the
    total, so a mark older than that showed 200 unread and unreads_count said 200 messages."""
    (alice,) = await members(server, "alice")
    _, ack = await ask(alice, "unreads_ack", channel="history", message_id="h9")
    assert ack == {"cmd": "unreads_ack", "channel": "history", "last_read": "h9", "listener": "q"}
    assert (await unreads(alice))["history"] == entry("h9", 240, HISTORY)
    assert await count(alice, channel="history") == {
        "cmd": "unreads_count", "channel": "history", "unread_count": 240, "last_read": "h9",
        "total_messages": HISTORY, "listener": "q"}


async def test_thread_unreads_are_listed_under_their_forum(server):
    """Flaw 1: the original never returned thread entries (it looked for threads under text
    channels only). A thread is listed once the member has a read mark in it."""
    alice, bob = await members(server, "alice", "bob")
    assert (await unreads(alice))["thread/t1"] == entry("t1-0", 2, 3, parent_channel="ideas")
    assert not any(key.startswith("thread/") for key in await unreads(bob))


# ---- messages_get's auto-acknowledge ----------------------------------------------------------


async def test_reading_the_newest_page_marks_the_channel_read_on_every_socket_of_the_reader(server):
    alice, bob = await members(server, "alice", "bob")
    phone = await server.user("alice", unreads=True)
    before, page = await ask(alice, "messages_get", channel="history", limit=5)
    update = {"cmd": "unreads_update", "last_read": f"h{HISTORY - 1}", "channel": "history"}
    assert before == [update] and page["cmd"] == "messages_get"  # the push comes before the reply
    assert await phone.recv() == update
    await bob.assert_silent()
    assert await count(alice, channel="history") == {
        "cmd": "unreads_count", "channel": "history", "unread_count": 0, "last_read": f"h{HISTORY - 1}",
        "total_messages": HISTORY, "listener": "q"}
    # already read: nothing to store, nothing to push
    before, _ = await ask(alice, "messages_get", channel="history")
    assert before == []
    await phone.assert_silent()
    # a new message, read: pushed again
    new = await post(bob, "history", "news")
    await alice.expect("message_new")
    await phone.expect("message_new")
    before, _ = await ask(alice, "messages_get", channel="history")
    assert before == [{"cmd": "unreads_update", "last_read": new["id"], "channel": "history"}]


async def test_paging_back_through_history_is_not_reading_the_newest(server):
    """Flaw 3: the original marked the newest message read on every messages_get, also while the
    client scrolled back through old pages (and rewrote its whole unreads file each time)."""
    (alice,) = await members(server, "alice")
    await ask(alice, "unreads_ack", channel="history", message_id="h100")
    before, page = await ask(alice, "messages_get", channel="history", start=100, limit=50)
    assert before == [] and [m["id"] for m in page["messages"]][-1] == "h149"
    assert (await count(alice, channel="history"))["last_read"] == "h100"
    # the newest page moves the mark forward...
    await ask(alice, "messages_get", channel="history", limit=1)
    assert (await count(alice, channel="history"))["last_read"] == f"h{HISTORY - 1}"
    # ...and an explicit acknowledgement may move it back ("mark unread from here")
    await ask(alice, "unreads_ack", channel="history", message_id="h200")
    assert (await count(alice, channel="history"))["unread_count"] == HISTORY - 201
    # but reading the newest page never does (the mark only moves forward)
    await post(alice, "history", "x")
    await ask(alice, "unreads_ack", channel="history")  # to the newest
    before, _ = await ask(alice, "messages_get", channel="history", limit=3)
    assert before == []


async def test_an_empty_page_or_an_empty_channel_marks_nothing(server):
    (alice,) = await members(server, "alice")
    for fields in ({"channel": "general"}, {"channel": "history", "limit": -1}, {"channel": "history", "start": 400}):
        before, _ = await ask(alice, "messages_get", **fields)
        assert before == []
    assert (await unreads(alice))["history"]["last_read"] is None


# ---- unreads_ack ------------------------------------------------------------------------------


async def test_unreads_ack_marks_read_and_tells_every_socket_of_the_reader(server):
    alice, bob = await members(server, "alice", "bob")
    phone = await server.user("alice", unreads=True)
    before, reply = await ask(alice, "unreads_ack", channel="history")  # default: the newest
    update = {"cmd": "unreads_update", "last_read": f"h{HISTORY - 1}", "channel": "history"}
    assert before == [update]
    assert reply == {"cmd": "unreads_ack", "channel": "history", "last_read": f"h{HISTORY - 1}", "listener": "q"}
    assert await phone.recv() == update
    await bob.assert_silent()
    # an empty channel: nothing to mark, nothing stored or pushed
    before, reply = await ask(alice, "unreads_ack", channel="general")
    assert before == [] and reply == {"cmd": "unreads_ack", "channel": "general", "last_read": None, "listener": "q"}
    await phone.assert_silent()
    assert (await unreads(alice))["general"] == entry(None, 0, 0)


async def test_unreads_ack_needs_a_readable_channel_and_a_message_that_is_there(server):
    """Flaw 4: the original stored any string as the mark (the channel then counted as wholly
    unread) and needed only that the channel exist, seen or not. A channel without messages of its
    own (voice, forum) can still be acknowledged, to nothing, as before (the official client's
    "Mark as Read" offers it for every channel)."""
    alice, nora = await members(server, "alice", "nora")
    elsewhere = await post(alice, "general", "in general")
    steps = [  # (client, fields, text, has src)
        (alice, {}, "Channel or thread_id is required", True),
        (alice, {"channel": ""}, "Channel or thread_id is required", True),
        (nora, {"channel": "history"}, "User roles not found", True),
        (alice, {"thread_id": "t1"}, "Thread not found", True),
        (alice, {"channel": "nope"}, "Channel not found", True),
        (alice, {"channel": "staff"}, "Access denied to this channel", False),
        (alice, {"channel": "blank"}, "Access denied to this channel", False),
        (alice, {"channel": "history", "message_id": "nope"}, "Message not found", True),
        (alice, {"channel": "lobby", "message_id": "h1"}, "Message not found", True),
        (alice, {"channel": "history", "message_id": elsewhere["id"]}, "Message not found", True),
        (alice, {"channel": "history", "message_id": 5}, "Invalid field 'message_id': expected string, got number",
         True),
    ]
    for client, fields, text, has_src in steps:
        await client.send("unreads_ack", listener="x", **fields)
        await client.expect_error(text, src="unreads_ack" if has_src else None, listener="x")
    await alice.assert_silent()
    assert (await unreads(alice))["history"] == entry(None, HISTORY, HISTORY)
    for name in ("lobby", "ideas"):
        before, reply = await ask(alice, "unreads_ack", channel=name)
        assert before == [] and reply == {"cmd": "unreads_ack", "channel": name, "last_read": None, "listener": "q"}


async def test_unreads_count_errors_in_documented_order(server):
    alice, nora = await members(server, "alice", "nora")
    steps = [
        (alice, {}, "Channel or thread_id is required", True),
        (nora, {"channel": "history"}, "User roles not found", True),
        (alice, {"thread_id": "t1", "channel": "history"}, "Thread not found", True),
        (alice, {"channel": "nope"}, "Access denied to this channel", False),
        (alice, {"channel": "staff"}, "Access denied to this channel", False),
        (alice, {"channel": "ideas"}, "Access denied to this channel", False),
    ]
    for client, fields, text, has_src in steps:
        await client.send("unreads_count", listener="x", **fields)
        await client.expect_error(text, src="unreads_count" if has_src else None, listener="x")
    await nora.send("unreads_get", listener="x")
    await nora.expect_error("User roles not found", src="unreads_get", listener="x")


# ---- deletion and restart ---------------------------------------------------------------------


async def test_deleting_the_read_message_keeps_the_count_and_the_mark_survives_a_restart(server):
    alice, adam = await members(server, "alice", "adam")
    await ask(alice, "unreads_ack", channel="history", message_id="h200")
    await ask(adam, "message_delete", channel="history", id="h200")
    await alice.expect("message_delete")
    # the mark moves back to the message before; the 49 newer messages are still unread
    assert await count(alice, channel="history") == {
        "cmd": "unreads_count", "channel": "history", "unread_count": 49, "last_read": "h199",
        "total_messages": HISTORY - 1, "listener": "q"}
    await ask(adam, "message_delete", channel="history", id="h240")
    await alice.expect("message_delete")
    assert (await count(alice, channel="history"))["unread_count"] == 48
    await server.restart()
    (alice,) = await members(server, "alice")
    assert (await unreads(alice))["history"] == entry("h199", 48, HISTORY - 2)


async def test_deleting_every_message_before_the_mark_removes_it(server):
    alice, adam = await members(server, "alice", "adam")
    await ask(alice, "unreads_ack", channel="history", message_id="h0")
    await ask(adam, "message_delete", channel="history", id="h0")
    await alice.expect("message_delete")
    assert (await unreads(alice))["history"] == entry(None, HISTORY - 1, HISTORY - 1)


async def test_deleting_a_channel_removes_its_unread_state_in_the_same_transaction(server):
    """Flaw 8: the original never removed the markers of deleted channels (nor of deleted users)."""
    (alice,) = await members(server, "alice")
    boss = await server.owner("boss", unreads=True)
    await ask(alice, "unreads_ack", channel="history", message_id="h3")
    await ask(boss, "channel_delete", name="history")
    key = (channel_id("history"),)
    for query in ("SELECT COUNT(*) FROM read_marks WHERE channel_id = ?",
                  "SELECT COUNT(*) FROM message_totals WHERE channel_id = ?"):
        assert stored_rows(server.config, query, key) == [(0,)]
    # a new channel under the old name starts empty
    await ask(boss, "channel_create", name="history", type="text", permissions={"view": ["user"], "send": ["user"]})
    await server.restart()
    (alice,) = await members(server, "alice")
    assert (await unreads(alice))["history"] == entry(None, 0, 0)


async def test_deleting_an_account_removes_its_unread_state(server):
    alice, bob = await members(server, "alice", "bob")
    boss = await server.owner("boss", unreads=True)
    await ask(bob, "unreads_ack", channel="history", message_id="h3")
    await ask(alice, "unreads_ack", channel="history", message_id="h3")
    await ask(boss, "user_delete", user=LOCAL + "bob")
    rows = stored_rows(server.config, "SELECT user_id FROM read_marks ORDER BY user_id")
    assert rows == [(LOCAL + "alice",), (LOCAL + "alice",)]  # history, and the seeded thread mark


async def test_a_failed_auto_acknowledge_still_answers_the_page(server):
    from tests.test_failed_commits import _fail_all, _heal, _on_writer

    (alice,) = await members(server, "alice")
    await _on_writer(server, _fail_all)
    before, page = await ask(alice, "messages_get", channel="history", limit=2)
    await _on_writer(server, _heal)
    assert before == [] and [m["id"] for m in page["messages"]] == [f"h{HISTORY - 2}", f"h{HISTORY - 1}"]
    assert (await unreads(alice))["history"]["last_read"] is None


def test_the_auto_acknowledge_never_moves_a_mark_back_even_after_losing_a_race(tmp_path):
    """messages_get checks that its page would move the mark forward, then writes; an explicit
    acknowledgement of a newer message may commit in between. The write itself keeps the newer
    mark; an explicit acknowledgement may still move it back."""
    import sqlite3

    from originchats.core.model import Message
    from originchats.store import sql
    from originchats.store.migrate import apply_migrations

    con = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    apply_migrations(con)
    for i in range(3):
        sql.apply_write(con, w.MessageCreated(Message(id=f"m{i}", channel_id="c", user_id="u", content="x",
                                                      timestamp=float(i))))

    def mark() -> list[tuple]:
        return con.execute("SELECT message_id FROM read_marks WHERE user_id = 'u'").fetchall()

    sql.apply_write(con, w.ReadMarked("u", "c", None, "m2"))
    sql.apply_write(con, w.ReadMarked("u", "c", None, "m1", forward_only=True))
    assert mark() == [("m2",)]
    sql.apply_write(con, w.ReadMarked("u", "c", None, "m0"))
    assert mark() == [("m0",)]
    sql.apply_write(con, w.ReadMarked("u", "c", None, "m1", forward_only=True))
    assert mark() == [("m1",)]
    sql.apply_write(con, w.ReadMarked("u", "c", None, "gone"))  # a message that is not there: nothing stored
    assert mark() == [("m1",)]


def test_deleting_a_threads_messages_removes_its_marks_and_pings(tmp_path):
    """Flaw 8 for threads (thread deletion arrives with the threads work; it deletes the thread's
    messages, and these triggers do the rest in the same statement)."""
    import sqlite3

    from originchats.core.model import Message
    from originchats.store import sql
    from originchats.store.migrate import apply_migrations

    con = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    apply_migrations(con)
    for i in range(3):
        m = Message(id=f"t{i}", channel_id="forum", thread_id="t", user_id="u", content="x", timestamp=float(i))
        sql.apply_write(con, w.MessageCreated(m, ("u:bob",)))
    sql.apply_write(con, w.ReadMarked("bob", "forum", "t", "t2"))
    con.execute("DELETE FROM messages WHERE thread_id = 't'")
    for table in ("read_marks", "pings"):
        assert con.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,)
    assert con.execute("SELECT COUNT(*) FROM ping_counts WHERE n != 0").fetchone() == (0,)
    assert con.execute("SELECT n FROM message_totals WHERE thread_key = 't'").fetchall() == [(0,)]
