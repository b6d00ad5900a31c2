"""The thread commands through the real protocol (extended/threads.md): thread_create, thread_get,
thread_messages, thread_update, thread_delete, thread_join, thread_leave; reply shapes, errors in
their documented order, who receives each broadcast, and the fixed flaws of the original."""

from __future__ import annotations

import uuid

import pytest

from originchats.config import LimitsSection, RateLimitingSection
from tests.msgworld import LOCAL, online, stored_rows
from tests.threadworld import FORUM, SEEDED, SEEDED_COUNT, ask, new_thread, post_in, thread_config


@pytest.fixture
def config(tmp_path, request):
    """The thread world; `@pytest.mark.parametrize("config", [overrides], indirect=True)` changes it."""
    return thread_config(tmp_path, **getattr(request, "param", {}))


def wire(thread: dict) -> dict:
    return {k: v for k, v in thread.items() if k not in ("created_at",)}


# ---- thread_create ----------------------------------------------------------------------------


async def test_thread_create_reply_and_broadcast_to_the_forums_viewers(server):
    alice, bob, mia, adam = await online(server, "alice", "bob", "mia", "adam")
    await alice.send("thread_create", channel=FORUM, name="  Hello there  ", listener="C")
    reply = await alice.expect("thread_create")
    thread = reply["thread"]
    assert uuid.UUID(thread["id"]).version == 4
    assert isinstance(thread["created_at"], float)
    assert thread == {"id": thread["id"], "name": "Hello there", "parent_channel": FORUM,
                      "created_by": LOCAL + "alice", "created_at": thread["created_at"], "locked": False,
                      "archived": False, "participants": [LOCAL + "alice"], "last_message": None,
                      "last_message_id": None}
    assert list(thread) == ["id", "name", "parent_channel", "created_by", "created_at", "locked", "archived",
                            "participants", "last_message", "last_message_id"]
    assert reply == {"cmd": "thread_create", "thread": thread, "channel": FORUM, "global": True, "listener": "C"}
    expected = {k: v for k, v in reply.items() if k != "listener"}
    assert await bob.recv() == expected
    assert await adam.recv() == expected
    await mia.assert_silent()  # cannot view the forum
    # duplicate names are allowed
    again = await new_thread(alice, "Hello there")
    assert again["id"] != thread["id"]


async def test_thread_create_errors_in_documented_order(server):
    alice, nora, mia = await online(server, "alice", "nora", "mia")
    steps = [
        (alice, {}, "Channel and thread name are required"),
        (alice, {"channel": FORUM}, "Channel and thread name are required"),
        (alice, {"channel": "", "name": "x"}, "Channel and thread name are required"),
        (alice, {"channel": FORUM, "name": 5}, "Invalid field 'name': expected string, got number"),
        (alice, {"channel": ["x"], "name": "x"}, "Invalid field 'channel': expected string, got array"),
        (nora, {"channel": "nope", "name": "x"}, "User roles not found"),
        (alice, {"channel": "nope", "name": "x"}, "Channel not found"),
        (alice, {"channel": "history", "name": "x"}, "Threads can only be created in forum channels"),
        (alice, {"channel": "ideas", "name": "x"}, "You do not have permission to create threads in this channel"),
        (mia, {"channel": FORUM, "name": "x"}, "You do not have permission to create threads in this channel"),
        (alice, {"channel": FORUM, "name": "  \t "}, "Thread name cannot be empty"),
        (alice, {"channel": FORUM, "name": "x" * 101}, "Thread name too long (max 100 characters)"),
    ]
    for client, fields, text in steps:
        await client.send("thread_create", listener="x", **fields)
        await client.expect_error(text, src="thread_create", listener="x")
    assert stored_rows(server.config, "SELECT COUNT(*) FROM threads") == [(1,)]  # the seeded one only
    assert (await new_thread(alice, "x" * 100))["name"] == "x" * 100


# ---- thread_get -------------------------------------------------------------------------------


async def test_thread_get_and_the_access_errors(server):
    alice, mia, nora = await online(server, "alice", "mia", "nora")
    reply = await ask(alice, "thread_get", thread_id=SEEDED)
    assert reply == {"cmd": "thread_get", "thread": {
        "id": SEEDED, "name": "Seeded", "parent_channel": FORUM, "created_by": LOCAL + "alice", "created_at": 50.0,
        "locked": False, "archived": False, "participants": [LOCAL + "alice"],
        "last_message": 100.0 + SEEDED_COUNT - 1, "last_message_id": f"s{SEEDED_COUNT - 1}"}, "listener": "ask"}
    steps = [
        (alice, {}, "Thread ID is required"),
        (alice, {"thread_id": ""}, "Thread ID is required"),
        (alice, {"thread_id": 7}, "Invalid field 'thread_id': expected string, got number"),
        (alice, {"thread_id": "nope"}, "Thread not found"),
        (nora, {"thread_id": SEEDED}, "User roles not found"),
        (mia, {"thread_id": SEEDED}, "You do not have permission to view this thread"),
    ]
    for client, fields, text in steps:
        await client.send("thread_get", listener="x", **fields)
        await client.expect_error(text, src="thread_get", listener="x")


async def test_thread_ids_are_never_paths(server):
    """Flaw 1: the original read `db/threads/<thread_id>.json`, so `../users` returned (and
    thread_leave broadcast) the user database, and thread_delete removed any JSON file."""
    alice, bob, boss = await online(server, "alice", "bob", owner="boss")
    for bad in ("../users", "../channels", "../../config", "..\\users", "/etc/passwd", SEEDED + "/../x",
                f"../threads/{SEEDED}", SEEDED.upper()):
        for client, cmd, fields in (
            (alice, "thread_leave", {}), (alice, "thread_get", {}), (alice, "thread_join", {}),
            (alice, "thread_messages", {}), (boss, "thread_delete", {}), (boss, "thread_update", {"name": "x"}),
            (alice, "message_new", {"content": "x"}), (alice, "messages_get", {}), (alice, "typing", {}),
        ):
            await client.send(cmd, thread_id=bad, listener="p", **fields)
            await client.expect_error("Thread not found", src=cmd, listener="p")
    await bob.assert_silent()
    # nothing was touched: the users are all there and the seeded thread is intact
    assert stored_rows(server.config, "SELECT COUNT(*) FROM users WHERE username = ?", (LOCAL + "alice",)) == [(1,)]
    assert (await ask(alice, "thread_get", thread_id=SEEDED))["thread"]["name"] == "Seeded"


# ---- thread_messages --------------------------------------------------------------------------


def ids(reply: dict) -> list[str]:
    return [m["id"] for m in reply["messages"]]


async def test_thread_messages_pages_and_reply_shape(server):
    (alice,) = await online(server, "alice")
    reply = await ask(alice, "thread_messages", thread_id=SEEDED)
    assert list(reply) == ["cmd", "thread_id", "messages", "listener"]
    assert reply["thread_id"] == SEEDED
    assert ids(reply) == [f"s{i}" for i in range(SEEDED_COUNT - 100, SEEDED_COUNT)]  # default 100, oldest first
    m = reply["messages"][-1]
    assert m == {"user": LOCAL + "bob", "content": f"seeded {SEEDED_COUNT - 1}", "timestamp": 100.0 + SEEDED_COUNT - 1,
                 "id": f"s{SEEDED_COUNT - 1}", "pinned": False, "type": "message", "interaction": None}
    cases = [
        ({"limit": 0}, range(SEEDED_COUNT - 100, SEEDED_COUNT)),
        ({"limit": None}, range(SEEDED_COUNT - 100, SEEDED_COUNT)),
        ({"limit": 500}, range(SEEDED_COUNT - 200, SEEDED_COUNT)),  # at most 200
        ({"limit": 3, "start": 10}, range(SEEDED_COUNT - 13, SEEDED_COUNT - 10)),
        ({"limit": 3, "start": -4}, range(SEEDED_COUNT - 3, SEEDED_COUNT)),  # a negative start is 0
        ({"limit": 4, "start": "s50"}, range(46, 50)),  # a message id: the page ends just before it
        ({"start": "s2"}, range(0, 2)),
        ({"start": "s0"}, range(0)),
        ({"start": "nope"}, range(0)),  # unknown id
        ({"start": "h1"}, range(0)),  # a message of another channel
        ({"limit": -1}, range(0)),
        ({"start": 10**30}, range(0)),
    ]
    for fields, expected in cases:
        assert ids(await ask(alice, "thread_messages", thread_id=SEEDED, **fields)) == [f"s{i}" for i in expected], fields


async def test_thread_messages_bad_types_and_access(server):
    alice, mia = await online(server, "alice", "mia")
    for fields in ({"start": 1.5}, {"start": [1]}, {"start": True}, {"limit": "10"}, {"limit": True}):
        await alice.send("thread_messages", thread_id=SEEDED, listener="b", **fields)
        err = await alice.expect("error", src="thread_messages", listener="b")
        assert err["val"].startswith("Invalid field '"), err
    await mia.send("thread_messages", thread_id=SEEDED)
    await mia.expect_error("You do not have permission to view this thread", src="thread_messages")
    await alice.send("ping")
    await alice.expect("pong")


# ---- thread_update ----------------------------------------------------------------------------


async def test_thread_update_by_creator_and_manager_goes_to_viewers_only(server):
    """Flaw 3: the original sent thread_update (and join/leave) to every connection."""
    alice, bob, mia, adam = await online(server, "alice", "bob", "mia", "adam")
    thread = await new_thread(alice)
    await bob.drain()
    await adam.drain()
    tid = thread["id"]
    # the creator renames and archives; `locked` needs manage_threads and is silently ignored
    reply = await ask(alice, "thread_update", thread_id=tid, name=" Renamed ", locked=True, archived=1)
    assert reply == {"cmd": "thread_update", "thread": {**thread, "name": "Renamed", "archived": True},
                     "global": True, "listener": "ask"}
    assert await bob.recv() == {"cmd": "thread_update", "thread": reply["thread"], "global": True}
    await mia.assert_silent()
    # a manager locks it and un-archives it (truthiness)
    reply = await ask(adam, "thread_update", thread_id=tid, locked="yes", archived=[])
    assert (reply["thread"]["locked"], reply["thread"]["archived"]) == (True, False)
    await alice.expect("thread_update")
    # nothing asked: answered and announced all the same
    reply = await ask(alice, "thread_update", thread_id=tid)
    assert reply["thread"]["name"] == "Renamed" and reply["thread"]["locked"] is True
    await bob.drain()
    await mia.assert_silent()
    # stored: a restart shows the same
    await server.restart()
    (carl,) = await online(server, "bob")
    assert (await ask(carl, "thread_get", thread_id=tid))["thread"] == reply["thread"]


async def test_thread_update_errors_in_documented_order(server):
    alice, bob, nora, mia = await online(server, "alice", "bob", "nora", "mia")
    tid = (await new_thread(alice))["id"]
    await bob.drain()
    steps = [
        (alice, {}, "Thread ID is required"),
        (alice, {"thread_id": "nope"}, "Thread not found"),
        (nora, {"thread_id": tid}, "User roles not found"),
        (bob, {"thread_id": tid, "name": ""}, "You do not have permission to modify this thread"),
        (mia, {"thread_id": tid}, "You do not have permission to modify this thread"),
        (alice, {"thread_id": tid, "name": "   "}, "Thread name cannot be empty"),
        (alice, {"thread_id": tid, "name": ""}, "Thread name cannot be empty"),
        (alice, {"thread_id": tid, "name": "y" * 101}, "Thread name too long (max 100 characters)"),
        (alice, {"thread_id": tid, "name": 12}, "Invalid field 'name': expected string, got number"),
    ]
    for client, fields, text in steps:
        await client.send("thread_update", listener="x", **fields)
        await client.expect_error(text, src="thread_update", listener="x")
    assert (await ask(alice, "thread_get", thread_id=tid))["thread"]["name"] == "Hello"


async def test_records_keep_user_ids_after_channels_get_and_renames(server):
    """Flaw 2: the original's first channels_get replaced `created_by` and `participants` by
    usernames in memory, after which the creator failed the ownership check."""
    alice, bob, boss = await online(server, "alice", "bob", owner="boss")
    tid = (await new_thread(alice))["id"]
    await ask(bob, "thread_join", thread_id=tid)
    await ask(alice, "channels_get")
    await boss.drain()
    await boss.send("user_update", user=LOCAL + "bob", updates={"username": "robert"})
    await boss.expect("user_updated")
    await alice.drain()
    listed = {ch["name"]: ch for ch in (await ask(alice, "channels_get"))["val"]}
    assert listed[FORUM]["threads"][-1]["participants"] == [LOCAL + "alice", LOCAL + "robert"]
    assert (await ask(alice, "thread_update", thread_id=tid, name="Still mine"))["cmd"] == "thread_update"
    assert stored_rows(server.config, "SELECT created_by, participants FROM threads WHERE id = ?", (tid,)) == [
        (LOCAL + "alice", f'["{LOCAL}alice","{LOCAL}bob"]')]


# ---- thread_join and thread_leave -------------------------------------------------------------


async def test_join_and_leave(server):
    alice, bob, mia, adam = await online(server, "alice", "bob", "mia", "adam")
    thread = await new_thread(alice)
    tid = thread["id"]
    await bob.drain()
    await adam.drain()
    await bob.send("thread_join", thread_id=tid, listener="J")
    reply = await bob.expect("thread_join")
    joined = {**thread, "participants": [LOCAL + "alice", LOCAL + "bob"]}
    assert reply == {"cmd": "thread_join", "thread": joined, "thread_id": tid, "user": LOCAL + "bob", "global": True,
                     "listener": "J"}
    assert await alice.recv() == {k: v for k, v in reply.items() if k != "listener"}
    await adam.expect("thread_join")
    await mia.assert_silent()
    # joining twice changes nothing, and is still answered and announced
    assert (await ask(bob, "thread_join", thread_id=tid))["thread"]["participants"] == joined["participants"]
    await alice.expect("thread_join")
    # the creator never leaves; others do; leaving twice is fine
    assert (await ask(alice, "thread_leave", thread_id=tid))["thread"]["participants"] == joined["participants"]
    reply = await ask(bob, "thread_leave", thread_id=tid)
    assert reply == {"cmd": "thread_leave", "thread": thread, "thread_id": tid, "user": LOCAL + "bob", "global": True,
                     "listener": "ask"}
    assert (await ask(bob, "thread_leave", thread_id=tid))["thread"]["participants"] == [LOCAL + "alice"]
    await adam.drain()
    await mia.assert_silent()
    # errors
    await mia.send("thread_join", thread_id=tid)
    await mia.expect_error("You do not have permission to view this thread", src="thread_join")
    await ask(adam, "thread_update", thread_id=tid, locked=True)
    await bob.drain()
    await bob.send("thread_join", thread_id=tid)
    await bob.expect_error("This thread is locked", src="thread_join")
    assert (await ask(alice, "thread_leave", thread_id=tid))["cmd"] == "thread_leave"  # leaving a locked thread works
    await mia.send("thread_leave", thread_id="nope")
    await mia.expect_error("Thread not found", src="thread_leave")


@pytest.mark.parametrize("config", [{"limits": LimitsSection(thread_participants=2, thread_name_length=1000,
                                                               thread_list_bytes=64 * 1024)}], indirect=True)
async def test_participants_and_the_thread_list_are_bounded(server):
    alice, bob, adam = await online(server, "alice", "bob", "adam")
    tid = (await new_thread(alice))["id"]
    await ask(bob, "thread_join", thread_id=tid)
    await adam.drain()
    await adam.send("thread_join", thread_id=tid, listener="j")
    await adam.expect_error("Thread participant limit reached (max 2 participants)", src="thread_join", listener="j")
    made = 1
    for name in ("n" * 1000, "n" * 50):  # fill the list, to less than a short thread's room
        while True:
            reply = await ask(alice, "thread_create", channel=FORUM, name=name)
            if reply["cmd"] == "error":
                assert reply["val"] == f"Thread limit reached (the thread list is at most {64 * 1024} bytes)", reply
                break
            made += 1
            assert made < 200
    listed = {ch["name"]: ch for ch in (await ask(alice, "channels_get"))["val"]}
    assert len(listed[FORUM]["threads"]) == made + 1  # the seeded one too
    # renaming to a longer name is refused the same way; leaving and shorter names always pass
    await alice.drain()
    await alice.send("thread_update", thread_id=tid, name="n" * 1000, listener="u")
    await alice.expect_error(f"Thread limit reached (the thread list is at most {64 * 1024} bytes)",
                             src="thread_update", listener="u")
    assert (await ask(bob, "thread_leave", thread_id=tid))["thread"]["participants"] == [LOCAL + "alice"]
    await ask(alice, "thread_delete", thread_id=tid)
    assert (await ask(alice, "thread_create", channel=FORUM, name="short"))["cmd"] == "thread_create"


async def test_thread_commands_spend_the_broadcast_bucket(make_server):
    server = await make_server(rate_limiting=RateLimitingSection(broadcast_burst_limit=3, broadcasts_per_minute=30))
    boss = await server.owner("boss")
    await ask(boss, "channel_create", name="board", type="forum",
              permissions={"view": ["user"], "send": ["user"], "create_thread": ["user"]})
    tid = (await new_thread(boss, channel="board"))["id"]
    await ask(boss, "thread_join", thread_id=tid)
    await ask(boss, "thread_leave", thread_id=tid)
    reply = await ask(boss, "thread_update", thread_id=tid, name="x")
    assert reply["cmd"] == "rate_limit", reply
    assert (await ask(boss, "thread_get", thread_id=tid))["thread"]["name"] == "Hello"  # not stored


# ---- thread_delete ----------------------------------------------------------------------------


async def test_thread_delete_removes_the_thread_its_messages_and_reactions(server):
    """Flaw 6: the original left the thread's data behind; here it all goes in one transaction."""
    alice, bob, mia, adam = await online(server, "alice", "bob", "mia", "adam")
    tid = (await new_thread(alice))["id"]
    m = await post_in(bob, tid, "one")
    await post_in(alice, tid, "two")
    assert (await ask(bob, "message_react_add", thread_id=tid, id=m["id"], emoji="👍"))["cmd"] == "message_react_add"
    await bob.send("thread_delete", thread_id=tid)
    await bob.expect_error("You do not have permission to modify this thread", src="thread_delete")
    await mia.send("thread_delete", thread_id=tid)
    await mia.expect_error("You do not have permission to modify this thread", src="thread_delete")
    await alice.drain()
    await adam.drain()
    await alice.send("thread_delete", thread_id=tid, listener="D")
    reply = await alice.expect("thread_delete")
    assert reply == {"cmd": "thread_delete", "thread_id": tid, "channel": FORUM, "global": True, "listener": "D"}
    assert await bob.recv() == {"cmd": "thread_delete", "thread_id": tid, "channel": FORUM, "global": True}
    await adam.expect("thread_delete")
    await mia.assert_silent()
    for cmd, fields in (("thread_get", {}), ("message_get", {"id": m["id"]}), ("messages_get", {}),
                        ("message_new", {"content": "late"})):
        await bob.send(cmd, thread_id=tid, **fields)
        await bob.expect_error("Thread not found", src=cmd)
    assert stored_rows(server.config, "SELECT COUNT(*) FROM threads WHERE id = ?", (tid,)) == [(0,)]
    assert stored_rows(server.config, "SELECT COUNT(*) FROM messages WHERE thread_id = ?", (tid,)) == [(0,)]
    assert stored_rows(server.config, "SELECT COUNT(*) FROM reactions WHERE message_id = ?", (m["id"],)) == [(0,)]
    # a manager deletes any thread; the seeded one has its history elsewhere untouched
    assert (await ask(adam, "thread_delete", thread_id=SEEDED))["cmd"] == "thread_delete"
    assert stored_rows(server.config, "SELECT COUNT(*) FROM messages WHERE id = 'h1' OR id = 'news-post-1'") != [(0,)]
    await server.restart()
    (bob,) = await online(server, "bob")
    for gone in (tid, SEEDED):
        await bob.send("thread_get", thread_id=gone)
        await bob.expect_error("Thread not found", src="thread_get")
    listed = {ch["name"]: ch for ch in (await ask(bob, "channels_get"))["val"]}
    assert listed[FORUM]["threads"] == []


async def test_deleting_a_forum_deletes_its_threads(server):
    alice, boss = await online(server, "alice", owner="boss")
    tid = (await new_thread(alice))["id"]
    await post_in(alice, tid, "hi")
    assert (await ask(boss, "channel_delete", name=FORUM))["cmd"] == "channel_delete"
    await alice.drain()
    for gone in (tid, SEEDED):
        await alice.send("thread_get", thread_id=gone)
        await alice.expect_error("Thread not found", src="thread_get")
    assert stored_rows(server.config, "SELECT COUNT(*) FROM threads") == [(0,)]
    assert stored_rows(server.config, "SELECT COUNT(*) FROM messages WHERE thread_id IS NOT NULL") == [(0,)]
    # a new forum of the same name starts empty, also after a restart
    await ask(boss, "channel_create", name=FORUM, type="forum", permissions={"view": ["user"]})
    await server.restart()
    (alice,) = await online(server, "alice")
    listed = {ch["name"]: ch for ch in (await ask(alice, "channels_get"))["val"]}
    assert listed[FORUM]["threads"] == []
    await alice.send("thread_get", thread_id=tid)
    await alice.expect_error("Thread not found", src="thread_get")


# ---- channels_get -----------------------------------------------------------------------------


async def test_channels_get_lists_each_forums_threads_in_creation_order(server):
    alice, bob, mia = await online(server, "alice", "bob", "mia")
    first = await new_thread(alice, "First")
    second = await new_thread(bob, "Second")
    last = await post_in(bob, second["id"], "latest")
    listed = {ch["name"]: ch for ch in (await ask(alice, "channels_get"))["val"]}
    threads = listed[FORUM]["threads"]
    assert [t["id"] for t in threads] == [SEEDED, first["id"], second["id"]]
    assert threads[2] == {**second, "last_message": last["timestamp"], "last_message_id": last["id"]}
    assert listed["ideas"]["threads"] == []
    assert FORUM not in {ch["name"] for ch in (await ask(mia, "channels_get"))["val"]}
    await server.restart()
    (alice,) = await online(server, "alice")
    again = {ch["name"]: ch for ch in (await ask(alice, "channels_get"))["val"]}
    assert again[FORUM]["threads"] == threads


# ---- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [("thread_name_length", 0), ("thread_participants", 10001),
                                            ("thread_list_bytes", 1024), ("thread_list_bytes", 8 * 1024 * 1024)])
def test_thread_limits_out_of_range_are_refused_at_start(key, value):
    from originchats.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=f"limits.{key}: must be"):
        parse_config({"limits": {key: value}})
    fine = 65536 if key == "thread_list_bytes" else 1
    assert getattr(parse_config({"limits": {key: fine}}).limits, key) == fine


# ---- polls inside threads (extended/polls.md: `thread_id` wins over `channel`) -------------------


async def test_a_poll_in_a_thread_is_a_thread_message_seen_by_the_forums_viewers(server):
    alice, bob, mia, adam = await online(server, "alice", "bob", "mia", "adam")
    thread = await new_thread(alice, "Vote here")
    for c in (alice, bob, mia, adam):
        await c.drain()
    reply = await ask(alice, "poll_create", thread_id=thread["id"], question="Tea?", options=["yes", "no"])
    assert reply["cmd"] == "poll_create", reply
    assert (reply["channel"], reply["thread_id"]) == (FORUM, thread["id"])
    seen = await bob.expect("message_new")
    assert (seen["channel"], seen["thread_id"]) == (FORUM, thread["id"])
    await mia.assert_silent()  # cannot view the forum
    page = await ask(bob, "thread_messages", thread_id=thread["id"])
    assert [m["id"] for m in page["messages"]] == [reply["message_id"]]
    listed = await ask(bob, "thread_get", thread_id=thread["id"])
    assert listed["thread"]["last_message_id"] == reply["message_id"]
    vote = await ask(bob, "poll_vote", poll_id=reply["poll_id"], option_id="0")
    assert vote["cmd"] == "poll_vote", vote
    # a locked thread takes no poll, as it takes no message; a deleted thread takes its poll along
    locked = await ask(adam, "thread_update", thread_id=thread["id"], locked=True)  # manage_threads
    assert locked["thread"]["locked"] is True, locked
    refused = await ask(alice, "poll_create", thread_id=thread["id"], question="Again?", options=["a", "b"])
    assert refused.get("val") == "This thread is locked", refused
    assert (await ask(adam, "thread_delete", thread_id=thread["id"]))["cmd"] == "thread_delete"
    gone = await ask(bob, "poll_get", poll_id=reply["poll_id"])
    assert gone["val"] == "Poll not found"
