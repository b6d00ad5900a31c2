"""Message commands inside threads (`thread_id`, extended/threads.md "Messages inside threads"):
message_new, message_edit, message_delete, reactions, messages_get, messages_around, message_get
and typing; locked and archived threads; the thread's newest message."""

from __future__ import annotations

import pytest

from tests.msgworld import LOCAL, online, stored_rows
from tests.threadworld import FORUM, SEEDED, SEEDED_COUNT, ask, new_thread, post_in, thread_config


@pytest.fixture
def config(tmp_path):
    return thread_config(tmp_path)


async def setup(server, *names):
    """The named members online (alice first), a thread by alice, everyone drained."""
    clients = await online(server, *names)
    thread = await new_thread(clients[0])
    for c in clients:
        await c.drain()
    return clients, thread["id"]


# ---- message_new ------------------------------------------------------------------------------


async def test_message_new_in_a_thread_goes_to_the_forums_viewers(server):
    (alice, bob, mia), tid = await setup(server, "alice", "bob", "mia")
    await alice.send("message_new", thread_id=tid, content=" hi ", listener="N")
    reply = await alice.expect("message_new")
    m = reply["message"]
    assert reply == {"cmd": "message_new", "message": m, "channel": FORUM, "thread_id": tid, "global": True,
                     "listener": "N"}
    assert m["content"] == "hi" and m["user"] == LOCAL + "alice"
    assert await bob.recv() == {k: v for k, v in reply.items() if k != "listener"}
    await mia.assert_silent()
    # stored in the thread, not in the forum or any channel
    assert stored_rows(server.config, "SELECT thread_id FROM messages WHERE id = ?", (m["id"],)) == [(tid,)]
    thread = (await ask(bob, "thread_get", thread_id=tid))["thread"]
    assert (thread["last_message"], thread["last_message_id"]) == (m["timestamp"], m["id"])


async def test_a_channel_sent_with_thread_id_does_not_redirect_the_broadcast(server):
    """The original broadcast a thread message to the viewers of whatever `channel` the request also
    named; the thread's parent decides here."""
    (alice, bob, mia), tid = await setup(server, "alice", "bob", "mia")
    reply = await ask(alice, "message_new", thread_id=tid, channel="general", content="secret")
    assert reply["channel"] == FORUM and reply["thread_id"] == tid
    await bob.expect("message_new", channel=FORUM)
    await mia.assert_silent()  # mia sees general, not the forum


async def test_message_new_thread_errors(server):
    (alice, mia, adam), tid = await setup(server, "alice", "mia", "adam")
    await mia.send("message_new", thread_id=tid, content="x")
    await mia.expect_error("You do not have permission to send messages in this thread", src="message_new")
    await alice.send("message_new", thread_id="nope", channel="general", content="x")
    await alice.expect_error("Thread not found", src="message_new")
    await alice.send("message_new", channel=FORUM, content="x")  # the forum itself has no history
    await alice.expect_error("Cannot send messages in this channel type", src="message_new")
    await alice.send("message_new", thread_id=tid, content="x", reply_to="h1")  # a message of another channel
    await alice.expect_error("The message you're trying to reply to was not found", src="message_new")
    await ask(adam, "thread_update", thread_id=tid, locked=True)
    await alice.drain()
    await alice.send("message_new", thread_id=tid, content="x")
    await alice.expect_error("This thread is locked", src="message_new")
    assert stored_rows(server.config, "SELECT COUNT(*) FROM messages WHERE thread_id = ?", (tid,)) == [(0,)]


async def test_replies_inside_a_thread(server):
    (alice, bob), tid = await setup(server, "alice", "bob")
    first = await post_in(alice, tid, "question")
    await alice.drain()
    m = await post_in(bob, tid, "answer", reply_to=first["id"])
    assert m["reply_to"] == {"id": first["id"], "user": LOCAL + "alice"}
    assert m["pings"]["replies"] == [LOCAL + "alice"]


# ---- archived and locked ----------------------------------------------------------------------


async def test_a_new_message_revives_an_archived_thread_and_says_so(server):
    """Flaw 4: the original un-archived silently."""
    (alice, bob, mia), tid = await setup(server, "alice", "bob", "mia")
    await ask(alice, "thread_update", thread_id=tid, archived=True)
    await bob.drain()
    await bob.send("message_new", thread_id=tid, content="back", listener="B")
    update = await bob.expect("thread_update")
    assert update["thread"]["archived"] is False and "listener" not in update
    reply = await bob.expect("message_new", listener="B")
    assert update["thread"]["last_message_id"] == reply["message"]["id"]
    assert await alice.recv() == update
    await alice.expect("message_new")
    await mia.assert_silent()
    await server.restart()
    (alice,) = await online(server, "alice")
    assert (await ask(alice, "thread_get", thread_id=tid))["thread"]["archived"] is False


async def test_locked_and_archived_threads_can_be_read_and_cleaned_up(server):
    """Flaw 5: the original refused messages_get and every change (deletions by moderators too)."""
    (alice, bob, adam), tid = await setup(server, "alice", "bob", "adam")
    mine = await post_in(bob, tid, "one")
    other = await post_in(alice, tid, "two")
    await adam.drain()
    for flags, refusal in (({"locked": True}, "This thread is locked"),
                           ({"locked": False, "archived": True}, "This thread is archived")):
        await ask(adam, "thread_update", thread_id=tid, **flags)
        await bob.drain()
        # reads work
        page = await ask(bob, "messages_get", thread_id=tid)
        assert [m["id"] for m in page["messages"]] == [mine["id"], other["id"]]
        assert (await ask(bob, "message_get", thread_id=tid, id=mine["id"]))["cmd"] == "message_get"
        assert (await ask(bob, "messages_around", thread_id=tid, around=mine["id"]))["cmd"] == "messages_around"
        assert (await ask(bob, "thread_messages", thread_id=tid))["cmd"] == "thread_messages"
        # edits and reactions do not
        for cmd, fields in (("message_edit", {"id": mine["id"], "content": "x"}),
                            ("message_react_add", {"id": mine["id"], "emoji": "👍"})):
            await bob.send(cmd, thread_id=tid, **fields)
            await bob.expect_error(refusal, src=cmd)
    # deletions do: one's own, and a moderator's of others' messages
    assert (await ask(bob, "message_delete", thread_id=tid, id=mine["id"]))["cmd"] == "message_delete"
    assert (await ask(adam, "message_delete", thread_id=tid, id=other["id"]))["cmd"] == "message_delete"
    assert (await ask(bob, "messages_get", thread_id=tid))["messages"] == []


# ---- edit, delete, reactions, reads: packet shapes ----------------------------------------------


async def test_edit_delete_and_reactions_carry_the_thread(server):
    (alice, bob, mia), tid = await setup(server, "alice", "bob", "mia")
    m = await post_in(alice, tid, "first")
    await bob.drain()
    reply = await ask(alice, "message_edit", thread_id=tid, id=m["id"], content="second")
    assert list(reply) == ["cmd", "id", "content", "message", "channel", "thread_id", "global", "listener"]
    assert (reply["channel"], reply["thread_id"], reply["message"]["edited"]) == (FORUM, tid, True)
    await bob.expect("message_edit", thread_id=tid)
    reply = await ask(bob, "message_react_add", thread_id=tid, id=m["id"], emoji="👍")
    assert reply == {"cmd": "message_react_add", "id": m["id"], "emoji": "👍", "channel": FORUM, "thread_id": tid,
                     "from": LOCAL + "bob", "global": True, "listener": "ask"}
    assert list(reply) == ["cmd", "id", "emoji", "channel", "thread_id", "from", "global", "listener"]
    reply = await ask(bob, "message_react_remove", thread_id=tid, id=m["id"], emoji="👍")
    assert reply["thread_id"] == tid and reply["cmd"] == "message_react_remove"
    await alice.drain()
    reply = await ask(alice, "message_delete", thread_id=tid, id=m["id"])
    assert reply == {"cmd": "message_delete", "id": m["id"], "channel": FORUM, "thread_id": tid, "global": True,
                     "listener": "ask"}
    await bob.expect("message_delete", thread_id=tid)
    await mia.assert_silent()
    # the audit entry names the thread
    assert stored_rows(server.config, "SELECT details FROM audit_log WHERE target = ?", (m["id"],)) == [
        (f'{{"channel":"{FORUM}","thread_id":"{tid}"}}',)]


async def test_message_errors_inside_threads(server):
    (alice, bob, mia), tid = await setup(server, "alice", "bob", "mia")
    m = await post_in(alice, tid, "mine")
    await bob.drain()
    steps = [
        (mia, "message_edit", {"id": m["id"], "content": "x"}, "You do not have permission to view this thread"),
        (mia, "message_delete", {"id": m["id"]}, "You do not have permission to view this thread"),
        (mia, "messages_get", {}, "You do not have permission to view this thread"),
        (mia, "message_react_add", {"id": m["id"], "emoji": "x"}, "You do not have permission to view this thread"),
        (bob, "message_edit", {"id": m["id"], "content": "x"}, "You do not have permission to edit this message"),
        (bob, "message_delete", {"id": m["id"]}, "You do not have permission to delete this message"),
        (bob, "message_edit", {"id": "h1", "content": "x"}, "Message not found or cannot be edited"),
        (bob, "message_get", {"id": "h1"}, "Message not found"),
        (bob, "messages_around", {"around": "h1"}, "Message not found"),
        (bob, "message_react_add", {"id": "h1", "emoji": "x"}, "Message not found"),
        (bob, "message_react_remove", {"id": m["id"], "emoji": "x"}, "Failed to remove reaction"),
        (bob, "message_get", {"id": m["id"], "thread_id": SEEDED}, "Message not found"),  # another thread's
    ]
    for client, cmd, fields, text in steps:
        await client.send(cmd, listener="x", **{"thread_id": tid, **fields})
        await client.expect_error(text, src=cmd, listener="x")


async def test_reads_inside_a_thread(server):
    (alice,) = await online(server, "alice")
    page = await ask(alice, "messages_get", thread_id=SEEDED, limit=3, start=1)
    assert list(page) == ["cmd", "channel", "thread_id", "messages", "range", "listener"]
    assert (page["channel"], page["thread_id"], page["range"]) == (FORUM, SEEDED, {"start": 1, "end": 4})
    last = SEEDED_COUNT - 1
    assert [m["id"] for m in page["messages"]] == [f"s{last - 3}", f"s{last - 2}", f"s{last - 1}"]
    got = await ask(alice, "message_get", thread_id=SEEDED, id="s7")
    assert got == {"cmd": "message_get", "channel": FORUM, "thread_id": SEEDED, "message": got["message"],
                   "listener": "ask"}
    assert got["message"]["content"] == "seeded 7"
    around = await ask(alice, "messages_around", thread_id=SEEDED, around="s7", bounds={"above": 1, "below": 2})
    assert (around["channel"], around["thread_id"], around["range"]) == (FORUM, SEEDED, {"start": 5, "end": 9})
    assert [m["id"] for m in around["messages"]] == ["s5", "s6", "s7", "s8"]
    # a thread's messages are not the forum's, nor a channel's
    await alice.send("message_get", channel="history", id="s7")
    await alice.expect_error("Message not found", src="message_get")


async def test_typing_in_a_thread(server):
    (alice, bob, mia), tid = await setup(server, "alice", "bob", "mia")
    reply = await ask(alice, "typing", thread_id=tid)
    assert reply == {"cmd": "typing", "channel": FORUM, "user": LOCAL + "alice", "thread_id": tid, "global": True,
                     "listener": "ask"}
    await bob.expect("typing", thread_id=tid)
    await mia.send("typing", thread_id=tid)
    await mia.expect_error("You do not have permission to send messages in this thread", src="typing")
    await bob.assert_silent()


# ---- the thread's newest message --------------------------------------------------------------


async def test_last_message_follows_posts_and_deletes(server):
    (alice, bob), tid = await setup(server, "alice", "bob")

    async def last() -> tuple:
        t = (await ask(bob, "thread_get", thread_id=tid))["thread"]
        return t["last_message_id"], t["last_message"]

    a = await post_in(alice, tid, "a")
    b = await post_in(alice, tid, "b")
    c = await post_in(alice, tid, "c")
    assert await last() == (c["id"], c["timestamp"])
    await ask(alice, "message_delete", thread_id=tid, id=b["id"])
    assert await last() == (c["id"], c["timestamp"])
    await ask(alice, "message_delete", thread_id=tid, id=c["id"])
    await alice.drain()
    assert await last() == (a["id"], a["timestamp"])
    await server.restart()
    (alice, bob) = await online(server, "alice", "bob")
    assert await last() == (a["id"], a["timestamp"])
    await ask(alice, "message_delete", thread_id=tid, id=a["id"])
    await alice.drain()
    assert await last() == (None, None)


async def test_a_failed_post_leaves_the_thread_as_it_was(server):
    """A post that revives an archived thread changes the thread too: if it cannot be stored, the
    thread stays archived with its old newest message, in memory and after a restart."""
    from tests.test_failed_commits import _fail_all, _heal, _on_writer, persisted

    (alice, bob), tid = await setup(server, "alice", "bob")
    kept = await post_in(alice, tid, "kept")
    await ask(alice, "thread_update", thread_id=tid, archived=True)
    await bob.drain()
    before = server.hub.state
    await _on_writer(server, _fail_all)
    reply = await ask(bob, "message_new", thread_id=tid, content="lost")
    assert reply == {"cmd": "error", "src": "message_new", "val": "Failed to save changes", "listener": "ask"}
    await _on_writer(server, _heal)
    await alice.assert_silent()
    assert server.hub.state.threads == before.threads
    thread = server.hub.state.threads[tid]
    assert (thread.archived, thread.last_message_id) == (True, kept["id"])
    await server.restart()
    assert persisted(server.hub.state) == persisted(before)
