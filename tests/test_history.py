"""Reading history: messages_get paging, message_get, messages_around (core.md §4) over seeded
history in the `history` channel (messages h0 … h<n-1>, oldest first)."""

from __future__ import annotations

import pytest

from tests.msgworld import LOCAL, channel_id, msg, online, post, world_config


def seeded(n: int):  # type: ignore[no-untyped-def]
    return pytest.mark.parametrize("config", [n], indirect=True)


@pytest.fixture
def config(tmp_path, request):
    n = getattr(request, "param", 12)
    history = [msg(f"h{i}", channel_id("history"), LOCAL + "alice", f"m{i}", 1000.0 + i) for i in range(n)]
    return world_config(tmp_path, history)


def stored(i: int) -> dict:
    return {"user": LOCAL + "alice", "content": f"m{i}", "timestamp": 1000.0 + i, "id": f"h{i}",
            "pinned": False, "type": "message", "interaction": None}


def ids(packet: dict) -> list[str]:
    return [m["id"] for m in packet["messages"]]


def hs(lo: int, hi: int) -> list[str]:
    return [f"h{i}" for i in range(lo, hi)]


# ---- messages_get -----------------------------------------------------------------------------


@seeded(5)
async def test_messages_get_reply_shape_oldest_first(server):
    (alice,) = await online(server, "alice")
    await alice.send("messages_get", channel="history", listener="H")
    reply = await alice.expect("messages_get")
    assert reply == {"cmd": "messages_get", "channel": "history", "messages": [stored(i) for i in range(5)],
                     "range": {"start": 0, "end": 100}, "listener": "H"}
    await alice.assert_silent()


@seeded(250)
async def test_messages_get_paging(server):
    (alice,) = await online(server, "alice")

    async def page(**fields):
        await alice.send("messages_get", channel="history", **fields)
        return await alice.expect("messages_get")

    p = await page()
    assert ids(p) == hs(150, 250) and p["range"] == {"start": 0, "end": 100}
    p = await page(start=10, limit=20)  # skip the 10 newest, then 20 older ones, oldest first
    assert ids(p) == hs(220, 240) and p["range"] == {"start": 10, "end": 30}
    p = await page(limit=500)  # capped at 200, range echoes what was asked
    assert ids(p) == hs(50, 250) and p["range"] == {"start": 0, "end": 500}
    p = await page(start=240, limit=50)  # runs off the oldest end
    assert ids(p) == hs(0, 10) and p["range"] == {"start": 240, "end": 290}
    for zero in (0, False):  # `0`/`false` mean the default page
        p = await page(start=5, limit=zero)
        assert ids(p) == hs(145, 245) and p["range"] == {"start": 5, "end": 5}
    p = await page(limit=None)
    assert ids(p) == hs(150, 250) and p["range"] == {"start": 0, "end": 100}
    p = await page(limit=-5)
    assert p["messages"] == [] and p["range"] == {"start": 0, "end": -5}
    p = await page(start=-1, limit=3)
    assert p["messages"] == [] and p["range"] == {"start": -1, "end": 2}
    p = await page(start=300)
    assert p["messages"] == []
    # beyond any SQLite integer: an empty page, not a dead connection
    p = await page(start=10**20, limit=1)
    assert p["messages"] == [] and p["range"] == {"start": 10**20, "end": 10**20 + 1}


async def test_messages_get_bad_paging_types_get_an_error(server):
    (alice,) = await online(server, "alice")
    for fields in ({"start": "h5"}, {"start": 1.5}, {"limit": "10"}, {"limit": [1]}, {"start": True}):
        await alice.send("messages_get", channel="history", listener="b", **fields)
        err = await alice.expect("error", src="messages_get", listener="b")
        assert err["val"].startswith("Invalid field '")
    await alice.send("ping")
    await alice.expect("pong")


async def test_messages_get_errors_in_documented_order(server):
    alice, mia, nora, boss = await online(server, "alice", "mia", "nora", owner="boss")
    steps = [  # (client, fields, text, has src)
        (nora, {"channel": "staff"}, "User roles not found", True),
        (alice, {"channel": "history", "thread_id": "t"}, "Thread not found", True),
        (alice, {"channel": "nope"}, "Channel not found", True),
        (alice, {}, "Channel or thread_id required", True),
        (alice, {"channel": "staff"}, "Access denied to this channel", False),
        (alice, {"channel": "lobby"}, "Access denied to this channel", False),
        (alice, {"channel": "ideas"}, "Access denied to this channel", False),
        (alice, {"channel": "dropbox"}, "Access denied to this channel", False),
        (alice, {"channel": "blank"}, "Access denied to this channel", False),
        (mia, {"channel": "quiet"}, "Access denied to this channel", False),
        (boss, {"channel": "staff"}, "Access denied to this channel", False),
    ]
    for client, fields, text, has_src in steps:
        await client.send("messages_get", listener="x", **fields)
        await client.expect_error(text, src="messages_get" if has_src else None, listener="x")
    # the default block lets the owner read a channel with no permissions of its own
    await boss.send("messages_get", channel="blank")
    assert (await boss.expect("messages_get"))["messages"] == []


@seeded(4)
async def test_deleted_messages_leave_history(server):
    alice, adam = await online(server, "alice", "adam")
    await alice.send("message_delete", channel="history", id="h1")
    await alice.expect("message_delete")
    await adam.expect("message_delete")
    await adam.send("messages_get", channel="history")
    assert ids(await adam.expect("messages_get")) == ["h0", "h2", "h3"]
    await adam.send("message_get", channel="history", id="h1")
    await adam.expect_error("Message not found", src="message_get")


# ---- message_get ------------------------------------------------------------------------------


async def test_message_get_reply_shape(server):
    (alice,) = await online(server, "alice")
    await alice.send("message_get", channel="history", id="h3", listener="G")
    assert await alice.recv() == {"cmd": "message_get", "channel": "history", "message": stored(3), "listener": "G"}


async def test_message_get_errors_in_documented_order(server):
    alice, mia, nora = await online(server, "alice", "mia", "nora")
    general_msg = await post(alice, "general", "elsewhere")
    await mia.drain()
    steps = [
        (alice, {}, "Channel/thread and message ID are required", True),
        (alice, {"id": "h1"}, "Channel/thread and message ID are required", True),
        (alice, {"channel": "history"}, "Channel/thread and message ID are required", True),
        (alice, {"channel": "history", "id": ""}, "Channel/thread and message ID are required", True),
        (nora, {"channel": "staff", "id": "h1"}, "User roles not found", True),
        (alice, {"thread_id": "t", "id": "h1"}, "Thread not found", True),
        (alice, {"channel": "nope", "id": "h1"}, "Channel not found", True),
        (alice, {"channel": "staff", "id": "h1"}, "Access denied to this channel", False),
        (mia, {"channel": "quiet", "id": "h1"}, "Access denied to this channel", False),
        (alice, {"channel": "history", "id": "nope"}, "Message not found", True),
        (alice, {"channel": "history", "id": general_msg["id"]}, "Message not found", True),
    ]
    for client, fields, text, has_src in steps:
        await client.send("message_get", listener="x", **fields)
        await client.expect_error(text, src="message_get" if has_src else None, listener="x")
    await alice.send("message_get", channel="history", id=5)
    await alice.expect_error("Invalid field 'id': expected string, got number", src="message_get")


# ---- messages_around --------------------------------------------------------------------------


@seeded(10)
async def test_messages_around_window_below_is_older_above_is_newer(server):
    (alice,) = await online(server, "alice")

    async def around(target, **bounds):
        fields = {"bounds": bounds} if bounds else {}
        await alice.send("messages_around", channel="history", around=target, listener="A", **fields)
        return await alice.expect("messages_around", listener="A")

    reply = await around("h2", above=1, below=2)
    assert reply == {"cmd": "messages_around", "channel": "history", "thread_id": None,
                     "messages": [stored(i) for i in range(4)], "range": {"start": 0, "end": 4}, "listener": "A"}
    reply = await around("h5", above=0, below=3)
    assert ids(reply) == hs(2, 6) and reply["range"] == {"start": 2, "end": 6}
    # the newest message is part of the window (the original never returned it)
    reply = await around("h9", above=5, below=1)
    assert ids(reply) == ["h8", "h9"] and reply["range"] == {"start": 8, "end": 10}
    reply = await around("h5")  # defaults 50/50
    assert ids(reply) == hs(0, 10) and reply["range"] == {"start": 0, "end": 10}
    reply = await around("h5", above=-4, below=-4)  # negatives count as 0
    assert ids(reply) == ["h5"] and reply["range"] == {"start": 5, "end": 6}
    await alice.send("messages_around", channel="history", around="h5", bounds={})
    assert ids(await alice.expect("messages_around")) == hs(0, 10)


@seeded(450)
async def test_messages_around_caps_each_side_at_200(server):
    (alice,) = await online(server, "alice")
    await alice.send("messages_around", channel="history", around="h225", bounds={"above": 1000, "below": 1000})
    reply = await alice.expect("messages_around")
    assert ids(reply) == hs(25, 426) and reply["range"] == {"start": 25, "end": 426}


async def test_messages_around_errors_in_documented_order(server):
    alice, mia, nora = await online(server, "alice", "mia", "nora")
    general_msg = await post(alice, "general", "elsewhere")
    await mia.drain()
    steps = [
        (alice, {"channel": "history"}, "around (message ID) is required", True),
        (alice, {"channel": "history", "around": ""}, "around (message ID) is required", True),
        (nora, {"channel": "staff", "around": "h1"}, "User roles not found", True),
        (alice, {"around": "h1"}, "Channel or thread_id required", True),
        (alice, {"thread_id": "t", "around": "h1"}, "Thread not found", True),
        (alice, {"channel": "nope", "around": "h1"}, "Channel not found", True),
        (alice, {"channel": "staff", "around": "h1"}, "Access denied to this channel", False),
        (mia, {"channel": "quiet", "around": "h1"}, "Access denied to this channel", False),
        (alice, {"channel": "history", "around": "nope"}, "Message not found", True),
        (alice, {"channel": "history", "around": general_msg["id"]}, "Message not found", True),
        (alice, {"channel": "history", "around": "h1", "bounds": [1, 2]},
         "Invalid field 'bounds': expected object, got array", True),
        (alice, {"channel": "history", "around": "h1", "bounds": {"above": "3"}},
         "Invalid field 'bounds.above': expected integer, got string", True),
        (alice, {"channel": "history", "around": "h1", "bounds": {"below": 1.5}},
         "Invalid field 'bounds.below': expected integer, got number", True),
    ]
    for client, fields, text, has_src in steps:
        await client.send("messages_around", listener="x", **fields)
        await client.expect_error(text, src="messages_around" if has_src else None, listener="x")
    await alice.send("message_delete", channel="history", id="h4")
    await alice.expect("message_delete")
    await alice.send("messages_around", channel="history", around="h4")
    await alice.expect_error("Message not found", src="messages_around")
    await alice.send("messages_around", channel="history", around="h5", bounds={"above": 0, "below": 1})
    reply = await alice.expect("messages_around")
    assert ids(reply) == ["h3", "h5"] and reply["range"] == {"start": 3, "end": 5}
