"""message_pin, message_unpin, messages_pinned (extended/reactions_pins_replies.md, "Pins"): reply
and broadcast shapes, audiences, the error order, the `pinned` flag in every message object, the
per-channel limit, and the fixed flaws: nothing is broadcast or audit-logged for a message that does
not exist, `message_unpin` reports the new state, `!role` denials count in `pin` lists, and deleting
a message or a channel takes its pins with it, after a restart too."""

from __future__ import annotations

import pytest

from originchats.config import LimitsSection, StorageSection
from originchats.core import writes as w
from originchats.core.model import Channel
from tests.msgworld import LOCAL, channel_id, msg, online, post, stored_rows, world_config

PINBOARD = channel_id("pinboard")
SEEDED = [
    # members pin here, except those whose list starts with `muted`; `hidden` lets members pin but
    # not see: pinning needs both
    w.ChannelSaved(Channel(id=PINBOARD, name="pinboard", permissions={
        "view": ("user", "muted"), "send": ("user",), "pin": ("!muted", "user")})),
    w.ChannelSaved(Channel(id=channel_id("hidden"), name="hidden", permissions={
        "view": ("admin",), "send": ("user",), "pin": ("user",)})),
    *[msg(f"p{i}", PINBOARD, LOCAL + "alice", f"pin me {i}", 1000.0 + i) for i in range(4)],
    msg("secret", channel_id("hidden"), LOCAL + "adam", "hidden text", 1000.0),
]
#: the search index's query for rows holding "pin me" (each of its trigrams)
PIN_ME = '"pin" AND "in " AND "n m" AND " me"'


@pytest.fixture
def config(tmp_path):
    # search_batch = 1: every commit puts the messages it finds waiting into the search index
    return world_config(tmp_path, SEEDED, storage=StorageSection(data_dir=str(tmp_path / "data"), synchronous="normal",
                                                                 search_batch=1))


async def read(client, cmd: str, **fields) -> dict:
    """The reply to one request (broadcasts that arrive first are skipped)."""
    await client.send(cmd, listener="read", **fields)
    reply = await client.recv()
    while "listener" not in reply:  # broadcasts, pushes
        reply = await client.recv()
    assert reply.get("listener") == "read" and reply["cmd"] == cmd, reply
    return reply


async def pinned_flags(client, mid: str) -> list[bool]:
    """The `pinned` flag of message `mid` in every reader that returns it."""
    flags = []
    page = await read(client, "messages_get", channel="pinboard")
    flags += [m["pinned"] for m in page["messages"] if m["id"] == mid]
    flags.append((await read(client, "message_get", channel="pinboard", id=mid))["message"]["pinned"])
    page = await read(client, "messages_around", channel="pinboard", around=mid)
    flags += [m["pinned"] for m in page["messages"] if m["id"] == mid]
    page = await read(client, "messages_search", channel="pinboard", query="pin me")
    flags += [m["pinned"] for m in page["results"] if m["id"] == mid]
    assert len(flags) == 4
    return flags


async def test_pin_and_unpin_reach_viewers_and_every_reader_shows_the_flag(server):
    alice, bob, umi = await online(server, "alice", "bob", "umi")
    await alice.send("message_pin", channel="pinboard", id="p1", listener="P")
    packet = {"cmd": "message_pin", "id": "p1", "channel": "pinboard", "pinned": True, "global": True}
    assert await bob.recv() == packet
    assert await umi.recv() == packet
    assert await alice.recv() == {**packet, "listener": "P"}
    assert await pinned_flags(bob, "p1") == [True] * 4
    assert await pinned_flags(bob, "p2") == [False] * 4
    pins = await read(bob, "messages_pinned", channel="pinboard")
    assert pins == {"cmd": "messages_pinned", "channel": "pinboard", "messages": pins["messages"], "listener": "read"}
    assert [m["id"] for m in pins["messages"]] == ["p1"]
    assert pins["messages"][0]["pinned"] is True and pins["messages"][0]["user"] == LOCAL + "alice"

    # an edit keeps the pin, and its broadcast says so
    await alice.send("message_edit", channel="pinboard", id="p1", content="pin me 1 (edited)")
    edit = await bob.expect("message_edit")
    assert edit["message"]["pinned"] is True
    await alice.drain()
    await umi.drain()

    await umi.send("message_unpin", channel="pinboard", id="p1", listener="U")
    unpinned = {"cmd": "message_unpin", "id": "p1", "channel": "pinboard", "pinned": False, "global": True}
    assert await alice.recv() == unpinned  # the original said `true` here, meaning "found"
    assert await bob.recv() == unpinned
    assert await umi.recv() == {**unpinned, "listener": "U"}
    assert await pinned_flags(bob, "p1") == [False] * 4
    assert (await read(bob, "messages_pinned", channel="pinboard"))["messages"] == []


async def test_pins_are_listed_newest_first_and_survive_a_restart(server):
    (alice,) = await online(server, "alice")
    for mid in ("p2", "p0", "p3"):
        await alice.send("message_pin", channel="pinboard", id=mid)
        await alice.expect("message_pin", pinned=True)
    again = await read(alice, "message_pin", channel="pinboard", id="p0")  # pinning twice is fine
    assert again["pinned"] is True
    pins = (await read(alice, "messages_pinned", channel="pinboard"))["messages"]
    assert [m["id"] for m in pins] == ["p3", "p2", "p0"]  # by message order, not pin order
    await server.restart()
    (alice,) = await online(server, "alice")
    pins = (await read(alice, "messages_pinned", channel="pinboard"))["messages"]
    assert [m["id"] for m in pins] == ["p3", "p2", "p0"]
    assert stored_rows(server.config, "SELECT id FROM messages WHERE pinned = 1 ORDER BY seq") == [
        ("p0",), ("p2",), ("p3",)]


async def test_the_official_clients_unpin_is_message_pin_with_pinned_false(server):
    """The web client's "Unpin" sends `message_pin` with `"pinned": false`; the original ignored the
    field and pinned again."""
    alice, bob = await online(server, "alice", "bob")
    await alice.send("message_pin", channel="pinboard", id="p1")
    await alice.expect("message_pin", pinned=True)
    await bob.expect("message_pin")
    await alice.send("message_pin", channel="pinboard", id="p1", pinned=False, listener="u")
    packet = {"cmd": "message_pin", "id": "p1", "channel": "pinboard", "pinned": False, "global": True}
    assert await bob.recv() == packet
    assert await alice.recv() == {**packet, "listener": "u"}
    assert (await read(alice, "messages_pinned", channel="pinboard"))["messages"] == []
    # anything but `false` pins, as before
    for value in (True, None, 0, "false"):
        reply = await read(alice, "message_pin", channel="pinboard", id="p1", pinned=value)
        assert reply["pinned"] is True, value
    await bob.drain()


PIN_ERRORS = [  # (who, fields, text, with src)
    ("nora", {"channel": "pinboard", "id": "p0"}, "User roles not found", True),
    ("alice", {"id": "p0"}, "Channel name not provided", True),
    ("alice", {"channel": "", "id": "p0"}, "Channel name not provided", True),
    ("alice", {"channel": "nowhere", "id": "p0"}, "You do not have permission to pin messages in this channel", True),
    ("alice", {"channel": "general"}, "You do not have permission to pin messages in this channel", True),
    # `pin` lists alice, but she cannot see the channel
    ("alice", {"channel": "hidden", "id": "secret"}, "You do not have permission to pin messages in this channel", True),
    # `!muted` comes first in the list and mia's roles start with `muted` (the original let her pin)
    ("mia", {"channel": "pinboard", "id": "p0"}, "You do not have permission to pin messages in this channel", True),
    ("alice", {"channel": "pinboard"}, "Message ID is required", True),
    ("alice", {"channel": "pinboard", "id": ""}, "Message ID is required", True),
    # the original answered `pinned: false` to everyone, and audit-logged it
    ("alice", {"channel": "pinboard", "id": "nope"}, "Message not found", True),
    ("alice", {"channel": "pinboard", "id": "h0"}, "Message not found", True),  # a message of another channel
    ("alice", {"channel": "pinboard", "id": 5}, "Invalid field 'id': expected string, got number", True),
    ("alice", {"channel": 5, "id": "p0"}, "Invalid field 'channel': expected string, got number", True),
    ("alice", {"thread_id": "t1", "id": "p0"}, "Thread not found", True),
]


@pytest.mark.parametrize("cmd", ["message_pin", "message_unpin"])
async def test_pin_errors_in_documented_order_tell_nobody(server, cmd):
    *clients, boss = await online(server, "alice", "bob", "mia", "nora", owner="boss")
    members = dict(zip(("alice", "bob", "mia", "nora"), clients))
    for i, (who, fields, text, with_src) in enumerate(PIN_ERRORS):
        await members[who].send(cmd, listener=f"e{i}", **fields)
        await members[who].expect_error(text, src=cmd if with_src else None, listener=f"e{i}")
    for client in (*members.values(), boss):
        await client.assert_silent()
    log = await read(boss, "modlog_get", category="message_moderation")
    assert log["entries"] == []


async def test_pins_are_audit_logged(server):
    alice, boss = await online(server, "alice", owner="boss")
    await alice.send("message_pin", channel="pinboard", id="p0")
    await alice.expect("message_pin")
    await alice.send("message_unpin", channel="pinboard", id="p0")
    await alice.expect("message_unpin")
    await boss.drain()
    entries = (await read(boss, "modlog_get", category="message_moderation"))["entries"]
    assert [(e["action"], e["target_id"], e["actor_id"], e["details"]) for e in entries] == [
        ("message_unpin", "p0", LOCAL + "alice", {"channel": "pinboard"}),
        ("message_pin", "p0", LOCAL + "alice", {"channel": "pinboard"})]


async def test_messages_pinned_errors(server):
    alice, mia = await online(server, "alice", "mia")
    await alice.send("messages_pinned")
    await alice.expect_error("Channel name not provided", src="messages_pinned")
    for channel in ("hidden", "nowhere", "lobby"):  # not viewable, missing, not a text channel
        await alice.send("messages_pinned", channel=channel)
        await alice.expect_error("Access denied to this channel", src=None)
    await alice.send("messages_pinned", thread_id="t1")
    await alice.expect_error("Thread not found", src="messages_pinned")
    await mia.send("messages_pinned", channel="pinboard")  # viewing is enough to read the list
    assert (await mia.expect("messages_pinned"))["messages"] == []


async def test_deleting_a_pinned_message_or_its_channel_takes_the_pin(server):
    alice, bob, boss = await online(server, "alice", "bob", owner="boss")
    for mid in ("p0", "p1"):
        await alice.send("message_pin", channel="pinboard", id=mid)
        await alice.expect("message_pin")
    await alice.send("message_delete", channel="pinboard", id="p1")
    await alice.expect("message_delete")
    assert [m["id"] for m in (await read(bob, "messages_pinned", channel="pinboard"))["messages"]] == ["p0"]
    await server.restart()
    bob, boss = await online(server, "bob", owner="boss")
    assert [m["id"] for m in (await read(bob, "messages_pinned", channel="pinboard"))["messages"]] == ["p0"]
    # a new channel of the same name starts with no pins and nothing to find
    assert stored_rows(server.config, f"SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH '{PIN_ME}'") == [(3,)]
    await read(boss, "channel_delete", name="pinboard")
    await read(boss, "channel_create", name="pinboard", type="text", permissions={"view": ["user"], "send": ["user"]})
    await bob.drain()
    assert (await read(bob, "messages_pinned", channel="pinboard"))["messages"] == []
    assert (await read(bob, "messages_search", channel="pinboard", query="pin me"))["results"] == []
    assert stored_rows(server.config, "SELECT COUNT(*) FROM messages WHERE channel_id = ?", (PINBOARD,)) == [(0,)]
    assert stored_rows(server.config, f"SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH '{PIN_ME}'") == [(0,)]
    assert stored_rows(server.config, "SELECT COUNT(*) FROM search_pending") == [(0,)]


async def test_a_channel_holds_at_most_pins_per_channel_pins(make_server):
    server = await make_server(limits=LimitsSection(pins_per_channel=2))
    boss = await server.owner("boss")  # `general` has no `pin` list: the default is the owner
    ids = [(await post(boss, "general", f"m{i}"))["id"] for i in range(4)]
    for mid in ids[:2]:
        await boss.send("message_pin", channel="general", id=mid)
        await boss.expect("message_pin", pinned=True)
    await boss.send("message_pin", channel="general", id=ids[2])
    await boss.expect_error("Too many pinned messages in this channel (max 2)", src="message_pin")
    await boss.send("message_pin", channel="general", id=ids[0])  # already pinned: fine
    await boss.expect("message_pin", pinned=True)
    await boss.send("message_unpin", channel="general", id=ids[0])
    await boss.expect("message_unpin")
    await boss.send("message_pin", channel="general", id=ids[3])
    await boss.expect("message_pin", pinned=True)
    await boss.send("messages_pinned", channel="general")
    assert [m["id"] for m in (await boss.expect("messages_pinned"))["messages"]] == [ids[3], ids[1]]
