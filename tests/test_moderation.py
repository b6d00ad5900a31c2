"""user_ban, user_unban, users_banned_list, user_timeout, user_leave (leaving and kicking),
user_delete: who may do what to whom, what the target and everyone else see, and what is stored."""

from __future__ import annotations

import json

import pytest
import trio

from originchats.config import CrackedSection, HeartbeatSection, RateLimitingSection
from originchats.core import dispatch
from originchats.core.context import Context
from originchats.core.effects import Close, Send
from originchats.core.model import User
from originchats.core.request import Request
from originchats.core.state import Conn, ServerState
from tests.conftest import Server, make_config
from tests.modhelpers import LOCAL, audit_rows, members

STAFF = {"boss": ["owner", "user"], "adm": ["admin", "user"], "adm2": ["admin", "user"],
         "mod": ["moderator", "user"], "alice": ["user"], "bob": ["user"]}
HIER = "Cannot manage users at or above your position"


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, rate_limiting=RateLimitingSection(enabled=True),
                       heartbeat=HeartbeatSection(interval_seconds=10_000))


async def login_error(server, name: str) -> dict:
    client = await server.connect()
    await client.send("login", username=name, password="pass1234")
    return await client.recv()


# ---- bans -------------------------------------------------------------------------------------


async def test_ban_closes_every_socket_of_the_member_and_refuses_their_login(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss, alice, bob = m["boss"], m["alice"], m["bob"]
    alice2 = await server.user("alice")
    await boss.drain()
    await bob.drain()
    await alice.drain()

    await boss.send("user_ban", user="usr:LOCAL_alice", reason="spam", listener="b1")
    await boss.expect("user_ban", user=LOCAL + "alice", banned=True, listener="b1")
    for sock in (alice, alice2):
        assert await sock.recv() == {"cmd": "disconnect", "reason": "You have been banned"}
        assert await sock.wait_closed() == 1008
    # the others learn only that the member went offline, once
    assert await bob.recv() == {"cmd": "user_disconnect", "username": LOCAL + "alice"}
    await bob.assert_silent()

    assert await login_error(server, "alice") == {"cmd": "auth_error",
                                                   "val": "Access denied: You are banned from this server"}
    # only alice: no other account shares her role list (the original's shared-list bug)
    carol = await server.user("carol")
    assert carol.ready["user"]["roles"] == ["user"]
    await bob.drain()
    await bob.send("users_list")
    listed = {u["username"]: u["roles"] for u in (await bob.expect("users_list"))["users"]}
    assert listed == {LOCAL + "boss": ["owner", "user"], LOCAL + "bob": ["user"], LOCAL + "carol": ["user"]}
    assert await boss.recv() == {"cmd": "user_disconnect", "username": LOCAL + "alice"}
    await boss.drain()
    await boss.send("users_banned_list")
    await boss.expect("users_banned_list", users=[LOCAL + "alice"])
    rows = await audit_rows(server)
    assert rows[-1] == ("user_ban", LOCAL + "boss", LOCAL + "alice", "spam", "{}")

    # the ban survives a restart
    await server.restart()
    assert (await login_error(server, "alice"))["val"] == "Access denied: You are banned from this server"


async def test_unban_lets_the_member_back_and_keeps_their_roles(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["moderator", "user"]})
    boss = m["boss"]
    await boss.send("user_ban", user=LOCAL + "alice")
    await boss.expect("user_ban", banned=True)
    await boss.drain()
    await boss.send("user_unban", user=LOCAL + "alice", listener="u")
    await boss.expect("user_unban", user=LOCAL + "alice", unbanned=True, listener="u")
    await boss.send("user_unban", user=LOCAL + "alice")
    await boss.expect("user_unban", user=LOCAL + "alice", unbanned=False)
    await boss.send("users_banned_list")
    await boss.expect("users_banned_list", users=[])
    alice = await server.user("alice")
    assert alice.ready["user"]["roles"] == ["moderator", "user"]
    actions = [r[0] for r in await audit_rows(server)]
    assert actions == ["user_ban", "user_unban"]  # the no-op unban is not logged


async def test_banning_twice_answers_false_and_logs_once(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss = m["boss"]
    await boss.send("user_ban", user=LOCAL + "alice")
    await boss.expect("user_ban", banned=True)
    await boss.drain()
    await boss.send("user_ban", user=LOCAL + "alice")
    await boss.expect("user_ban", user=LOCAL + "alice", banned=False)
    assert [r[0] for r in await audit_rows(server)] == ["user_ban"]


@pytest.mark.parametrize("cmd", ["user_ban", "user_unban", "user_timeout", "user_delete", "user_update",
                                 "user_leave", "rate_limit_reset"])
async def test_member_commands_reject_missing_unknown_and_oversized_names(server, cmd):
    boss = await server.owner("boss")
    extra = {"user_timeout": {"timeout": 10}, "user_update": {"updates": {"nickname": "x"}}}.get(cmd, {})
    # a missing `user` in user_leave means the caller's own account (the documented command)
    for user in ((None, "", "   ") if cmd != "user_leave" else ("", "   ")):
        fields = {} if user is None else {"user": user}
        await boss.send(cmd, **fields, **extra)
        await boss.expect_error("User parameter is required", src=cmd)
    for user in ("nobody", "x" * 5000, LOCAL + "b" * 200):
        await boss.send(cmd, user=user, **extra)
        await boss.expect_error("User not found", src=cmd)
    await boss.send(cmd, user=42, **extra)
    await boss.expect_error("Invalid field 'user': expected string, got number", src=cmd)


async def test_ban_reason_must_be_a_short_string(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss = m["boss"]
    await boss.send("user_ban", user=LOCAL + "alice", reason="r" * 501)
    await boss.expect_error("Reason must be at most 500 characters", src="user_ban")
    await boss.send("user_ban", user=LOCAL + "alice", reason=["x"])
    await boss.expect_error("Invalid field 'reason': expected string, got array", src="user_ban")
    assert await audit_rows(server) == []


async def test_invisible_member_banned_or_kicked_never_shows_up_as_leaving(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss, alice, bob = m["boss"], m["alice"], m["bob"]
    await alice.send("status_set", status="invisible")
    await alice.expect("user_disconnect")
    await alice.expect("status_set")
    await bob.drain()
    await boss.drain()
    await boss.send("user_leave", user=LOCAL + "alice")
    await boss.expect("user_leave", val="User kicked")
    assert await alice.recv() == {"cmd": "disconnect", "reason": "You have been kicked"}
    await alice.wait_closed()
    await bob.assert_silent()
    alice = await server.user("alice")
    await bob.drain()
    await boss.drain()
    await boss.send("user_ban", user=LOCAL + "alice")
    await boss.expect("user_ban", banned=True)
    await alice.wait_closed()
    await bob.assert_silent()


def test_dispatch_refuses_any_packet_from_a_connection_opened_before_the_ban():
    # The ban closes the member's sockets once it is committed; until then (and for any socket the
    # close has not reached yet) the dispatcher answers whatever they send with disconnect + close.
    for user, reason in ((User(id="u1", username="u1", roles=("banned", "user")), "You are banned from this server"),
                         (User(id="u1", username="u1", deleted=True), "Account removed")):
        state = ServerState(users={"u1": user}).with_conn(Conn(id=7, validator_key="k", user_id="u1", username="u1"))
        ctx = Context(conn_id=7, now=1.0, new_id="id")
        for cmd in ("message_new", "user_unban", "ping", None):
            step = dispatch.handle(state, ctx, Request(cmd, {"cmd": cmd, "channel": "general", "content": "hi"}))
            assert step.effects == (Send((7,), {"cmd": "disconnect", "reason": reason}), Close((7,), 1008, reason))
            assert step.state == state


# ---- who may act on whom ----------------------------------------------------------------------


async def test_members_without_manage_users_cannot_moderate(server):
    m = await members(server, STAFF)
    for name in ("alice", "mod"):
        c = m[name]
        for cmd, fields in (("user_ban", {"user": LOCAL + "bob"}), ("user_unban", {"user": LOCAL + "bob"}),
                            ("users_banned_list", {}), ("user_timeout", {"user": LOCAL + "bob", "timeout": 60}),
                            ("user_update", {"user": LOCAL + "bob", "updates": {"nickname": "x"}}),
                            ("user_leave", {"user": LOCAL + "bob"})):
            await c.send(cmd, **fields)
            await c.expect_error("Access denied: 'manage_users' permission required", src=cmd)
        await c.send("user_delete", user=LOCAL + "bob")
        await c.expect_error("Access denied: 'owner' role required", src=None)
    assert await audit_rows(server) == []
    await m["bob"].send("ping")
    await m["bob"].expect("pong")  # still connected, nothing happened to them


async def test_admins_cannot_act_on_equals_or_owners(server):
    m = await members(server, STAFF)
    adm = m["adm"]
    for target in ("boss", "adm2"):
        for cmd, fields in (("user_ban", {}), ("user_unban", {}), ("user_timeout", {"timeout": 60}),
                            ("user_update", {"updates": {"username": "pwned"}}), ("user_leave", {})):
            await adm.send(cmd, user=LOCAL + target, **fields)
            await adm.expect_error(HIER, src=cmd)
    await adm.send("user_ban", user=LOCAL + "adm")
    await adm.expect_error("You cannot ban yourself", src="user_ban")
    await adm.send("user_timeout", user=LOCAL + "adm", timeout=5)
    await adm.expect_error("You cannot time out yourself", src="user_timeout")
    await adm.send("user_delete", user=LOCAL + "alice")
    await adm.expect_error("Access denied: 'owner' role required", src=None)
    assert await audit_rows(server) == []
    for name in ("boss", "adm2"):
        await m[name].send("ping")
        await m[name].expect("pong")
    await m["boss"].send("users_banned_list")
    await m["boss"].expect("users_banned_list", users=[])


async def test_admins_can_moderate_members_ranked_below_them(server):
    m = await members(server, STAFF)
    adm = m["adm"]
    await adm.send("user_ban", user=LOCAL + "mod")
    await adm.expect("user_ban", user=LOCAL + "mod", banned=True)
    assert await m["mod"].wait_closed() == 1008
    await adm.expect("user_disconnect", username=LOCAL + "mod")
    await adm.send("users_banned_list")
    await adm.expect("users_banned_list", users=[LOCAL + "mod"])
    await adm.send("user_unban", user=LOCAL + "mod")  # the ban itself is no rank
    await adm.expect("user_unban", user=LOCAL + "mod", unbanned=True)
    await adm.send("user_timeout", user=LOCAL + "alice", timeout=30)
    await adm.expect("user_timeout", user=LOCAL + "alice", timeout=30)
    await adm.send("user_leave", user=LOCAL + "bob")
    await adm.expect("user_leave", user=LOCAL + "bob", val="User kicked")
    assert await m["bob"].wait_closed() == 1008
    # the owner may act on an admin
    await m["boss"].drain()
    await m["boss"].send("user_ban", user=LOCAL + "adm")
    await m["boss"].expect("user_ban", banned=True)
    assert await adm.wait_closed() == 1008


async def test_a_moderation_role_placed_low_cannot_reach_higher_members(server):
    # a role that grants manage_users but sits below `user` (position 5) gives no power over users
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    await m["boss"].close()
    from tests.modhelpers import db, start, stop
    await stop(server)
    con = db(server)
    con.execute("INSERT INTO roles(id, name, permissions, position) VALUES ('r-jan', 'janitor', ?, 5)",
                (json.dumps(["manage_users"]),))
    con.execute("UPDATE users SET roles = ? WHERE id = ?", (json.dumps(["janitor"]), LOCAL + "alice"))
    con.commit()
    con.close()
    await start(server)
    alice = await server.user("alice")
    await alice.send("user_ban", user=LOCAL + "bob")
    await alice.expect_error(HIER, src="user_ban")


# ---- timeouts ---------------------------------------------------------------------------------


async def test_timeout_reaches_every_socket_blocks_posting_and_survives_restart(server, autojump_clock):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss, alice = m["boss"], m["alice"]
    alice2 = await server.user("alice")
    await boss.drain()
    await alice.drain()
    await boss.send("user_timeout", user="usr:local_ALICE", timeout=60, listener="t")
    await boss.expect("user_timeout", user="usr:local_ALICE", timeout=60, listener="t")
    for sock in (alice, alice2):
        assert await sock.recv() == {"cmd": "rate_limit", "reason": "User timeout set", "length": 60000}
    await alice.send("message_new", channel="general", content="hi")
    assert await alice.recv() == {"cmd": "rate_limit", "reason": "You are in timeout for 60.0 more seconds",
                                  "length": 60000}
    # rate_limit_reset clears the burst history only, as in the original
    await boss.send("rate_limit_reset", user=LOCAL + "alice")
    await boss.expect("rate_limit_reset")
    await alice.send("typing", channel="general")
    assert (await alice.recv())["cmd"] == "rate_limit"

    await server.restart()
    alice = await server.user("alice")
    await alice.send("message_new", channel="general", content="hi")
    packet = await alice.recv()
    assert packet["cmd"] == "rate_limit" and packet["reason"].startswith("You are in timeout for ")
    assert 50_000 < packet["length"] <= 60_000
    await trio.sleep(61)
    await alice.send("message_new", channel="general", content="free")
    await alice.expect("message_new")


async def test_timeout_zero_lifts_it(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss, alice = m["boss"], m["alice"]
    await boss.send("user_timeout", user=LOCAL + "alice", timeout=600)
    await boss.expect("user_timeout", timeout=600)
    await alice.drain()
    await boss.send("user_timeout", user=LOCAL + "alice", timeout=0)
    await boss.expect("user_timeout", user=LOCAL + "alice", timeout=0)
    await alice.assert_silent()
    await alice.send("message_new", channel="general", content="back")
    await alice.expect("message_new")
    await server.restart()
    alice = await server.user("alice")
    await alice.send("message_new", channel="general", content="still back")
    await alice.expect("message_new")
    rows = await audit_rows(server)
    assert [(r[0], json.loads(r[4])) for r in rows] == [("user_timeout", {"timeout": 600}),
                                                         ("user_timeout", {"timeout": 0})]


async def test_timeout_rejects_bad_durations_before_the_user(server):
    boss = await server.owner("boss")
    for value in (None, -1, True, 1.5, "10", [5]):
        fields = {} if value is None else {"timeout": value}
        await boss.send("user_timeout", user="nobody", **fields)
        await boss.expect_error("Timeout must be a positive integer", src="user_timeout")
    await boss.send("user_timeout", user=LOCAL + "boss", timeout=10**12)
    await boss.expect_error("Timeout must be at most 31536000 seconds", src="user_timeout")
    await boss.send("user_timeout", timeout=5)
    await boss.expect_error("User parameter is required", src="user_timeout")


async def test_timeout_is_refused_when_the_limiter_is_off(nursery, tmp_path):
    srv = Server(nursery=nursery, config=make_config(tmp_path))  # rate limiting disabled
    await srv.start()
    m = await members(srv, {"boss": ["owner", "user"], "alice": ["user"]})
    await m["boss"].send("user_timeout", user=LOCAL + "alice", timeout=60)
    await m["boss"].expect_error("Rate limiter not available or disabled", src="user_timeout")
    await m["alice"].assert_silent()
    await srv.shutdown()


# ---- kicks, leaving, deleting -----------------------------------------------------------------


async def test_kick_closes_the_members_sockets_but_keeps_the_account(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss, alice, bob = m["boss"], m["alice"], m["bob"]
    await boss.send("user_leave", user=LOCAL + "alice", reason="cool off", listener="k")
    await boss.expect("user_leave", user=LOCAL + "alice", val="User kicked", listener="k")
    assert await alice.recv() == {"cmd": "disconnect", "reason": "You have been kicked"}
    assert await alice.wait_closed() == 1008
    assert await bob.recv() == {"cmd": "user_disconnect", "username": LOCAL + "alice"}
    await server.user("alice")  # may come back
    await boss.drain()
    await boss.send("user_leave", user=LOCAL + "bob")
    await boss.expect("user_leave", val="User kicked")
    await bob.wait_closed()
    await boss.expect("user_disconnect", username=LOCAL + "bob")
    await boss.send("user_leave", user=LOCAL + "bob")
    await boss.expect_error("User is not connected", src="user_leave")
    rows = await audit_rows(server)
    assert [(r[0], r[2], r[3]) for r in rows] == [("user_kick", LOCAL + "alice", "cool off"),
                                                   ("user_kick", LOCAL + "bob", None)]


async def test_leaving_deletes_the_account_closes_its_sockets_and_reserves_the_name(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    alice, bob = m["alice"], m["bob"]
    alice2 = await server.user("alice")
    await alice.send("message_new", channel="general", content="my last words")
    await alice.expect("message_new")
    await bob.drain()
    await alice2.drain()

    await alice.send("user_leave", listener="bye")
    assert await alice.recv() == {"cmd": "user_leave", "username": LOCAL + "alice"}
    assert await alice.recv() == {"cmd": "user_leave", "user": LOCAL + "alice", "val": "User left server",
                                  "listener": "bye"}
    assert await alice.recv() == {"cmd": "disconnect", "reason": "Account removed"}
    assert await alice.wait_closed() == 1000
    assert await alice2.recv() == {"cmd": "user_leave", "username": LOCAL + "alice"}
    assert await alice2.recv() == {"cmd": "disconnect", "reason": "Account removed"}
    await alice2.wait_closed()
    assert await bob.recv() == {"cmd": "user_leave", "username": LOCAL + "alice"}
    assert await bob.recv() == {"cmd": "user_disconnect", "username": LOCAL + "alice"}

    for _ in range(2):  # before and after a restart
        newcomer = await server.connect()
        await newcomer.send("register", username="alice", password="other-pass")
        assert await newcomer.recv() == {"cmd": "auth_error", "val": "Username already taken"}
        assert await login_error(server, "alice") == {"cmd": "auth_error", "val": "User not found"}
        await server.restart()
    bob = await server.user("bob")
    await bob.send("messages_get", channel="general")
    history = (await bob.expect("messages_get"))["messages"]
    assert [(x["user"], x["content"]) for x in history] == [(LOCAL + "alice", "my last words")]
    await bob.send("users_list")
    assert LOCAL + "alice" not in [u["username"] for u in (await bob.expect("users_list"))["users"]]
    assert await audit_rows(server) == []  # self-deletions are not audit entries


async def test_a_deleted_name_can_be_reused_only_when_configured(nursery, tmp_path):
    config = make_config(tmp_path, cracked=CrackedSection(argon2_memory_kib=64, argon2_time_cost=1,
                                                          allow_name_reuse=True))
    srv = Server(nursery=nursery, config=config)
    await srv.start()
    alice = await srv.user("alice")
    await alice.send("user_leave")
    await alice.wait_closed()
    again = await srv.user("alice", password="brand-new")
    assert again.ready["user"]["username"] == LOCAL + "alice"
    await srv.shutdown()


async def test_the_last_owner_cannot_leave_or_be_deleted(server):
    m = await members(server, {"boss": ["owner", "user"], "boss2": ["banned", "owner"], "alice": ["user"]})
    boss = m["boss"]
    await boss.send("user_leave")
    await boss.expect_error("Cannot delete the last owner", src="user_leave")
    await boss.send("user_delete", user=LOCAL + "boss")
    await boss.expect_error("Cannot delete the last owner", src="user_delete")
    await boss.send("ping")
    await boss.expect("pong")


async def test_owner_deletes_a_member(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss, alice, bob = m["boss"], m["alice"], m["bob"]
    await boss.send("user_delete", user=LOCAL + "alice", listener="d")
    assert await boss.recv() == {"cmd": "user_leave", "username": LOCAL + "alice"}
    assert await boss.recv() == {"cmd": "user_delete", "user": LOCAL + "alice", "deleted": True, "listener": "d"}
    assert await alice.recv() == {"cmd": "user_leave", "username": LOCAL + "alice"}
    assert await alice.recv() == {"cmd": "disconnect", "reason": "Account removed"}
    assert await alice.wait_closed() == 1008
    assert await bob.recv() == {"cmd": "user_leave", "username": LOCAL + "alice"}
    await boss.expect("user_disconnect", username=LOCAL + "alice")
    await boss.send("user_delete", user=LOCAL + "alice")
    await boss.expect_error("User not found", src="user_delete")
    assert await login_error(server, "alice") == {"cmd": "auth_error", "val": "User not found"}
    assert [(r[0], r[1], r[2]) for r in await audit_rows(server)] == [("user_delete", LOCAL + "boss", LOCAL + "alice")]


async def test_a_second_owner_can_delete_the_first(server):
    m = await members(server, {"boss": ["owner", "user"], "boss2": ["owner", "user"]})
    await m["boss2"].send("user_delete", user=LOCAL + "boss")
    await m["boss2"].expect("user_leave")
    await m["boss2"].expect("user_delete", deleted=True)
    await m["boss"].wait_closed()
    await m["boss2"].expect("user_disconnect", username=LOCAL + "boss")
    # boss2 is now the last owner
    await m["boss2"].send("user_leave")
    await m["boss2"].expect_error("Cannot delete the last owner", src="user_leave")

