"""Roles through the protocol (core.md §5-6): roles_list, role_create/update/set/reorder/delete,
role_permissions_set/get, user_roles_get/set; roles_list pushed to ALL before each reply; renames
followed by users and channels; deletes stripping users; live roles for broadcast filtering."""

from __future__ import annotations

import sqlite3
from typing import Any

from originchats.store.db import db_path
from tests.client import Client, until_reply

DEFAULT_ORDER = ["owner", "admin", "moderator", "user"]


async def ok(client: Client, cmd: str, **fields: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Send `cmd`; return (packets before the reply, the reply), asserting it is not an error."""
    await client.send(cmd, listener="ok", **fields)
    before, reply = await until_reply(client, "ok")
    assert reply["cmd"] != "error", reply
    return before, reply


async def roles(client: Client) -> dict[str, Any]:
    await client.send("roles_list")
    return (await client.expect("roles_list"))["roles"]


async def roles_of(client: Client, username: str) -> list[str]:
    await client.send("user_roles_get", user=username)
    return (await client.expect("user_roles_get"))["roles"]


async def visible(client: Client) -> list[str]:
    await client.send("channels_get")
    return [ch["name"] for ch in (await client.expect("channels_get"))["val"]]


# ---- reading ----------------------------------------------------------------------------------


async def test_roles_list_shows_the_default_roles_in_creation_order(server):
    bob = await server.user("bob")
    listed = await roles(bob)
    assert list(listed) == DEFAULT_ORDER
    assert listed["owner"]["permissions"] == ["administrator"] and listed["owner"]["position"] == 0
    assert set(listed["user"]) == {"id", "description", "color", "hoisted", "permissions", "self_assignable",
                                   "category", "position"}


async def test_role_permissions_get(server):
    bob = await server.user("bob")
    user_id = (await roles(bob))["user"]["id"]
    for key in ({"name": "user"}, {"id": user_id}):
        await bob.send("role_permissions_get", **key)
        reply = await bob.expect("role_permissions_get", id=user_id, name="user")
        assert "send_messages" in reply["permissions"]
    await bob.send("role_permissions_get")
    await bob.expect_error("Role id or name is required", src="role_permissions_get")
    await bob.send("role_permissions_get", name="nope")
    await bob.expect_error("Role not found", src="role_permissions_get")


# ---- role_create ------------------------------------------------------------------------------


async def test_create_pushes_roles_list_to_all_before_the_reply(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await boss.drain()
    await boss.send("role_create", name="vip", color="#00FF00", permissions=["send_messages"], hoisted=True,
                    category="perks", listener="c")
    pushed = await boss.expect("roles_list")
    reply = await boss.expect("role_create", listener="c", name="vip")
    assert "listener" not in pushed
    vip = pushed["roles"]["vip"]
    assert reply["id"] == vip["id"]
    assert vip == {"id": reply["id"], "description": None, "color": "#00FF00", "hoisted": True,
                   "permissions": ["send_messages"], "self_assignable": False, "category": "perks", "position": 4}
    assert (await bob.expect("roles_list"))["roles"] == pushed["roles"]
    await bob.assert_silent()
    await server.restart()
    bob = await server.user("bob")
    assert (await roles(bob))["vip"] == vip


async def test_create_errors(server):
    bob = await server.user("bob")
    await bob.send("role_create", name="x")
    await bob.expect_error("Access denied: 'manage_roles' permission required", src="role_create")
    boss = await server.owner("boss")
    await boss.drain()
    cases = [
        ({}, "Role name is required"),
        ({"name": ""}, "Role name is required"),
        ({"name": "   "}, "Role name is required"),
        ({"name": "moderator", "self_assignable": True}, "Role 'moderator' cannot be made self-assignable"),
        ({"name": "admin", "self_assignable": True}, "Role 'admin' cannot be made self-assignable"),
        ({"name": "user"}, "Role already exists"),
        ({"name": 5}, "Invalid field 'name': expected string, got number"),
        ({"name": "r" * 101}, "Role name too long (max 100 characters)"),
        ({"name": "!muted"}, "Role name contains invalid characters"),
        ({"name": "a\tb"}, "Role name contains invalid characters"),
        ({"name": "x", "permissions": "administrator"}, "Invalid field 'permissions': expected array or object, got string"),
        ({"name": "x", "permissions": [1]}, "Invalid field 'permissions': expected array of strings"),
        ({"name": "x", "hoisted": "yes"}, "Invalid field 'hoisted': expected boolean, got string"),
    ]
    for fields, error in cases:
        await boss.send("role_create", **fields)
        await boss.expect_error(error, src="role_create")
    assert list(await roles(boss)) == DEFAULT_ORDER


async def test_new_roles_go_below_every_existing_role(server):
    boss = await server.owner("boss")
    await boss.drain()
    await ok(boss, "role_set", name="user", data={"position": 7})
    _, reply = await ok(boss, "role_create", name="late")
    assert (await roles(boss))["late"]["position"] == 8


# ---- role_update / role_set / role_permissions_set ---------------------------------------------


async def test_update_changes_fields_and_replies_with_the_real_name(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await ok(boss, "role_create", name="vip")
    await boss.drain()
    await bob.drain()
    await boss.send("role_update", name="vip", description="Very", color=None, hoisted=True,
                    permissions=["add_reactions"], category="c", listener="u")
    pushed = await boss.expect("roles_list")
    await boss.expect("role_update", listener="u", name="vip", updated=True, id=pushed["roles"]["vip"]["id"])
    assert pushed["roles"]["vip"] | {"id": None} == {
        "id": None, "description": "Very", "color": None, "hoisted": True, "permissions": ["add_reactions"],
        "self_assignable": False, "category": "c", "position": 4}
    await bob.expect("roles_list")


async def test_update_errors(server):
    bob = await server.user("bob")
    await bob.send("role_update", name="user", color="#fff")
    await bob.expect_error("Access denied: 'manage_roles' permission required", src="role_update")
    boss = await server.owner("boss")
    await ok(boss, "role_create", name="vip")
    await boss.drain()
    admin_id = (await roles(boss))["admin"]["id"]
    vip_id = (await roles(boss))["vip"]["id"]
    cases = [
        ({"color": "#fff"}, "Role id or name is required"),
        ({"name": "nope"}, "Role not found"),
        ({"id": "nope"}, "Role not found"),
        ({"id": admin_id, "name": "boss-admin"}, "Cannot rename system roles"),
        ({"id": vip_id, "name": "moderator"}, "Role already exists"),
        ({"name": "admin", "self_assignable": True}, "Role 'admin' cannot be made self-assignable"),
        ({"name": "owner", "self_assignable": True}, "Role 'owner' cannot be made self-assignable"),
        ({"name": "vip", "permissions": 5}, "Invalid field 'permissions': expected array or object, got number"),
    ]
    for fields, error in cases:
        await boss.send("role_update", **fields)
        await boss.expect_error(error, src="role_update")
    listed = await roles(boss)
    assert listed["admin"]["self_assignable"] is False and listed["owner"]["self_assignable"] is False
    assert list(listed) == DEFAULT_ORDER + ["vip"]


async def test_rename_follows_into_users_and_channel_permissions_also_after_restart(server):
    """The original's rename left users and channels on the old name: holders lost the role."""
    boss = await server.owner("boss")
    bob = await server.user("bob")
    carl = await server.user("carl")
    await ok(boss, "role_create", name="vip")
    await ok(boss, "role_create", name="muted")
    await ok(boss, "channel_create", name="lounge", type="text",
             permissions={"view": ["!muted", "vip", "owner"], "send": ["vip", "owner"], "delete": ["!vip", "owner"]})
    await ok(boss, "user_roles_set", user=bob.username, roles=["vip", "user"])
    vip_id = (await roles(boss))["vip"]["id"]
    await boss.drain()
    await bob.drain()
    await carl.drain()
    await boss.send("role_update", id=vip_id, name="gold", listener="r")
    pushed, reply = await until_reply(boss, "r")
    assert reply == {"cmd": "role_update", "id": vip_id, "name": "gold", "updated": True, "listener": "r"}
    pushed += await boss.drain()  # the channel lists follow the reply (coalesced per tick)
    assert [p["cmd"] for p in pushed] == ["roles_list", "user_roles_get", "channels_get"]
    assert "gold" in pushed[0]["roles"] and "vip" not in pushed[0]["roles"]
    assert pushed[1] == {"cmd": "user_roles_get", "user": bob.username, "roles": ["gold", "user"], "color": None,
                         "global": True}
    lounge = pushed[2]["val"][-1]
    assert lounge["permissions"] == {"view": ["!muted", "gold", "owner"], "send": ["gold", "owner"],
                                     "delete": ["!gold", "owner"]}
    # bob still holds the role, under its new name, and keeps his access to the channel
    assert [p["cmd"] for p in await bob.drain()] == ["roles_list", "user_roles_get", "channels_get"]
    assert await roles_of(bob, bob.username) == ["gold", "user"]
    assert await visible(bob) == ["general", "lounge"]
    await ok(bob, "message_new", channel="lounge", content="still here")
    await boss.drain()
    # carl (no vip) sees the roles and his user list change, but not the channel
    assert [p["cmd"] for p in await carl.drain()] == ["roles_list", "user_roles_get"]
    await server.restart()
    bob = await server.user("bob")
    assert await roles_of(bob, bob.username) == ["gold", "user"]
    assert await visible(bob) == ["general", "lounge"]
    listed = await roles(bob)
    assert listed["gold"]["id"] == vip_id and "vip" not in listed


async def test_rename_updates_mention_rules_of_other_roles(server):
    boss = await server.owner("boss")
    await ok(boss, "role_create", name="staff")
    await ok(boss, "role_create", name="ping", permissions={"mention_roles": ["staff"]})
    staff_id = (await roles(boss))["staff"]["id"]
    await ok(boss, "role_update", id=staff_id, name="crew")
    assert (await roles(boss))["ping"]["permissions"] == {"mention_roles": ["crew"]}


async def test_role_set_sets_position_renames_by_name_and_broadcasts(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await ok(boss, "role_create", name="vip")
    await ok(boss, "user_roles_set", user=bob.username, roles=["user", "vip"])
    await boss.drain()
    await bob.drain()
    await boss.send("role_set", name="vip", data={"name": "gold", "position": 2, "color": "#123456"}, listener="s")
    pushed, reply = await until_reply(boss, "s")
    assert reply["cmd"] == "role_set" and reply["name"] == "gold" and reply["updated"] is True
    assert pushed[0]["cmd"] == "roles_list" and pushed[0]["roles"]["gold"]["position"] == 2
    assert (await bob.expect("roles_list"))["roles"]["gold"]["color"] == "#123456"
    assert await roles_of(boss, bob.username) == ["user", "gold"]


async def test_role_set_errors(server):
    boss = await server.owner("boss")
    await boss.drain()
    cases = [
        ({"data": {"color": "#fff"}}, "Role id or name is required"),
        ({"name": "user"}, "Role data is required"),
        ({"name": "user", "data": {}}, "Role data is required"),
        ({"name": "nope", "data": {"color": "#fff"}}, "Role not found"),
        ({"name": "user", "data": {"position": -1}}, "Invalid field 'data.position': expected non-negative integer, got number"),
        ({"name": "user", "data": {"name": "member"}}, "Cannot rename system roles"),
        ({"name": "moderator", "data": {"self_assignable": True}}, "Role 'moderator' cannot be made self-assignable"),
    ]
    for fields, error in cases:
        await boss.send("role_set", **fields)
        await boss.expect_error(error, src="role_set")


async def test_role_permissions_set_replaces_the_list_and_now_tells_everyone(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await ok(boss, "role_create", name="vip", permissions=["send_messages"])
    vip_id = (await roles(boss))["vip"]["id"]
    await boss.drain()
    await bob.drain()
    await boss.send("role_permissions_set", id=vip_id, permissions=["add_reactions", "embed_links"], listener="p")
    await boss.expect("roles_list")
    assert await boss.recv() == {"cmd": "role_permissions_set", "id": vip_id, "name": "vip",
                                 "permissions": ["add_reactions", "embed_links"], "updated": True, "listener": "p"}
    assert (await bob.expect("roles_list"))["roles"]["vip"]["permissions"] == ["add_reactions", "embed_links"]
    await boss.send("role_permissions_set", id=vip_id, permissions={"mention_roles": False})
    await boss.expect_error("Permissions must be an array", src="role_permissions_set")
    await boss.send("role_permissions_set", permissions=[])
    await boss.expect_error("Role id or name is required", src="role_permissions_set")
    await boss.send("role_permissions_set", name="nope", permissions=[])
    await boss.expect_error("Role not found", src="role_permissions_set")


# ---- role_reorder -----------------------------------------------------------------------------


async def test_reorder_sets_positions_from_the_array(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await ok(boss, "role_create", name="vip")
    await boss.drain()
    await bob.drain()
    wanted = ["owner", "admin", "vip", "moderator", "user"]
    await boss.send("role_reorder", roles=wanted, listener="o")
    pushed = await boss.expect("roles_list")
    await boss.expect("role_reorder", listener="o", roles=wanted)
    assert {n: r["position"] for n, r in pushed["roles"].items()} == {n: i for i, n in enumerate(wanted)}
    await bob.expect("roles_list")
    await server.restart()
    boss = await server.user("boss")
    assert {n: r["position"] for n, r in (await roles(boss)).items()} == {n: i for i, n in enumerate(wanted)}


async def test_reorder_errors_change_nothing(server):
    boss = await server.owner("boss")
    await boss.drain()
    before = await roles(boss)
    user_id = before["user"]["id"]
    for fields, error in (({}, "Roles array is required"), ({"roles": []}, "Roles array is required"),
                          ({"roles": "user"}, "Roles array is required"),
                          ({"roles": ["user", "moderator", "nope"]}, "Failed to reorder roles"),
                          ({"roles": ["user", user_id]}, "Failed to reorder roles"),
                          ({"roles": ["user", 5]}, "Failed to reorder roles")):
        await boss.send("role_reorder", **fields)
        await boss.expect_error(error, src="role_reorder")
    await boss.assert_silent()
    assert await roles(boss) == before


# ---- role_delete ------------------------------------------------------------------------------


async def test_delete_strips_the_role_from_users(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await ok(boss, "role_create", name="vip", color="#ABCDEF")
    await ok(boss, "user_roles_set", user=bob.username, roles=["vip", "user"])
    vip_id = (await roles(boss))["vip"]["id"]
    await boss.drain()
    await bob.drain()
    await boss.send("role_delete", name="vip", listener="d")
    pushed, reply = await until_reply(boss, "d")
    assert reply == {"cmd": "role_delete", "id": vip_id, "name": "vip", "deleted": True, "listener": "d"}
    assert [p["cmd"] for p in pushed] == ["roles_list", "user_roles_get"]
    assert "vip" not in pushed[0]["roles"]
    assert pushed[1]["roles"] == ["user"]
    assert [p["cmd"] for p in await bob.drain()] == ["roles_list", "user_roles_get"]
    assert await roles_of(bob, bob.username) == ["user"]
    await server.restart()
    bob = await server.user("bob")
    assert await roles_of(bob, bob.username) == ["user"]
    assert "vip" not in await roles(bob)


async def test_system_roles_cannot_be_deleted_even_by_the_owner(server):
    """The original's guard never fired: owners deleted `user` (verified)."""
    boss = await server.owner("boss")
    await boss.drain()
    for name in ("owner", "admin", "user"):
        await boss.send("role_delete", name=name)
        await boss.expect_error("Cannot delete system roles", src="role_delete")
    # moderator is not a system role, but the default `general` channel names it
    await boss.send("role_delete", name="moderator")
    await boss.expect_error("Role is used in channel 'general' permissions", src="role_delete")
    await ok(boss, "channel_update", current_name="general",
             updates={"permissions": {"view": ["user"], "send": ["user"], "delete": ["admin"]}})
    _, reply = await ok(boss, "role_delete", name="moderator")
    assert reply["deleted"] is True
    assert list(await roles(boss)) == ["owner", "admin", "user"]


async def test_a_role_used_by_a_channel_cannot_be_deleted(server):
    boss = await server.owner("boss")
    await ok(boss, "role_create", name="muted")
    await ok(boss, "channel_update", current_name="general",
             updates={"permissions": {"view": ["!muted", "user"], "send": ["user"]}})
    await boss.drain()
    await boss.send("role_delete", name="muted")
    await boss.expect_error("Role is used in channel 'general' permissions", src="role_delete")
    await boss.send("role_delete")
    await boss.expect_error("Role id or name is required", src="role_delete")
    await boss.send("role_delete", id="nope")
    await boss.expect_error("Role not found", src="role_delete")
    assert "muted" in await roles(boss)


# ---- user_roles_get / user_roles_set ----------------------------------------------------------


async def test_user_roles_get(server):
    bob = await server.user("bob")
    await bob.send("user_roles_get", user="usr:LOCAL_bob")
    assert await bob.recv() == {"cmd": "user_roles_get", "user": "USR:local_bob", "roles": ["user"], "color": None}
    await bob.send("user_roles_get")
    await bob.expect_error("User parameter is required", src="user_roles_get")
    await bob.send("user_roles_get", user="ghost")
    await bob.expect_error("User not found", src="user_roles_get")


async def test_user_roles_set_broadcasts_and_stores_names_for_ids(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    carl = await server.user("carl")
    await boss.drain()
    await bob.drain()
    mod_id = (await roles(boss))["moderator"]["id"]
    await boss.send("user_roles_set", user=bob.username, roles=[mod_id, "user", "moderator"], listener="s")
    packet = {"cmd": "user_roles_get", "user": bob.username, "roles": ["moderator", "user"], "color": "#FFFF00",
              "global": True}
    assert await boss.recv() == {**packet, "listener": "s"}
    assert await bob.recv() == packet
    assert await carl.recv() == packet
    await server.restart()
    carl = await server.user("carl")
    assert await roles_of(carl, "USR:local_bob") == ["moderator", "user"]


async def test_user_roles_set_errors(server):
    bob = await server.user("bob")
    await bob.send("user_roles_set", user=bob.username, roles=["admin"])
    await bob.expect_error("Access denied: 'manage_users' permission required", src="user_roles_set")
    boss = await server.owner("boss")
    await boss.drain()
    cases = [
        ({"roles": ["user"]}, "User parameter is required"),
        ({"user": bob.username}, "Roles list is required"),
        ({"user": bob.username, "roles": []}, "Roles list is required"),
        ({"user": bob.username, "roles": "user"}, "Roles list is required"),
        ({"user": "ghost", "roles": ["user"]}, "User not found"),
        ({"user": bob.username, "roles": ["user", "nope"]}, "Role 'nope' does not exist"),
    ]
    for fields, error in cases:
        await boss.send("user_roles_set", **fields)
        await boss.expect_error(error, src="user_roles_set")
    assert await roles_of(boss, bob.username) == ["user"]


async def test_broadcast_filtering_follows_live_roles(server):
    """The original filtered channel broadcasts on the roles a socket had at login."""
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await ok(boss, "role_create", name="vip")
    await ok(boss, "channel_create", name="lounge", type="text", permissions={"view": ["vip", "owner"],
                                                                              "send": ["vip", "owner"]})
    await boss.drain()
    await bob.drain()
    await ok(boss, "message_new", channel="lounge", content="before")
    await bob.assert_silent()
    await boss.send("user_roles_set", user=bob.username, roles=["user", "vip"], listener="s")
    await until_reply(boss, "s")
    await bob.expect("user_roles_get")
    push = await bob.expect("channels_get")  # his visible list changed
    assert [ch["name"] for ch in push["val"]] == ["general", "lounge"]
    await ok(boss, "message_new", channel="lounge", content="after")
    assert (await bob.expect("message_new", channel="lounge"))["message"]["content"] == "after"
    await boss.send("user_roles_set", user=bob.username, roles=["user"], listener="t")
    await until_reply(boss, "t")
    await bob.expect("user_roles_get")
    assert [ch["name"] for ch in (await bob.expect("channels_get"))["val"]] == ["general"]
    await ok(boss, "message_new", channel="lounge", content="gone again")
    await bob.assert_silent()


async def test_role_changes_are_audit_logged(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await boss.drain()
    _, created = await ok(boss, "role_create", name="vip", color="#111111", permissions=["send_messages"])
    vip = created["id"]
    for cmd, fields in (("role_update", {"name": "vip", "color": "#222222"}),
                        ("role_set", {"id": vip, "data": {"hoisted": True}}),
                        ("role_permissions_set", {"id": vip, "permissions": ["add_reactions"]}),
                        ("role_reorder", {"roles": ["owner", "admin", "moderator", "user", "vip"]}),
                        ("user_roles_set", {"user": bob.username, "roles": ["user", "vip"]}),
                        ("role_delete", {"id": vip})):
        await ok(boss, cmd, **fields)
    await server.shutdown()
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    try:
        rows = con.execute("SELECT category, action, target, details FROM audit_log WHERE action != 'owner_granted'"
                           " ORDER BY rowid").fetchall()
    finally:
        con.close()
    assert rows == [
        ("role_management", "role_create", vip, '{"color":"#111111","permissions":["send_messages"]}'),
        ("role_management", "role_update", vip, '{"color":"#222222","permissions":null}'),
        ("role_management", "role_update", vip, '{"hoisted":true}'),
        ("role_management", "role_permissions_set", vip, '{"permissions":["add_reactions"]}'),
        ("role_management", "role_reorder", None, '{"roles":["owner","admin","moderator","user","vip"]}'),
        ("user_moderation", "user_roles_set", bob.username, '{"roles":["user","vip"]}'),
        ("role_management", "role_delete", vip, "{}"),
    ]
