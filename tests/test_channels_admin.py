"""Channel administration through the protocol: channel_create / channel_update / channel_move /
channel_delete (core.md §3), the channels_get pushes that follow every change (README §10), stable
channel ids across renames and restarts, and channel names that are never paths."""

from __future__ import annotations

import sqlite3
from typing import Any

from originchats.store.db import db_path
from tests.client import Client, until_reply

DEFAULT_BLOCK = {"view": ["owner"], "send": ["owner"], "delete": ["owner"], "delete_own": ["user"],
                 "edit_own": ["user"], "react": ["user"], "pin": ["owner"], "create_thread": ["owner"]}
OPEN = {"view": ["user"], "send": ["user"]}


def names(push: dict[str, Any]) -> list[str]:
    assert push["cmd"] == "channels_get" and "listener" not in push, push
    return [ch["name"] for ch in push["val"]]


async def reply_and_pushes(client: Client, listener: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The packets around the caller's reply (the channels_get pushes are coalesced per tick, so
    they follow the reply), and the reply."""
    before, reply = await until_reply(client, listener)
    return before + await client.drain(), reply


async def create(owner: Client, name: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("type", "text")
    await owner.send("channel_create", name=name, listener="create", **fields)
    _, reply = await reply_and_pushes(owner, "create")
    assert reply["cmd"] == "channel_create", reply
    return reply


async def history(client: Client, channel: str) -> list[str]:
    await client.send("messages_get", channel=channel)
    packet = await client.expect("messages_get", channel=channel)
    return [m["content"] for m in packet["messages"]]


async def post(client: Client, channel: str, content: str) -> None:
    await client.send("message_new", channel=channel, content=content, listener="post")
    _, reply = await reply_and_pushes(client, "post")
    assert reply["cmd"] == "message_new", reply


# ---- channel_create ---------------------------------------------------------------------------


async def test_create_replies_with_the_stored_channel_and_pushes_to_those_who_can_see_it(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    stranger = await server.connect()  # not authenticated: told nothing
    await boss.drain()
    await boss.send("channel_create", name="news", type="text", description="Daily news", display_name="News",
                    permissions={"view": ["user"], "send": ["owner"], "edit_own": []}, wallpaper="x", listener="c")
    reply = await boss.expect("channel_create", listener="c", created=True)
    push = await boss.expect("channels_get")  # after the reply: pushes are coalesced per tick
    assert names(push) == ["general", "news"]
    # empty lists are dropped, keys other than the documented ones are ignored at creation
    assert reply["channel"] == {"type": "text", "name": "news", "description": "Daily news", "display_name": "News",
                                "permissions": {"view": ["user"], "send": ["owner"]}}
    assert push["val"][1] == reply["channel"]  # the stored object, without computed keys
    assert names(await bob.expect("channels_get")) == ["general", "news"]
    await bob.assert_silent()
    await stranger.assert_silent()
    await bob.send("channels_get")
    listed = await bob.expect("channels_get")
    assert [ch["name"] for ch in listed["val"]] == ["general", "news"]
    assert listed["val"][1]["last_message"] is None


async def test_create_without_permissions_gets_the_default_block_and_only_owners_are_told(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await boss.drain()
    reply = await create(boss, "staff")
    assert reply["channel"]["permissions"] == DEFAULT_BLOCK
    await bob.assert_silent()  # bob's visible list did not change
    await bob.send("channels_get")
    assert [ch["name"] for ch in (await bob.expect("channels_get"))["val"]] == ["general"]


async def test_voice_forum_and_separator_channels_can_be_created(server):
    boss = await server.owner("boss")
    await boss.drain()
    forum = await create(boss, "ideas", type="forum", permissions=OPEN)
    assert forum["channel"]["type"] == "forum"
    voice = await create(boss, "talk", type="voice", permissions=OPEN, size=5)
    assert "size" not in voice["channel"]  # size is kept for separators only
    sep = await create(boss, "---", type="separator", permissions=OPEN, size=12)
    assert sep["channel"]["size"] == 12
    await boss.send("channels_get")
    listed = {ch["name"]: ch for ch in (await boss.expect("channels_get"))["val"]}
    assert listed["ideas"]["threads"] == []
    assert listed["talk"]["voice_state"] == []
    assert "last_message" not in listed["---"]


async def test_create_errors_in_documented_order(server):
    bob = await server.user("bob")
    await bob.send("channel_create", name="x", type="text")
    await bob.expect_error("Access denied: 'manage_channels' permission required", src="channel_create")
    boss = await server.owner("boss")
    await boss.drain()
    cases = [
        ({"type": "text"}, "Channel name is required"),
        ({"name": "", "type": "text"}, "Channel name is required"),
        ({"name": "   ", "type": "text"}, "Channel name is required"),
        ({"name": "x"}, "Channel type is required (text, voice, or separator)"),
        ({"name": "x", "type": "stage"}, "Invalid channel type, must be text, voice, or separator"),
        ({"name": "x", "type": 3}, "Invalid channel type, must be text, voice, or separator"),
        ({"name": "general", "type": "text"}, "Channel already exists"),
        ({"name": 42, "type": "text"}, "Invalid field 'name': expected string, got number"),
        ({"name": ["a"], "type": "text"}, "Invalid field 'name': expected string, got array"),
        ({"name": "x" * 101, "type": "text"}, "Channel name too long (max 100 characters)"),
        ({"name": "bad\nname", "type": "text"}, "Channel name contains invalid characters"),
        ({"name": "x", "type": "text", "permissions": ["view"]}, "Invalid field 'permissions': expected object, got array"),
        ({"name": "x", "type": "text", "permissions": {"view": "user"}},
         "Invalid field 'permissions.view': expected array of strings"),
        ({"name": "x", "type": "text", "description": 5}, "Invalid field 'description': expected string, got number"),
    ]
    for fields, error in cases:
        await boss.send("channel_create", **fields)
        await boss.expect_error(error, src="channel_create")
    await boss.send("channels_get")
    assert [ch["name"] for ch in (await boss.expect("channels_get"))["val"]] == ["general"]
    await create(boss, "y" * 100)  # the limit itself is fine


async def test_a_path_like_name_is_just_a_name(server):
    """`../users` was a file path in the original (messages appended to db/users.json)."""
    boss = await server.owner("boss")
    await server.user("bob")
    await boss.drain()
    await create(boss, "../users", permissions=OPEN)
    await create(boss, "/etc/passwd", permissions=OPEN)
    await post(boss, "../users", "not a user record")
    assert await history(boss, "../users") == ["not a user record"]
    assert await history(boss, "/etc/passwd") == []
    await server.restart()
    bob = await server.user("bob")  # accounts are intact
    assert await history(bob, "../users") == ["not a user record"]
    boss = await server.user("boss")
    await boss.send("channel_delete", name="../users", listener="d")
    _, reply = await reply_and_pushes(boss, "d")
    assert reply == {"cmd": "channel_delete", "name": "../users", "deleted": True, "listener": "d"}
    await server.restart()
    bob = await server.user("bob")
    await bob.send("users_list")
    listed = await bob.expect("users_list")
    assert {u["username"] for u in listed["users"]} == {"USR:local_boss", "USR:local_bob"}


# ---- channel_update ---------------------------------------------------------------------------


async def test_renaming_keeps_history_also_after_restart(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await boss.drain()
    await post(bob, "general", "before the rename")
    await boss.drain()
    await bob.drain()
    await boss.send("channel_update", current_name="general", updates={"name": "lobby"}, listener="u")
    pushed, reply = await reply_and_pushes(boss, "u")
    assert [names(p) for p in pushed] == [["lobby"]]
    assert reply["cmd"] == "channel_update" and reply["updated"] is True
    assert reply["channel"]["name"] == "lobby" and reply["channel"]["display_name"] == "General"
    assert names(await bob.expect("channels_get")) == ["lobby"]
    assert await history(bob, "lobby") == ["before the rename"]
    await bob.send("messages_get", channel="general")
    await bob.expect_error("Channel not found", src="messages_get")
    await post(bob, "lobby", "after the rename")
    await server.restart()
    bob = await server.user("bob")
    assert await history(bob, "lobby") == ["before the rename", "after the rename"]
    await bob.send("channels_get")
    listed = (await bob.expect("channels_get"))["val"]
    assert [ch["name"] for ch in listed] == ["lobby"]
    assert listed[0]["last_message_id"] is not None


async def test_a_rename_back_and_forth_and_a_new_channel_under_the_old_name_keep_histories_apart(server):
    boss = await server.owner("boss")
    await boss.drain()
    await post(boss, "general", "one")
    await boss.drain()
    for current, new in (("general", "a"), ("a", "b")):
        await boss.send("channel_update", current_name=current, updates={"name": new}, listener="u")
        _, reply = await reply_and_pushes(boss, "u")
        assert reply["cmd"] == "channel_update"
    await create(boss, "general", permissions=OPEN)
    await post(boss, "general", "two")
    await server.restart()
    boss = await server.user("boss")
    assert await history(boss, "b") == ["one"]
    assert await history(boss, "general") == ["two"]


async def test_permission_change_tells_exactly_those_whose_view_changed(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await create(boss, "hidden")  # default block: owners only
    await boss.drain()
    await bob.drain()
    # hide general from users: bob loses it, boss (owner) gains nothing and keeps "hidden" only
    await boss.send("channel_update", current_name="general", updates={"permissions": {"view": ["owner"], "send": ["owner"]}},
                    listener="u")
    pushed, reply = await reply_and_pushes(boss, "u")
    assert [names(p) for p in pushed] == [["general", "hidden"]]  # general's permissions changed for boss too
    assert reply["channel"]["permissions"] == {"view": ["owner"], "send": ["owner"]}
    assert names(await bob.expect("channels_get")) == []
    # bob no longer receives general's messages
    await post(boss, "general", "owners only")
    await bob.assert_silent()
    # a change to a channel bob cannot see tells bob nothing
    await boss.send("channel_update", current_name="hidden", updates={"description": "secret"}, listener="v")
    pushed, _ = await reply_and_pushes(boss, "v")
    assert len(pushed) == 1
    await bob.assert_silent()


async def test_update_merges_other_keys_and_clears_them_with_null(server):
    boss = await server.owner("boss")
    await boss.drain()
    await boss.send("channel_update", current_name="general",
                    updates={"wallpaper": "https://x/y.png", "description": None, "type": "forum",
                             "last_message": 5}, listener="u")
    _, reply = await reply_and_pushes(boss, "u")
    ch = reply["channel"]
    assert ch["wallpaper"] == "https://x/y.png" and ch["type"] == "forum"
    assert "description" not in ch and "last_message" not in ch
    await boss.send("channel_update", current_name="general", updates={"wallpaper": None, "type": "text"},
                    listener="v")
    _, reply = await reply_and_pushes(boss, "v")
    assert "wallpaper" not in reply["channel"] and reply["channel"]["type"] == "text"
    await server.restart()
    boss = await server.user("boss")
    await boss.send("channels_get")
    stored = (await boss.expect("channels_get"))["val"][0]
    assert "wallpaper" not in stored and "description" not in stored


async def test_update_errors_in_documented_order(server):
    bob = await server.user("bob")
    await bob.send("channel_update", current_name="general", updates={"name": "x"})
    await bob.expect_error("Access denied: 'manage_channels' permission required", src="channel_update")
    boss = await server.owner("boss")
    await create(boss, "other", permissions=OPEN)
    await boss.drain()
    cases = [
        ({"updates": {"name": "x"}}, "current_name is required"),
        ({"current_name": "general"}, "updates object is required"),
        ({"current_name": "general", "updates": {}}, "updates object is required"),
        ({"current_name": "general", "updates": ["name"]}, "updates object is required"),
        ({"current_name": "nope", "updates": {"name": "x"}}, "Channel not found"),
        ({"current_name": "general", "updates": {"type": "stage"}}, "Invalid channel type"),
        ({"current_name": "general", "updates": {"name": "other"}}, "Channel with new name already exists"),
        ({"current_name": "general", "updates": {"name": ""}}, "Channel name is required"),
        ({"current_name": "general", "updates": {"name": None}}, "Channel name is required"),
        ({"current_name": "general", "updates": {"name": "z" * 101}}, "Channel name too long (max 100 characters)"),
        ({"current_name": "general", "updates": {"permissions": None}},
         "Invalid field 'permissions': expected object, got null"),
        ({"current_name": "general", "updates": {"size": "big"}}, "Invalid field 'size': expected integer, got string"),
    ]
    for fields, error in cases:
        await boss.send("channel_update", **fields)
        await boss.expect_error(error, src="channel_update")
    await boss.send("channels_get")
    assert [ch["name"] for ch in (await boss.expect("channels_get"))["val"]] == ["general", "other"]


# ---- channel_move -----------------------------------------------------------------------------


async def test_move_reorders_pushes_and_persists(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    for name in ("a", "b"):
        await create(boss, name, permissions=OPEN)
    await boss.drain()
    await bob.drain()
    await boss.send("channel_move", name="b", position=0, listener="m")
    pushed, reply = await reply_and_pushes(boss, "m")
    assert reply == {"cmd": "channel_move", "name": "b", "position": 0, "moved": True, "listener": "m"}
    assert [names(p) for p in pushed] == [["b", "general", "a"]]
    assert names(await bob.expect("channels_get")) == ["b", "general", "a"]
    # past the end: clamped, but the reply echoes the request
    await boss.send("channel_move", name="general", position=99, listener="n")
    _, reply = await reply_and_pushes(boss, "n")
    assert reply["position"] == 99 and reply["moved"] is True
    # JSON true counts as 1, as in the original
    await boss.send("channel_move", name="general", position=True, listener="o")
    _, reply = await reply_and_pushes(boss, "o")
    assert reply["position"] is True
    await server.restart()
    boss = await server.user("boss")
    await boss.send("channels_get")
    assert [ch["name"] for ch in (await boss.expect("channels_get"))["val"]] == ["b", "general", "a"]


async def test_move_of_an_unknown_channel_is_not_an_error(server):
    boss = await server.owner("boss")
    await boss.drain()
    await boss.send("channel_move", name="nope", position=1)
    assert await boss.recv() == {"cmd": "channel_move", "name": "nope", "position": 1, "moved": False}
    await boss.assert_silent()


async def test_move_errors(server):
    bob = await server.user("bob")
    await bob.send("channel_move", name="general", position=0)
    await bob.expect_error("Access denied: 'manage_channels' permission required", src="channel_move")
    boss = await server.owner("boss")
    await boss.drain()
    cases = [
        ({"position": 0}, "Channel name is required"),
        ({"name": "general"}, "Position is required"),
        ({"name": "general", "position": None}, "Position is required"),
        ({"name": "general", "position": -1}, "Position must be a non-negative integer"),
        ({"name": "general", "position": 1.5}, "Position must be a non-negative integer"),
        ({"name": "general", "position": "1"}, "Position must be a non-negative integer"),
        ({"name": 7, "position": 0}, "Invalid field 'name': expected string, got number"),
    ]
    for fields, error in cases:
        await boss.send("channel_move", **fields)
        await boss.expect_error(error, src="channel_move")


# ---- channel_delete ---------------------------------------------------------------------------


async def test_delete_removes_the_channel_and_its_messages(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await create(boss, "Temp", permissions=OPEN)
    await post(bob, "Temp", "going away")
    await boss.drain()
    await bob.drain()
    await boss.send("channel_delete", name="temp", listener="d")  # case-insensitive fallback
    pushed, reply = await reply_and_pushes(boss, "d")
    assert reply == {"cmd": "channel_delete", "name": "Temp", "deleted": True, "listener": "d"}
    assert [names(p) for p in pushed] == [["general"]]
    assert names(await bob.expect("channels_get")) == ["general"]
    await bob.send("messages_get", channel="Temp")
    await bob.expect_error("Channel not found", src="messages_get")
    await create(boss, "Temp", permissions=OPEN)  # a new channel with the old name starts empty
    assert names(await bob.expect("channels_get")) == ["general", "Temp"]
    assert await history(bob, "Temp") == []
    await server.restart()
    bob = await server.user("bob")
    assert await history(bob, "Temp") == []


async def test_delete_errors(server):
    bob = await server.user("bob")
    await bob.send("channel_delete", name="general")
    await bob.expect_error("Access denied: 'manage_channels' permission required", src="channel_delete")
    boss = await server.owner("boss")
    await boss.drain()
    await boss.send("channel_delete")
    await boss.expect_error("Channel name is required", src="channel_delete")
    await boss.send("channel_delete", name="nope")
    await boss.expect_error("Channel not found", src="channel_delete")
    await boss.send("channels_get")
    assert [ch["name"] for ch in (await boss.expect("channels_get"))["val"]] == ["general"]


# ---- who may, and what is recorded ------------------------------------------------------------


async def test_an_admin_made_through_user_roles_set_manages_channels(server):
    boss = await server.owner("boss")
    ann = await server.user("ann")
    await boss.drain()
    await boss.send("user_roles_set", user=ann.username, roles=["admin", "user"], listener="r")
    await until_reply(boss, "r")
    await ann.drain()
    await ann.send("channel_create", name="ops", type="voice", permissions={"view": ["admin"]}, listener="c")
    pushed, reply = await reply_and_pushes(ann, "c")
    assert reply["created"] is True and [names(p) for p in pushed] == [["general", "ops"]]


async def test_channel_changes_are_audit_logged(server):
    boss = await server.owner("boss")
    await boss.drain()
    await create(boss, "a", permissions=OPEN)
    for cmd, fields in (("channel_update", {"current_name": "a", "updates": {"name": "b"}}),
                        ("channel_move", {"name": "b", "position": 0}),
                        ("channel_move", {"name": "missing", "position": 0}),
                        ("channel_delete", {"name": "b"})):
        await boss.send(cmd, listener="x", **fields)
        await reply_and_pushes(boss, "x")
    await server.shutdown()
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    try:
        rows = con.execute("SELECT category, action, target, details, actor_id FROM audit_log"
                           " WHERE category = 'channel_management' ORDER BY rowid").fetchall()
    finally:
        con.close()
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("channel_create", "a", '{"type":"text"}'),
        ("channel_update", "a", '{"name":"b"}'),
        ("channel_move", "b", '{"position":0}'),  # an unknown channel is not "moved": not logged
        ("channel_delete", "b", "{}"),
    ]
    assert {r[4] for r in rows} == {"USR:local_boss"}
