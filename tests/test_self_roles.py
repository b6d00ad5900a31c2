"""Self-assignable roles (extended/moderation_log.md): self_role_add, self_role_remove,
self_roles_list — the list now works, roles are stored by name, and protected roles stay out."""

from __future__ import annotations

import sqlite3
from typing import Any

from originchats.store.db import db_path
from tests.client import Client, until_reply


async def ok(client: Client, cmd: str, **fields: Any) -> dict[str, Any]:
    await client.send(cmd, listener="ok", **fields)
    _, reply = await until_reply(client, "ok")
    assert reply["cmd"] != "error", reply
    return reply


async def setup(server) -> tuple[Client, Client, Client]:
    boss = await server.owner("boss")
    bob = await server.user("bob")
    carl = await server.user("carl")
    await ok(boss, "role_create", name="gamer", color="#00FF00", self_assignable=True, category="games")
    await ok(boss, "role_create", name="vip")
    await boss.drain()
    await bob.drain()
    await carl.drain()
    return boss, bob, carl


async def test_add_tells_everyone_then_replies(server):
    boss, bob, carl = await setup(server)
    await bob.send("self_role_add", role="gamer", listener="a")
    packet = {"cmd": "user_roles_get", "user": bob.username, "roles": ["user", "gamer"], "color": None}
    assert await bob.recv() == packet  # appended last: the color (first role's) does not change
    assert await bob.recv() == {"cmd": "self_role_add", "role": "gamer", "success": True,
                                "roles": ["user", "gamer"], "listener": "a"}
    assert await carl.recv() == packet
    assert await boss.recv() == packet
    await carl.assert_silent()
    await server.restart()
    carl = await server.user("carl")
    await carl.send("user_roles_get", user=bob.username)
    assert (await carl.expect("user_roles_get"))["roles"] == ["user", "gamer"]


async def test_remove(server):
    boss, bob, carl = await setup(server)
    await ok(bob, "self_role_add", role="gamer")
    await carl.drain()
    await bob.send("self_role_remove", role="gamer", listener="r")
    packet = {"cmd": "user_roles_get", "user": bob.username, "roles": ["user"], "color": None}
    assert await bob.recv() == packet
    assert await bob.recv() == {"cmd": "self_role_remove", "role": "gamer", "success": True, "roles": ["user"],
                                "listener": "r"}
    assert await carl.recv() == packet


async def test_a_role_given_by_id_is_stored_by_name(server):
    """The original stored the id string as a role name, which then matched nothing."""
    boss, bob, _ = await setup(server)
    gamer_id = (await ok(bob, "roles_list"))["roles"]["gamer"]["id"]
    reply = await ok(bob, "self_role_add", role=gamer_id)
    assert reply["role"] == gamer_id and reply["roles"] == ["user", "gamer"]
    await ok(bob, "self_role_remove", role=gamer_id)


async def test_errors(server):
    boss, bob, _ = await setup(server)
    await ok(bob, "self_role_add", role="gamer")
    cases = [
        ("self_role_add", {}, "Role name is required"),
        ("self_role_add", {"role": ""}, "Role name is required"),
        ("self_role_add", {"role": 4}, "Invalid field 'role': expected string, got number"),
        ("self_role_add", {"role": "nope"}, "Role not found"),
        ("self_role_add", {"role": "vip"}, "This role is not self-assignable"),
        ("self_role_add", {"role": "owner"}, "This role is not self-assignable"),
        ("self_role_add", {"role": "gamer"}, "You already have this role"),
        ("self_role_remove", {}, "Role name is required"),
        ("self_role_remove", {"role": "nope"}, "Role not found"),
        ("self_role_remove", {"role": "user"}, "This role is not self-assignable"),
        ("self_role_remove", {"role": "vip"}, "This role is not self-assignable"),
    ]
    for cmd, fields, error in cases:
        await bob.send(cmd, listener="e", **fields)
        _, reply = await until_reply(bob, "e")
        assert reply == {"cmd": "error", "src": cmd, "val": error, "listener": "e"}
    await ok(bob, "self_role_remove", role="gamer")
    await bob.send("self_role_remove", role="gamer", listener="e")
    _, reply = await until_reply(bob, "e")
    assert reply["val"] == "You don't have this role"


async def test_list_shows_names_and_what_the_caller_holds(server):
    """The original crashed (no reply) as soon as one self-assignable role existed."""
    boss, bob, _ = await setup(server)
    await ok(boss, "role_create", name="artist", self_assignable=True)
    await ok(bob, "self_role_add", role="artist")
    reply = await ok(bob, "self_roles_list")
    listed = reply["roles"]
    assert [r["name"] for r in listed] == ["gamer", "artist"]
    assert [r["assigned"] for r in listed] == [False, True]
    gamer = listed[0]
    assert gamer["color"] == "#00FF00" and gamer["category"] == "games" and gamer["self_assignable"] is True
    assert set(gamer) == {"name", "id", "description", "color", "hoisted", "permissions", "self_assignable",
                          "category", "position", "assigned"}
    await ok(boss, "role_update", name="gamer", self_assignable=False)
    assert [r["name"] for r in (await ok(bob, "self_roles_list"))["roles"]] == ["artist"]
    await ok(boss, "role_delete", name="artist")
    assert (await ok(bob, "self_roles_list"))["roles"] == []


async def test_a_self_role_that_opens_a_channel_pushes_the_new_channel_list(server):
    boss, bob, carl = await setup(server)
    await ok(boss, "channel_create", name="arcade", type="text", permissions={"view": ["gamer", "owner"], "send": ["gamer", "owner"]})
    await bob.drain()
    await bob.send("self_role_add", role="gamer", listener="a")
    pushed, _ = await until_reply(bob, "a")
    pushed += await bob.drain()  # the channel list follows the reply (coalesced per tick)
    assert [p["cmd"] for p in pushed] == ["user_roles_get", "channels_get"]
    assert [ch["name"] for ch in pushed[1]["val"]] == ["general", "arcade"]
    assert (await carl.expect("user_roles_get"))["user"] == bob.username
    await carl.assert_silent()  # carl's channel list did not change
    await ok(boss, "message_new", channel="arcade", content="gg")
    assert (await bob.expect("message_new", channel="arcade"))["message"]["content"] == "gg"


async def test_self_roles_are_audit_logged(server):
    boss, bob, _ = await setup(server)
    await ok(bob, "self_role_add", role="gamer")
    await ok(bob, "self_role_remove", role="gamer")
    await server.shutdown()
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    try:
        rows = con.execute("SELECT category, action, actor_id, target, details FROM audit_log"
                           " WHERE action LIKE 'self_role_%' ORDER BY rowid").fetchall()
    finally:
        con.close()
    assert rows == [("role_management", "self_role_add", bob.username, bob.username, '{"role":"gamer"}'),
                    ("role_management", "self_role_remove", bob.username, bob.username, '{"role":"gamer"}')]
