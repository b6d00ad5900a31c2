"""`originchats admin ban | unban | list-users | reset-password`: as a real subprocess through the admin socket of a
running server (the change is live: a ban disconnects at once) and on the database of a stopped
one; the answers to bad input through the same operator path (`server.admin`, what the CLI sends)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio

from tests.client import settle
from tests.modhelpers import LOCAL, audit_rows, start

ROOT = Path(__file__).resolve().parent.parent


async def admin(server, *args: str, stdin: bytes = b"", stderr: bytes = b"") -> tuple[int, str]:
    """Run `originchats admin --data-dir … ARGS`; (exit code, stdout)."""
    cmd = [sys.executable, "-m", "originchats", "admin", "--data-dir", server.config.storage.data_dir, *args]
    with trio.fail_after(60):
        done = await trio.run_process(cmd, cwd=ROOT, stdin=stdin, capture_stdout=True, capture_stderr=True,
                                      check=False)
    assert done.stderr == stderr, done.stderr
    return done.returncode, done.stdout.decode()


async def test_ban_through_the_running_server_disconnects_at_once(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    code, out = await admin(server, "ban", "alice", "--reason", "spam bot")
    assert (code, out) == (0, "USR:local_alice is now banned; closed 1 open connection\n")
    assert await alice.recv() == {"cmd": "disconnect", "reason": "You have been banned"}
    assert await alice.wait_closed() == 1008
    assert await bob.recv() == {"cmd": "user_disconnect", "username": LOCAL + "alice"}
    rows = await audit_rows(server)
    assert rows == [("user_ban", None, LOCAL + "alice", "spam bot", '{"via":"operator"}')]

    code, out = await admin(server, "list-users")
    assert code == 0
    assert out.splitlines() == ["2 users",
                                "USR:local_alice  nickname=alice  roles=user  banned",
                                "USR:local_bob  nickname=bob  roles=user  online"]

    code, out = await admin(server, "unban", "USR:LOCAL_alice")
    assert (code, out) == (0, "USR:local_alice is no longer banned\n")
    again = await server.user("alice")
    assert again.ready["user"]["roles"] == ["user"]
    assert [r[0] for r in await audit_rows(server)] == ["user_ban", "user_unban"]


async def test_commands_work_on_the_database_of_a_stopped_server(server):
    await server.user("alice")
    await server.user("bob")
    await server.shutdown()
    assert not (Path(server.config.storage.data_dir) / "admin.sock").exists()

    assert await admin(server, "ban", "bob", "--reason", "offline ban") == (0, "USR:local_bob is now banned\n")
    code, out = await admin(server, "list-users")
    assert (code, out.splitlines()) == (0, ["2 users", "USR:local_alice  nickname=alice  roles=user",
                                            "USR:local_bob  nickname=bob  roles=user  banned"])

    await start(server)
    refused = await server.connect()
    await refused.send("login", username="bob", password="pass1234")
    assert await refused.recv() == {"cmd": "auth_error", "val": "Access denied: You are banned from this server"}
    rows = await audit_rows(server)
    assert [(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows] == [
        ("user_ban", None, LOCAL + "bob", "offline ban", {"via": "operator"})]


async def test_unknown_users_fail_with_exit_code_1_running_or_not(server):
    await server.user("alice")
    assert await admin(server, "ban", "zed") == (1, "no such user: zed\n")
    await server.shutdown()
    assert await admin(server, "unban", "zed") == (1, "no such user: zed\n")


async def test_operator_answers_to_bad_input_and_no_ops(server):
    await server.user("alice")
    cases = [
        ({"cmd": "ban"}, False, "a user name is required"),
        ({"cmd": "ban", "user": ""}, False, "a user name is required"),
        ({"cmd": "ban", "user": "   "}, False, "a user name is required"),
        ({"cmd": "unban", "user": "z" * 300}, False, "no such user: " + "z" * 128 + "…"),
        ({"cmd": "ban", "user": "alice", "reason": "r" * 501}, False, "the reason must be at most 500 characters"),
        ({"cmd": "ban", "user": "alice", "reason": 5}, False, "the reason must be a string"),
        ({"cmd": "unban", "user": "alice"}, True, "USR:local_alice is not banned"),
        ({"cmd": "ban", "user": "alice", "reason": "  "}, True, "USR:local_alice is now banned; closed 1 open connection"),
        ({"cmd": "ban", "user": "alice"}, True, "USR:local_alice is already banned"),
    ]
    for request, ok, message in cases:
        assert await server.admin(request) == {"ok": ok, "message": message}, request
    assert [(r[0], r[3]) for r in await audit_rows(server)] == [("user_ban", None)]


async def test_list_users_marks_deleted_accounts(server):
    alice = await server.user("alice")
    await alice.send("user_leave")
    await alice.wait_closed()
    await settle()  # the server has seen the socket go (in a cluster, the gateway told the core)
    assert await server.admin({"cmd": "list-users"}) == {
        "ok": True, "message": "0 users (1 deleted account kept)",
        "lines": ["USR:local_alice  nickname=alice  roles=user  deleted"]}


async def test_reset_password_through_the_running_server(server):
    alice = await server.user("alice")
    again = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain(), await again.drain()
    # the new password comes on stdin (a prompt on a terminal), never on the command line
    code, out = await admin(server, "reset-password", "alice", stdin=b"fresh-pass\n")
    assert (code, out) == (0, "USR:local_alice: password reset, session tokens revoked; closed 2 open connections\n")
    for client in (alice, again):
        assert await client.recv() == {"cmd": "disconnect", "reason": "Your password was reset"}
        assert await client.wait_closed() == 1000
    assert await bob.recv() == {"cmd": "user_disconnect", "username": LOCAL + "alice"}
    client = await server.connect()
    await client.send("login", username="alice", token=alice.ready["validator"])
    assert await client.recv() == {"cmd": "auth_error", "val": "Invalid or expired session token"}
    await client.send("login", username="alice", password="pass1234")
    assert await client.recv() == {"cmd": "auth_error", "val": "Invalid password"}
    await client.send("login", username="alice", password="fresh-pass")
    assert (await client.recv())["cmd"] == "auth_success"
    rows = await audit_rows(server)
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [("password_reset", None, LOCAL + "alice", '{"via":"operator"}')]


async def test_reset_password_on_a_stopped_server_and_it_lifts_the_lockout(server):
    await server.user("alice")
    locked = await server.connect()
    for _ in range(10):
        await locked.send("login", username="alice", password="guess")
        await locked.recv()
    token = (await server.user("bob")).ready["validator"]
    await server.shutdown()
    code, out = await admin(server, "reset-password", "bob", stdin=b"bob-new-pass\n")
    assert (code, out) == (0, "USR:local_bob: password reset, session tokens revoked\n")
    await start(server)
    client = await server.connect()
    await client.send("login", username="bob", token=token)
    assert await client.recv() == {"cmd": "auth_error", "val": "Invalid or expired session token"}
    await client.send("login", username="bob", password="bob-new-pass")
    assert (await client.recv())["cmd"] == "auth_success"
    # through the running server, a reset also lifts the locks on the account
    locked = await server.connect()
    for _ in range(10):
        await locked.send("login", username="alice", password="guess")
        await locked.recv()
    await locked.send("login", username="alice", password="pass1234")
    assert await locked.recv() == {"cmd": "auth_error", "val": "Too many failed login attempts, try again later"}
    assert (await admin(server, "reset-password", "alice", stdin=b"alice-new\n"))[0] == 0
    await locked.send("login", username="alice", password="alice-new")
    assert (await locked.recv())["cmd"] == "auth_success"


async def test_reset_password_refusals(server):
    await server.user("alice")
    assert await admin(server, "reset-password", "alice",
                       stderr=b"originchats: no password on standard input\n") == (2, "")
    code, out = await admin(server, "reset-password", "zed", stdin=b"whatever\n")
    assert (code, out) == (1, "no such user: zed\n")
    cases = [
        ({"cmd": "reset-password", "user": "alice"}, "a new password is required"),
        ({"cmd": "reset-password", "user": "alice", "password": 1234}, "a new password is required"),
        ({"cmd": "reset-password", "user": "alice", "password": "abc"}, "the password must be 4-72 characters"),
    ]
    for request, message in cases:
        assert await server.admin(request) == {"ok": False, "message": message}, request
