"""Channel permissions (objects.md §5.2): evaluator (a) with `!role` denials walked in the member's
role order and the default-block fallback; evaluator (b) for edit_own/delete_own/react/pin with the
same walk (the original ignored `!` entries there: flaw 4 of reactions_pins_replies.md) over the
key's list or its default; no owner bypass — first as pure functions, then through every message
command."""

from __future__ import annotations

import pytest

from originchats.core.model import Channel
from originchats.core.permissions import channel_allows, channel_allows_literal, channel_lists_viewer
from tests.msgworld import LOCAL, online, post, world_config


@pytest.fixture
def config(tmp_path):
    return world_config(tmp_path)


def ch(**perms: list[str]) -> Channel:
    return Channel(id="c", name="c", permissions={k: tuple(v) for k, v in perms.items()})


# ---- pure evaluators --------------------------------------------------------------------------


@pytest.mark.parametrize(("entries", "roles", "allowed"), [
    (["user"], ("user",), True),
    (["user"], ("admin",), False),
    (["user", "!muted"], ("user", "muted"), True),  # the first matching role decides
    (["user", "!muted"], ("muted", "user"), False),
    (["!muted", "user"], ("user", "muted"), True),
    (["!user"], ("user",), False),
    (["admin"], ("owner",), False),  # no owner bypass
    ([], ("user", "owner"), False),
    (["user"], (), False),
])
def test_evaluator_a_walks_the_members_roles_in_order(entries, roles, allowed):
    assert channel_allows(ch(view=entries), "view", roles) is allowed


def test_evaluator_a_missing_key_is_nobody_and_empty_permissions_are_the_default_block():
    assert channel_allows(ch(view=["user"]), "send", ("user", "owner")) is False
    for channel in (ch(), None):  # empty permissions, or a channel that does not exist
        assert channel_allows(channel, "view", ("owner",)) is True
        assert channel_allows(channel, "view", ("admin", "user")) is False
        assert channel_allows(channel, "delete", ("owner",)) is True
    # channels_get uses the stored list only: an empty block hides the channel from everyone
    assert channel_lists_viewer(ch(), ("owner",)) is False
    assert channel_lists_viewer(ch(view=["!muted", "user"]), ("muted", "user")) is False
    assert channel_lists_viewer(ch(view=["!muted", "user"]), ("user", "muted")) is True


@pytest.mark.parametrize(("perms", "action", "roles", "allowed"), [
    ({}, "edit_own", ("user",), True),  # missing key: the default ["user"]
    ({}, "delete_own", ("muted",), False),
    ({}, "react", ("owner",), False),  # the default has no owner
    ({}, "pin", ("owner",), True),  # pin defaults to ["owner"]
    ({}, "pin", ("admin", "user"), False),
    ({"react": ["!muted", "user"]}, "react", ("muted", "user"), False),  # the denial comes first (was True)
    ({"react": ["!muted", "user"]}, "react", ("user", "muted"), True),  # the member's order decides
    ({"react": ["!muted", "user"]}, "react", ("muted",), False),
    ({"pin": ["!muted", "admin"]}, "pin", ("muted", "admin"), False),
    ({"pin": ["user"]}, "pin", ("owner",), False),  # a channel's own list: no owner bypass
    ({"delete_own": ["!user", "admin"]}, "delete_own", ("user",), False),
    ({"edit_own": ["admin"]}, "edit_own", ("user", "admin"), True),  # any role, any order
    ({"edit_own": []}, "edit_own", ("user",), False),
])
def test_evaluator_b_walks_the_list_or_the_keys_default(perms, action, roles, allowed):
    assert channel_allows_literal(ch(**perms), action, roles) is allowed


def test_evaluator_b_refuses_a_missing_channel():
    assert channel_allows_literal(None, "edit_own", ("user",)) is False


# ---- through the protocol ---------------------------------------------------------------------


async def test_a_denial_listed_first_shuts_a_muted_member_out_of_every_message_command(server):
    umi, mia = await online(server, "umi", "mia")
    m = await post(umi, "quiet", "hello quiet")
    await mia.assert_silent()  # no broadcast for mia
    allowed = {
        "messages_get": {"channel": "quiet"},
        "message_get": {"channel": "quiet", "id": m["id"]},
        "messages_around": {"channel": "quiet", "around": m["id"]},
    }
    for cmd, fields in allowed.items():
        await umi.send(cmd, **fields)
        await umi.expect(cmd, channel="quiet")
        await mia.send(cmd, **fields)
        await mia.expect_error("Access denied to this channel", src=None)
    await mia.send("message_new", channel="quiet", content="x")
    await mia.expect_error("You do not have permission to send messages in this channel", src="message_new")
    await mia.send("typing", channel="quiet")
    await mia.expect_error("Access denied to this channel", src="typing")
    await mia.send("message_react_add", channel="quiet", id=m["id"], emoji="x")
    await mia.expect_error("You do not have permission to add reactions to this message", src="message_react_add")
    await umi.send("channels_get")
    assert "quiet" in [c["name"] for c in (await umi.expect("channels_get"))["val"]]
    await mia.send("channels_get")
    assert "quiet" not in [c["name"] for c in (await mia.expect("channels_get"))["val"]]
    for c in (umi, mia):
        await c.assert_silent()


async def test_own_message_and_reaction_lists_honour_denials(server):
    alice, mia, umi, solo, adam = await online(server, "alice", "mia", "umi", "solo", "adam")
    mine = await post(alice, "pets", "alice's")
    solos = await post(solo, "pets", "solo's")  # `send` lists muted
    for c in (alice, mia, umi, adam):
        await c.drain()
    # `react: ["!muted", "user"]`: mia's list starts with `muted`, denied first (the original let
    # her react: it ignored `!` entries for react, pin, edit_own and delete_own)
    await mia.send("message_react_add", channel="pets", id=mine["id"], emoji="🐈")
    await mia.expect_error("You do not have permission to add reactions to this message", src="message_react_add")
    # umi's starts with `user`: allowed, as evaluator (a) would for view/send
    await umi.send("message_react_add", channel="pets", id=mine["id"], emoji="🐈")
    await umi.expect("message_react_add")
    await solo.expect("message_react_add")  # solo views pets
    for c in (alice, mia, adam):
        await c.drain()
    # solo holds only `muted`: the defaults of edit_own/delete_own and the react list exclude her
    await solo.send("message_edit", channel="pets", id=solos["id"], content="edited")
    await solo.expect_error("You do not have permission to edit your own message in this channel", src="message_edit")
    await solo.send("message_delete", channel="pets", id=solos["id"])
    await solo.expect_error("You do not have permission to delete your own message in this channel",
                            src="message_delete")
    await solo.send("message_react_add", channel="pets", id=mine["id"], emoji="x")
    await solo.expect_error("You do not have permission to add reactions to this message", src="message_react_add")
    # no `delete` key: nobody deletes others' messages there, admins included
    await adam.send("message_delete", channel="pets", id=solos["id"])
    await adam.expect_error("You do not have permission to delete this message", src="message_delete")
    # alice holds `user`: the defaults let her edit and delete her own
    await alice.send("message_edit", channel="pets", id=mine["id"], content="edited")
    await alice.expect("message_edit")
    await alice.send("message_delete", channel="pets", id=mine["id"])
    await alice.expect("message_delete")
    assert [p["cmd"] for p in await solo.drain()] == ["message_edit", "message_delete"]


async def test_the_owner_gets_no_channel_bypass(server):
    adam, boss = await online(server, "adam", owner="boss")
    secret = await post(adam, "staff", "admins only")
    await boss.assert_silent()
    await boss.send("channels_get")
    assert "staff" not in [c["name"] for c in (await boss.expect("channels_get"))["val"]]
    for cmd, fields in {"messages_get": {}, "message_get": {"id": secret["id"]},
                        "messages_around": {"around": secret["id"]}}.items():
        await boss.send(cmd, channel="staff", **fields)
        await boss.expect_error("Access denied to this channel", src=None)
    await boss.send("message_new", channel="staff", content="let me in")
    await boss.expect_error("You do not have permission to send messages in this channel", src="message_new")
    await boss.send("typing", channel="staff")
    await boss.expect_error("Access denied to this channel", src="typing")
    await boss.send("message_react_add", channel="staff", id=secret["id"], emoji="x")
    await boss.expect_error("You do not have permission to add reactions to this message", src="message_react_add")
    await boss.send("message_delete", channel="staff", id=secret["id"])
    await boss.expect_error("You do not have permission to delete this message", src="message_delete")
    # …but a channel without permissions falls back to the owner-only default block
    owned = await post(boss, "blank", "mine")
    await adam.assert_silent()
    await adam.send("message_get", channel="blank", id=owned["id"])
    await adam.expect_error("Access denied to this channel", src=None)
    await boss.send("message_get", channel="blank", id=owned["id"])
    await boss.expect("message_get", channel="blank")


async def test_broadcasts_follow_the_members_current_roles(server):
    """A deliberate difference: the original filtered on roles cached at login."""
    umi, alice, boss = await online(server, "umi", "alice", owner="boss")

    async def set_alice(roles):
        await boss.send("user_roles_set", user=LOCAL + "alice", roles=roles, listener="set")
        while (await boss.recv()).get("listener") != "set":
            pass
        for c in (umi, alice, boss):
            await c.drain()

    await set_alice(["muted", "user"])
    await post(umi, "quiet", "not for alice now")
    await boss.expect("message_new", channel="quiet")
    await alice.assert_silent()
    await set_alice(["user"])
    await post(umi, "quiet", "for alice again")
    await alice.expect("message_new", channel="quiet")
