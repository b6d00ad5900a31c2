"""user_update (admin edits of names and nicknames) and the members' own nickname_update /
nickname_remove, with the user_updated and nickname events everyone receives."""

from __future__ import annotations

import pytest

from tests.modhelpers import LOCAL, audit_rows, members

HIER = "Cannot manage users at or above your position"


async def test_rename_tells_everyone_and_the_member_logs_in_with_the_new_name(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss, alice, bob = m["boss"], m["alice"], m["bob"]
    await boss.send("user_update", user=LOCAL + "alice", updates={"username": "Alicia"}, listener="r")
    updated = {"cmd": "user_updated", "user_id": LOCAL + "alice", "username": LOCAL + "alicia", "nickname": "alice"}
    assert await boss.recv() == updated
    assert await boss.recv() == {"cmd": "user_update", "user": LOCAL + "alicia", "nickname": "alice", "listener": "r"}
    assert await bob.recv() == updated
    assert await alice.recv() == updated
    # the open session follows the new name
    await alice.send("status_get", user=LOCAL + "alicia")
    await alice.expect("status", username=LOCAL + "alicia")
    await alice.close()
    assert await bob.recv() == {"cmd": "user_disconnect", "username": LOCAL + "alicia"}

    await server.restart()
    again = await server.user("alicia")
    assert again.ready["user"]["username"] == LOCAL + "alicia"
    old = await server.connect()
    await old.send("login", username="alice", password="pass1234")
    assert await old.recv() == {"cmd": "auth_error", "val": "User not found"}
    await old.send("register", username="alice", password="pass1234")  # the id keeps the old name taken
    assert await old.recv() == {"cmd": "auth_error", "val": "Username already taken"}
    rows = await audit_rows(server)
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("user_update", LOCAL + "boss", LOCAL + "alice", '{"username":"USR:local_alicia"}')]


async def test_nickname_change_by_an_admin_also_sends_the_nickname_events(server):
    m = await members(server, {"adm": ["admin", "user"], "alice": ["user"]})
    adm, alice = m["adm"], m["alice"]
    await adm.send("user_update", user=LOCAL + "alice", updates={"nickname": "  Ally  "})
    await adm.expect("user_updated", user_id=LOCAL + "alice", username=LOCAL + "alice", nickname="Ally")
    await adm.expect("nickname_update", user=LOCAL + "alice", username=LOCAL + "alice", nickname="Ally")
    await adm.expect("user_update", user=LOCAL + "alice", nickname="Ally")
    await alice.expect("user_updated")
    await alice.expect("nickname_update")
    await adm.send("user_update", user=LOCAL + "alice", updates={"nickname": None})
    await adm.expect("user_updated", nickname=None)
    assert await adm.recv() == {"cmd": "nickname_remove", "user": LOCAL + "alice", "username": LOCAL + "alice"}
    await adm.expect("user_update", nickname=None)
    # nothing changes: a plain reply, no broadcast, no audit entry
    await alice.drain()
    await adm.send("user_update", user=LOCAL + "alice", updates={"nickname": ""})
    await adm.expect("user_update", user=LOCAL + "alice", nickname=None)
    await alice.assert_silent()
    assert [r[0] for r in await audit_rows(server)] == ["user_update", "user_update"]


async def test_user_update_errors_in_documented_order(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss = m["boss"]
    cases = [
        ({"updates": {"nickname": "x"}}, "User parameter is required"),
        ({"user": "ghost", "updates": {"nickname": "x"}}, "User not found"),
        ({"user": LOCAL + "alice"}, "Updates must be an object"),
        ({"user": LOCAL + "alice", "updates": {}}, "Updates must be an object"),
        ({"user": LOCAL + "alice", "updates": ["username"]}, "Updates must be an object"),
        ({"user": LOCAL + "alice", "updates": {"roles": ["owner"]}}, "Cannot update field: roles"),
        ({"user": LOCAL + "alice", "updates": {"nickname": "x", "password_hash": "h"}},
         "Cannot update field: password_hash"),
        ({"user": LOCAL + "alice", "updates": {"username": ""}}, "Username must be a non-empty string"),
        ({"user": LOCAL + "alice", "updates": {"username": 7}}, "Username must be a non-empty string"),
        ({"user": LOCAL + "alice", "updates": {"username": "a"}}, "Username must be 2-32 characters"),
        ({"user": LOCAL + "alice", "updates": {"username": "a" * 33}}, "Username must be 2-32 characters"),
        ({"user": LOCAL + "alice", "updates": {"username": "al ice"}},
         "Username can only contain letters, numbers, hyphens, and underscores"),
        ({"user": LOCAL + "alice", "updates": {"username": "аlice"}},  # Cyrillic а
         "Username can only contain letters, numbers, hyphens, and underscores"),
        ({"user": LOCAL + "alice", "updates": {"username": "BOB"}}, "Username already taken"),
        ({"user": LOCAL + "alice", "updates": {"username": LOCAL + "boss"}}, "Username already taken"),
        ({"user": LOCAL + "alice", "updates": {"nickname": 5}}, "Nickname must be a string or null"),
        ({"user": LOCAL + "alice", "updates": {"nickname": "n" * 21}}, "Nickname too long (max 20 characters)"),
    ]
    for fields, error in cases:
        await boss.send("user_update", **fields)
        await boss.expect_error(error, src="user_update")
    assert await audit_rows(server) == []


async def test_a_deleted_members_name_cannot_be_given_to_someone_else(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    await m["alice"].send("user_leave")
    await m["alice"].wait_closed()
    await m["boss"].expect("user_leave", username=LOCAL + "alice")
    await m["boss"].expect("user_disconnect", username=LOCAL + "alice")
    await m["boss"].send("user_update", user=LOCAL + "bob", updates={"username": "alice"})
    await m["boss"].expect_error("Username already taken", src="user_update")


async def test_renames_respect_the_hierarchy_but_members_may_edit_themselves(server):
    m = await members(server, {"boss": ["owner", "user"], "adm": ["admin", "user"], "adm2": ["admin", "user"],
                               "alice": ["user"]})
    adm = m["adm"]
    for target in ("boss", "adm2"):
        await adm.send("user_update", user=LOCAL + target, updates={"nickname": "pwned"})
        await adm.expect_error(HIER, src="user_update")
    await adm.send("user_update", user=LOCAL + "adm", updates={"nickname": "Me"})
    await adm.expect("user_updated")
    await adm.expect("nickname_update", nickname="Me")
    await adm.expect("user_update", nickname="Me")
    await m["alice"].expect("user_updated", user_id=LOCAL + "adm")
    await m["alice"].expect("nickname_update", user=LOCAL + "adm")
    await m["alice"].send("user_update", user=LOCAL + "alice", updates={"nickname": "x"})
    await m["alice"].expect_error("Access denied: 'manage_users' permission required", src="user_update")


async def test_own_nickname_update_and_remove(server):
    m = await members(server, {"alice": ["user"], "bob": ["user"]})
    alice, bob = m["alice"], m["bob"]
    event = {"cmd": "nickname_update", "user": LOCAL + "alice", "username": LOCAL + "alice", "nickname": "Ally"}
    await alice.send("nickname_update", nickname=" Ally ", listener="n")
    assert await alice.recv() == {**event, "listener": "n"}
    assert await bob.recv() == event
    await alice.assert_silent()  # the caller gets the event once
    await bob.send("users_list")
    listed = {u["username"]: u["nickname"] for u in (await bob.expect("users_list"))["users"]}
    assert listed[LOCAL + "alice"] == "Ally"

    await server.restart()
    alice = await server.user("alice")
    assert alice.ready["user"]["nickname"] == "Ally"
    bob = await server.user("bob")
    await alice.drain()
    await alice.send("nickname_remove")
    removed = {"cmd": "nickname_remove", "user": LOCAL + "alice", "username": LOCAL + "alice"}
    assert await alice.recv() == removed
    assert await bob.recv() == removed
    await alice.send("nickname_remove")
    await alice.expect_error("You don't have a nickname set", src="nickname_remove")


@pytest.mark.parametrize(("value", "error"), [
    (None, "Nickname is required"), ("", "Nickname is required"), ("   ", "Nickname is required"),
    (5, "Nickname must be a string or null"), ("x" * 21, "Nickname too long (max 20 characters)"),
])
async def test_own_nickname_update_rejects_bad_values(server, value, error):
    alice = await server.user("alice")
    fields = {} if value is None else {"nickname": value}
    await alice.send("nickname_update", **fields)
    await alice.expect_error(error, src="nickname_update")
    await alice.send("users_list")
    assert (await alice.expect("users_list"))["users"][0]["nickname"] == "alice"
