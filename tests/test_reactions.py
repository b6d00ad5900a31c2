"""message_react_add / message_react_remove (extended/reactions_pins_replies.md): reply shapes,
error order (which differs between add and remove), audiences, and the stored reaction lists."""

from __future__ import annotations

import pytest

from tests.msgworld import LOCAL, channel_id, msg, online, post, world_config

SEEDED = [msg(f"h{i}", channel_id("history"), LOCAL + "alice", f"m{i}", 1000.0 + i) for i in range(3)]


@pytest.fixture
def config(tmp_path):
    return world_config(tmp_path, SEEDED)


async def reactions_of(client, channel: str, mid: str) -> dict | None:
    await client.send("message_get", channel=channel, id=mid)
    return (await client.expect("message_get"))["message"].get("reactions")


async def test_react_add_and_remove_shapes_and_stored_lists(server):
    alice, bob, mia = await online(server, "alice", "bob", "mia")
    await bob.send("message_react_add", channel="history", id="h0", emoji="👍", listener="R")
    packet = {"cmd": "message_react_add", "id": "h0", "emoji": "👍", "channel": "history",
              "from": LOCAL + "bob", "global": True}
    assert await alice.recv() == packet
    assert await mia.recv() == packet
    assert await bob.recv() == {**packet, "listener": "R"}
    await alice.send("message_react_add", channel="history", id="h0", emoji="👍")
    await alice.expect("message_react_add", **{"from": LOCAL + "alice"})
    await alice.send("message_react_add", channel="history", id="h0", emoji="🎉")
    await alice.expect("message_react_add", emoji="🎉")
    for c in (bob, mia):
        assert len(await c.drain()) == 2
    assert await reactions_of(mia, "history", "h0") == {"👍": [LOCAL + "bob", LOCAL + "alice"], "🎉": [LOCAL + "alice"]}
    # history readers see the same lists
    await mia.send("messages_get", channel="history")
    assert (await mia.expect("messages_get"))["messages"][0]["reactions"]["👍"] == [LOCAL + "bob", LOCAL + "alice"]

    await bob.send("message_react_remove", channel="history", id="h0", emoji="👍", listener="U")
    removed = {"cmd": "message_react_remove", "id": "h0", "emoji": "👍", "channel": "history",
               "from": LOCAL + "bob", "global": True}
    assert await alice.recv() == removed
    assert await mia.recv() == removed
    assert await bob.recv() == {**removed, "listener": "U"}
    assert await reactions_of(bob, "history", "h0") == {"👍": [LOCAL + "alice"], "🎉": [LOCAL + "alice"]}
    for emoji in ("👍", "🎉"):
        await alice.send("message_react_remove", channel="history", id="h0", emoji=emoji)
        await alice.expect("message_react_remove", emoji=emoji)
    assert len(await bob.drain()) == 2
    assert await reactions_of(bob, "history", "h0") is None  # the key goes when the last list empties


async def test_reaction_broadcasts_reach_only_viewers(server):
    umi, mia, alice = await online(server, "umi", "mia", "alice")
    m = await post(umi, "quiet", "react to me")
    await alice.drain()
    await alice.send("message_react_add", channel="quiet", id=m["id"], emoji="x")
    await umi.expect("message_react_add", channel="quiet")
    await alice.expect("message_react_add")
    await mia.assert_silent()


async def test_react_add_errors_in_documented_order(server):
    alice, mia, nora = await online(server, "alice", "mia", "nora")
    general_msg = await post(alice, "general", "elsewhere")
    await mia.drain()
    await alice.send("message_react_add", channel="history", id="h1", emoji="ok")
    await alice.expect("message_react_add")
    await mia.drain()
    await alice.send("message_delete", channel="history", id="h2")
    await alice.expect("message_delete")
    await mia.drain()
    steps = [  # (client, fields, text, has src)
        (nora, {}, "User roles not found", False),  # roles come first for add
        (alice, {}, "Message ID and emoji are required", True),
        (alice, {"id": "h0"}, "Message ID and emoji are required", True),
        (alice, {"emoji": "x"}, "Message ID and emoji are required", True),
        (alice, {"id": "h0", "emoji": ""}, "Message ID and emoji are required", True),
        (alice, {"id": "h0", "emoji": "x" * 33}, "Invalid emoji", True),  # limits.emoji_length (the original: 200)
        (alice, {"id": "h0", "emoji": 5}, "Invalid emoji", True),
        (alice, {"id": "h0", "emoji": ["a"]}, "Invalid emoji", True),
        (alice, {"id": "h0", "emoji": "x"}, "Channel or thread_id required", True),
        (alice, {"id": "h0", "emoji": "x", "channel": "history", "thread_id": "t"}, "Thread not found", True),
        (alice, {"id": "h0", "emoji": "x", "channel": "nope"}, "Channel not found", True),
        (alice, {"id": "h0", "emoji": "x", "channel": "news"},
         "You do not have permission to add reactions to this message", True),
        # a fixed flaw: `react` alone (the default) used to be enough in a channel one cannot see
        (alice, {"id": "h0", "emoji": "x", "channel": "staff"},
         "You do not have permission to add reactions to this message", True),
        (mia, {"id": "h0", "emoji": "x", "channel": "quiet"},
         "You do not have permission to add reactions to this message", True),
        (alice, {"id": "nope", "emoji": "x", "channel": "history"}, "Failed to add reaction", True),
        (alice, {"id": general_msg["id"], "emoji": "x", "channel": "history"}, "Failed to add reaction", True),
        (alice, {"id": "h1", "emoji": "ok", "channel": "history"}, "Failed to add reaction", True),  # twice
        (alice, {"id": "h2", "emoji": "x", "channel": "history"}, "Failed to add reaction", True),  # deleted
    ]
    for client, fields, text, has_src in steps:
        await client.send("message_react_add", listener="x", **fields)
        await client.expect_error(text, src="message_react_add" if has_src else None, listener="x")
    for c in (alice, mia, nora):
        await c.assert_silent()
    await alice.send("message_react_add", channel="history", id="h0", emoji="y" * 32)
    await alice.expect("message_react_add", emoji="y" * 32)


async def test_react_remove_errors_in_documented_order(server):
    alice, bob, nora = await online(server, "alice", "bob", "nora")
    await alice.send("message_react_add", channel="history", id="h0", emoji="ok")
    await alice.expect("message_react_add")
    await bob.drain()
    steps = [
        (nora, {}, "Message ID and emoji are required", True),  # fields come first for remove
        (nora, {"id": "h0", "emoji": "x" * 201}, "Invalid emoji", True),
        (nora, {"id": "h0", "emoji": "x"}, "User roles not found", False),
        (alice, {"id": "h0", "emoji": "ok"}, "Channel or thread_id required", True),
        (alice, {"id": "h0", "emoji": "ok", "thread_id": "t"}, "Thread not found", True),
        (alice, {"id": "h0", "emoji": "ok", "channel": "nope"}, "Channel not found", True),
        (alice, {"id": "h0", "emoji": "ok", "channel": "news"},
         "You do not have permission to remove reactions from this message", True),
        (alice, {"id": "h0", "emoji": "ok", "channel": "staff"},
         "You do not have permission to remove reactions from this message", True),
        # bob cannot remove alice's reaction: he has none to remove
        (bob, {"id": "h0", "emoji": "ok", "channel": "history"}, "Failed to remove reaction", True),
        (alice, {"id": "h0", "emoji": "other", "channel": "history"}, "Failed to remove reaction", True),
        (alice, {"id": "nope", "emoji": "ok", "channel": "history"}, "Failed to remove reaction", True),
    ]
    for client, fields, text, has_src in steps:
        await client.send("message_react_remove", listener="x", **fields)
        await client.expect_error(text, src="message_react_remove" if has_src else None, listener="x")
    for c in (alice, bob, nora):
        await c.assert_silent()
    assert await reactions_of(bob, "history", "h0") == {"ok": [LOCAL + "alice"]}


async def test_react_wrong_id_type_keeps_the_connection(server):
    (alice,) = await online(server, "alice")
    await alice.send("message_react_add", channel="history", id=["h0"], emoji="x")
    await alice.expect_error("Invalid field 'id': expected string, got array", src="message_react_add")
    await alice.send("ping")
    await alice.expect("pong")


async def test_reactions_of_a_deleted_message_go_with_it(server):
    alice, adam = await online(server, "alice", "adam")
    await adam.send("message_react_add", channel="history", id="h0", emoji="ok")
    await adam.expect("message_react_add")
    await alice.drain()
    await adam.send("message_delete", channel="history", id="h0")
    await adam.expect("message_delete")
    await alice.send("message_react_remove", channel="history", id="h0", emoji="ok")
    await alice.expect("message_delete")
    await alice.expect_error("Failed to remove reaction", src="message_react_remove")
    await adam.send("message_react_remove", channel="history", id="h0", emoji="ok")
    await adam.expect_error("Failed to remove reaction", src="message_react_remove")


async def test_a_custom_server_emoji_reaction_as_the_official_client_sends_it(server):
    """The client reacts with `originChats://<server>/emojis/<id>`, past the 32 characters of a
    plain emoji with any real host name; anything else that long is still `Invalid emoji`."""
    alice, bob = await online(server, "alice", "bob")
    custom = "originChats://chat.example.org:5714/emojis/17"
    await alice.send("message_react_add", channel="history", id="h0", emoji=custom, listener="R")
    await alice.expect("message_react_add", emoji=custom, listener="R")
    await bob.expect("message_react_add", emoji=custom)
    assert await reactions_of(bob, "history", "h0") == {custom: [LOCAL + "alice"]}
    await alice.send("message_react_remove", channel="history", id="h0", emoji=custom, listener="U")
    await alice.expect("message_react_remove", emoji=custom, listener="U")
    for wrong in ("x" * 33, "originChats://chat.example.org/emojis/../../etc/passwd",
                  "originChats://" + "h" * 161 + "/emojis/1", "originChats://chat example org, spaced/emojis/1"):
        await alice.send("message_react_add", channel="history", id="h0", emoji=wrong)
        await alice.expect_error("Invalid emoji")
