"""Privilege escalation attempts, each of which must fail (and leave nothing changed), next to the
same command succeeding within the actor's rights. The owner is the only exception to the rules.

Cast: `boss` (owner); `ann` (admin + user: rank 1, holds `administrator`); `mia` (manager + user:
rank 2, the `manager` role holds only manage_roles and manage_users); `bob` (user). Roles made by
the owner: `fan` (send_messages) and `ops` (manage_server), both at the bottom.
"""

from __future__ import annotations

from typing import Any

import attrs

from tests.client import Client

AT_OR_ABOVE = "Cannot manage roles at or above your position"
USER_AT_OR_ABOVE = "Cannot manage users at or above your position"


async def until_reply(client: Client, listener: str) -> dict[str, Any]:
    while True:
        packet = await client.recv()
        if packet.get("listener") == listener:
            return packet


async def ok(client: Client, cmd: str, **fields: Any) -> dict[str, Any]:
    await client.send(cmd, listener="ok", **fields)
    reply = await until_reply(client, "ok")
    assert reply["cmd"] != "error", reply
    return reply


async def refused(client: Client, cmd: str, error: str, **fields: Any) -> None:
    await client.send(cmd, listener="no", **fields)
    reply = await until_reply(client, "no")
    assert reply == {"cmd": "error", "src": cmd, "val": error, "listener": "no"}, reply


async def roles(client: Client) -> dict[str, Any]:
    await client.send("roles_list", listener="rl")
    return (await until_reply(client, "rl"))["roles"]


async def roles_of(client: Client, username: str) -> list[str]:
    await client.send("user_roles_get", user=username, listener="ur")
    return (await until_reply(client, "ur"))["roles"]


@attrs.define
class Cast:
    boss: Client
    ann: Client
    mia: Client
    bob: Client


async def cast(server) -> Cast:
    boss = await server.owner("boss")
    ann = await server.user("ann")
    mia = await server.user("mia")
    bob = await server.user("bob")
    await ok(boss, "role_create", name="manager", permissions=["manage_roles", "manage_users"])
    await ok(boss, "role_reorder", roles=["owner", "admin", "manager", "moderator", "user"])
    await ok(boss, "role_create", name="fan", permissions=["send_messages"])
    await ok(boss, "role_create", name="ops", permissions=["manage_server"])
    await ok(boss, "user_roles_set", user=ann.username, roles=["admin", "user"])
    await ok(boss, "user_roles_set", user=mia.username, roles=["manager", "user"])
    return Cast(boss, ann, mia, bob)


# ---- user_roles_set ---------------------------------------------------------------------------


async def test_an_admin_cannot_make_themselves_owner(server):
    """The original let any manage_users holder grant themselves `owner`."""
    c = await cast(server)
    await refused(c.ann, "user_roles_set", USER_AT_OR_ABOVE, user=c.ann.username, roles=["owner", "admin", "user"])
    await refused(c.mia, "user_roles_set", USER_AT_OR_ABOVE, user=c.mia.username, roles=["manager", "user", "fan"])
    assert await roles_of(c.ann, c.ann.username) == ["admin", "user"]
    assert await roles_of(c.mia, c.mia.username) == ["manager", "user"]


async def test_nobody_gives_a_role_at_or_above_their_own(server):
    c = await cast(server)
    await refused(c.ann, "user_roles_set", AT_OR_ABOVE, user=c.bob.username, roles=["owner", "user"])
    await refused(c.ann, "user_roles_set", AT_OR_ABOVE, user=c.bob.username, roles=["admin", "user"])
    await refused(c.mia, "user_roles_set", AT_OR_ABOVE, user=c.bob.username, roles=["manager", "user"])
    await refused(c.mia, "user_roles_set", AT_OR_ABOVE, user=c.bob.username, roles=["admin", "user"])
    assert await roles_of(c.bob, c.bob.username) == ["user"]
    # within their rights it works
    reply = await ok(c.ann, "user_roles_set", user=c.bob.username, roles=["moderator", "user"])
    assert reply["roles"] == ["moderator", "user"]
    reply = await ok(c.ann, "user_roles_set", user=c.bob.username, roles=["user"])
    assert reply["roles"] == ["user"]


async def test_nobody_strips_the_owner_or_touches_an_equal(server):
    c = await cast(server)
    await refused(c.ann, "user_roles_set", USER_AT_OR_ABOVE, user=c.boss.username, roles=["user"])
    await refused(c.ann, "user_roles_set", USER_AT_OR_ABOVE, user=c.boss.username, roles=["owner"])
    await refused(c.mia, "user_roles_set", USER_AT_OR_ABOVE, user=c.ann.username, roles=["user"])
    other_admin = await server.user("otto")
    await ok(c.boss, "user_roles_set", user=other_admin.username, roles=["admin", "user"])
    await refused(c.ann, "user_roles_set", USER_AT_OR_ABOVE, user=other_admin.username, roles=["user"])
    assert await roles_of(c.bob, c.boss.username) == ["owner", "user"]
    assert await roles_of(c.bob, other_admin.username) == ["admin", "user"]
    # the owner is the exception
    await ok(c.boss, "user_roles_set", user=other_admin.username, roles=["user"])


async def test_nobody_gives_a_role_carrying_permissions_they_lack(server):
    c = await cast(server)
    # `ops` sits below mia, but grants manage_server, which mia does not hold
    await refused(c.mia, "user_roles_set", "Cannot grant permission 'manage_server' you do not have",
                  user=c.bob.username, roles=["user", "ops"])
    assert await roles_of(c.bob, c.bob.username) == ["user"]
    reply = await ok(c.mia, "user_roles_set", user=c.bob.username, roles=["user", "fan"])
    assert reply["roles"] == ["user", "fan"]
    # ann holds administrator, hence every permission
    await ok(c.ann, "user_roles_set", user=c.bob.username, roles=["user", "ops"])


async def test_banned_is_an_owner_only_role(server):
    """With a `banned` role, user_roles_set would otherwise be an owner-free ban."""
    c = await cast(server)
    await refused(c.ann, "role_create", AT_OR_ABOVE, name="banned")
    await ok(c.boss, "role_create", name="banned")
    await refused(c.ann, "user_roles_set", AT_OR_ABOVE, user=c.bob.username, roles=["user", "banned"])
    await refused(c.ann, "role_update", AT_OR_ABOVE, name="banned", color="#000")
    fan_id = (await roles(c.ann))["fan"]["id"]
    await ok(c.boss, "role_delete", name="banned")
    await refused(c.ann, "role_update", AT_OR_ABOVE, id=fan_id, name="banned")  # nor rename into it
    await refused(c.ann, "role_update", "Role already exists", id=fan_id, name="owner")
    assert await roles_of(c.bob, c.bob.username) == ["user"]


# ---- permissions granted through roles --------------------------------------------------------


async def test_role_create_cannot_grant_what_the_creator_lacks(server):
    c = await cast(server)
    await refused(c.mia, "role_create", "Cannot grant permission 'administrator' you do not have",
                  name="root", permissions=["administrator"])
    await refused(c.mia, "role_create", "Cannot grant permission 'manage_channels' you do not have",
                  name="root", permissions=["manage_roles", "manage_channels"])
    assert "root" not in await roles(c.mia)
    await ok(c.mia, "role_create", name="helper", permissions=["manage_users", "send_messages"])
    await ok(c.ann, "role_create", name="root", permissions=["administrator"])  # ann holds it


async def test_role_edits_cannot_grant_what_the_editor_lacks(server):
    c = await cast(server)
    fan_id = (await roles(c.mia))["fan"]["id"]
    error = "Cannot grant permission 'manage_server' you do not have"
    await refused(c.mia, "role_update", error, name="fan", permissions=["send_messages", "manage_server"])
    await refused(c.mia, "role_set", error, id=fan_id, data={"permissions": ["manage_server"]})
    await refused(c.mia, "role_permissions_set", error, name="fan", permissions=["manage_server"])
    assert (await roles(c.mia))["fan"]["permissions"] == ["send_messages"]
    await ok(c.mia, "role_permissions_set", name="fan", permissions=["send_messages", "manage_users"])
    # keeping a permission the role already has is not granting it
    await ok(c.mia, "role_update", name="ops", color="#123", permissions=["manage_server", "send_messages"])
    assert (await roles(c.mia))["ops"]["permissions"] == ["manage_server", "send_messages"]


# ---- the hierarchy on roles -------------------------------------------------------------------


async def test_nobody_edits_a_role_at_or_above_their_own(server):
    c = await cast(server)
    listed = await roles(c.mia)
    for cmd, fields in (("role_update", {"name": "manager", "permissions": ["administrator"]}),
                        ("role_update", {"name": "admin", "color": "#000"}),
                        ("role_update", {"id": listed["owner"]["id"], "color": "#000"}),
                        ("role_set", {"name": "manager", "data": {"position": 0}}),
                        ("role_set", {"name": "admin", "data": {"color": "#000"}}),
                        ("role_permissions_set", {"name": "manager", "permissions": ["manage_roles"]}),
                        ("role_delete", {"name": "manager"})):
        await refused(c.mia, cmd, AT_OR_ABOVE, **fields)
    await refused(c.ann, "role_update", AT_OR_ABOVE, name="admin", color="#000")
    await refused(c.ann, "role_delete", AT_OR_ABOVE, name="owner")
    # a missing role is reported by the hierarchy check for non-owners (core.md HIER)
    await refused(c.mia, "role_update", "Role 'nope' not found", name="nope", color="#000")
    await refused(c.mia, "role_permissions_set", "Role 'nope' not found", name="nope", permissions=[])
    await refused(c.mia, "role_set", "Role 'nope' not found", name="nope", data={"color": "#000"})
    assert await roles(c.mia) == listed
    await ok(c.mia, "role_update", name="fan", color="#0F0")


async def test_nobody_moves_a_role_to_or_above_their_own_position(server):
    c = await cast(server)
    for position in (0, 1, 2):
        await refused(c.mia, "role_set", AT_OR_ABOVE, name="fan", data={"position": position})
    await ok(c.mia, "role_set", name="fan", data={"position": 3})


async def test_role_reorder_respects_the_hierarchy(server):
    """The original let a manage_roles holder move their own role to 0, then manage `admin`."""
    c = await cast(server)
    before = await roles(c.mia)
    await refused(c.mia, "role_reorder", AT_OR_ABOVE, roles=["manager", "owner", "admin"])  # own role up
    await refused(c.mia, "role_reorder", AT_OR_ABOVE, roles=["owner", "fan"])             # fan to 1
    await refused(c.mia, "role_reorder", AT_OR_ABOVE, roles=["owner", "admin", "fan"])    # fan to own position 2
    await refused(c.mia, "role_reorder", AT_OR_ABOVE, roles=["admin", "owner"])           # swap those above
    await refused(c.ann, "role_reorder", AT_OR_ABOVE, roles=["admin", "owner"])
    await refused(c.ann, "role_reorder", AT_OR_ABOVE, roles=["owner", "moderator", "admin"])
    assert await roles(c.mia) == before
    # roles listed at their current index are not moved; lower roles can be shuffled below oneself
    order = ["owner", "admin", "manager", "user", "moderator", "ops", "fan"]
    await ok(c.mia, "role_reorder", roles=order)
    assert {n: r["position"] for n, r in (await roles(c.mia)).items()} == {n: i for i, n in enumerate(order)}


async def test_the_owner_may_do_all_of_it(server):
    c = await cast(server)
    await ok(c.boss, "role_reorder", roles=["owner", "fan", "admin"])
    await ok(c.boss, "role_set", name="manager", data={"position": 0, "permissions": ["administrator"]})
    await ok(c.boss, "user_roles_set", user=c.bob.username, roles=["owner", "user"])
    # and, being an owner now, so may bob
    await ok(c.bob, "user_roles_set", user=c.ann.username, roles=["user"])


async def test_protected_roles_are_never_self_assignable_even_for_the_owner(server):
    """The original's guard never fired: an owner could tick `admin` and any member could take it."""
    c = await cast(server)
    for name in ("owner", "admin", "moderator", "user"):
        await refused(c.boss, "role_update", f"Role '{name}' cannot be made self-assignable", name=name,
                      self_assignable=True)
        await refused(c.boss, "role_set", f"Role '{name}' cannot be made self-assignable", name=name,
                      data={"self_assignable": True})
    await refused(c.bob, "self_role_add", "This role is not self-assignable", role="admin")
    # nor can a self-assignable role be renamed into a protected name
    await ok(c.boss, "role_update", name="fan", self_assignable=True)
    await ok(c.boss, "channel_update", current_name="general",
             updates={"permissions": {"view": ["user"], "send": ["user"], "delete": ["admin"]}})
    await ok(c.boss, "role_delete", name="moderator")
    fan_id = (await roles(c.boss))["fan"]["id"]
    await refused(c.boss, "role_update", "Role 'moderator' cannot be made self-assignable", id=fan_id,
                  name="moderator")
    assert "moderator" not in await roles(c.boss)
