"""The account's own life cycle through the real protocol: `logout` and `password_change`
(protocol additions, docs/compatibility.md "Account lifecycle")."""

from __future__ import annotations

import structlog

from originchats.config import AuthSection
from tests.offline import query

EXPIRED = {"cmd": "auth_error", "val": "Invalid or expired session token"}


async def token_login(server, name: str, token: str, ip: str = "local"):
    client = await server.connect(ip=ip)
    await client.send("login", username=name, token=token)
    return client, await client.recv()


async def test_logout_revokes_this_sessions_token_and_closes_the_socket(server):
    alice = await server.user("alice")
    other = await server.user("alice")  # a second session of the same account
    bob = await server.user("bob")
    await alice.drain(), await other.drain()
    await alice.send("logout", listener="L")
    assert await alice.recv() == {"cmd": "logout", "val": "Logged out", "listener": "L"}
    assert await alice.wait_closed() == 1000
    # this session's token is gone; the other session's is not, and that socket stays
    _, answer = await token_login(server, "alice", alice.ready["validator"])
    assert answer == EXPIRED
    await other.send("ping", listener="P")
    assert await other.recv() == {"cmd": "pong", "val": "pong", "listener": "P"}
    client, answer = await token_login(server, "alice", other.ready["validator"])
    assert answer["cmd"] == "auth_success"
    await bob.assert_silent()  # alice is still online elsewhere: no user_disconnect
    rows = query(server, "SELECT COUNT(*) FROM sessions WHERE user_id = 'USR:local_alice'")
    assert rows == [(1,)]  # the one `client` was just given


async def test_logout_of_the_last_socket_shows_the_user_offline(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    await alice.send("logout")
    assert await alice.recv() == {"cmd": "logout", "val": "Logged out"}
    assert await bob.recv() == {"cmd": "user_disconnect", "username": "USR:local_alice"}


async def test_password_change_needs_the_old_password_and_ends_every_other_session(server):
    alice = await server.user("alice", password="old-pass")
    second = await server.user("alice", password="old-pass")
    bob = await server.user("bob")
    await alice.drain(), await second.drain()
    await alice.send("password_change", old_password="wrong-pass", new_password="new-pass", listener="C")
    assert await alice.recv() == {"cmd": "error", "src": "password_change", "val": "Invalid password", "listener": "C"}
    await alice.send("password_change", old_password="old-pass", new_password="new-pass", listener="C")
    # every other socket of the account is told and closed, then the caller gets its answer
    assert await second.recv() == {"cmd": "disconnect", "reason": "Password changed"}
    assert await second.wait_closed() == 1000
    assert await alice.recv() == {"cmd": "password_change", "val": "Password changed", "listener": "C"}
    await bob.assert_silent()  # alice is still online
    # the caller stays signed in, and its token still works; the other session's does not
    await alice.send("ping", listener="P")
    assert await alice.recv() == {"cmd": "pong", "val": "pong", "listener": "P"}
    _, answer = await token_login(server, "alice", second.ready["validator"])
    assert answer == EXPIRED
    _, answer = await token_login(server, "alice", alice.ready["validator"])
    assert answer["cmd"] == "auth_success"
    # the new password works, the old one no longer does; the stored hash is argon2id
    client = await server.connect()
    await client.send("login", username="alice", password="old-pass")
    assert await client.recv() == {"cmd": "auth_error", "val": "Invalid password"}
    await client.send("login", username="alice", password="new-pass")
    assert (await client.recv())["cmd"] == "auth_success"
    [(stored,)] = query(server, "SELECT password_hash FROM users WHERE id = 'USR:local_alice'")
    assert stored.startswith("$argon2id$")


async def test_password_change_errors(server):
    alice = await server.user("alice")
    cases = [
        ({}, "Old and new password required"),
        ({"old_password": "pass1234"}, "Old and new password required"),
        ({"old_password": "pass1234", "new_password": 12345}, "Old and new password required"),
        ({"old_password": "", "new_password": "new-pass"}, "Old and new password required"),
        ({"old_password": "pass1234", "new_password": "abc"}, "Password must be 4-72 characters"),
        ({"old_password": "pass1234", "new_password": "x" * 73}, "Password must be 4-72 characters"),
    ]
    for fields, val in cases:
        await alice.send("password_change", **fields)
        await alice.expect_error(val, src="password_change")


async def test_password_change_guesses_count_like_login_failures(make_server):
    server = await make_server(auth=AuthSection(registrations_per_ip_per_hour=0, lockout_failures=3))
    alice = await server.user("alice")
    for _ in range(3):
        await alice.send("password_change", old_password="guess", new_password="new-pass")
        await alice.expect_error("Invalid password", src="password_change")
    await alice.send("password_change", old_password="pass1234", new_password="new-pass")
    await alice.expect_error("Too many failed login attempts, try again later", src="password_change")
    # the same lock as for `login` from this address
    client = await server.connect()
    await client.send("login", username="alice", password="pass1234")
    assert await client.recv() == {"cmd": "auth_error", "val": "Too many failed login attempts, try again later"}


async def test_passwords_of_a_change_are_never_logged(server):
    with structlog.testing.capture_logs() as logs:
        alice = await server.user("alice", password="first-secret")
        await alice.send("password_change", old_password="wrong-secret", new_password="second-secret")
        await alice.expect_error("Invalid password")
        await alice.send("password_change", old_password="first-secret", new_password="second-secret")
        await alice.expect("password_change")
    text = repr(logs)
    for secret in ("first-secret", "wrong-secret", "second-secret"):
        assert secret not in text
