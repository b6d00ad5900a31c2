"""Authentication through the real protocol: the pre-auth gate, auth modes, cracked register/login
(auth.md §2, §3, §5), the login lockout, password storage, and per-account role lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog
import trio
import trio.testing

from originchats.config import AuthSection, CrackedSection, LimitsSection
from originchats.store.db import db_path
from tests.conftest import Server, make_config
from tests.offline import ban_offline, query

AUTH_REQUIRED = {"cmd": "auth_error", "val": "Authentication required"}
REQUIRED = "Username and password required"
NAME_LENGTH = "Username must be 2-32 characters"
PASSWORD_LENGTH = "Password must be 4-72 characters"
NAME_CHARS = "Username can only contain letters, numbers, hyphens, and underscores"
TAKEN = "Username already taken"
LOCKED = "Too many failed login attempts, try again later"


def auth_error(val: str) -> dict:
    return {"cmd": "auth_error", "val": val}


def brief(name: str, roles: list[str] | None = None) -> dict:
    return {"username": f"USR:local_{name}", "roles": roles or ["user"], "color": None}


async def register(client, name: str, password: str = "pass1234", **extra: object) -> dict:
    await client.send("register", username=name, password=password, **extra)
    return await client.recv()


# ---- the pre-auth gate ------------------------------------------------------------------------


async def test_every_command_before_auth_gets_auth_required_without_listener(server):
    alice = await server.user("alice")
    stranger = await server.connect()
    for packet in (
        {"cmd": "ping", "listener": "L1"},
        {"cmd": "server_info"},
        {"cmd": "users_list", "listener": "L2"},
        {"cmd": "message_new", "channel": "general", "content": "sneaky"},
        {"cmd": "pong"},
        {"cmd": "no_such_command"},
        {"listener": "L3"},
    ):
        await stranger.send_raw(json.dumps(packet))
        assert await stranger.recv() == AUTH_REQUIRED
    await alice.assert_silent()  # the pre-auth message_new went nowhere
    # the connection stays usable: authenticate now
    assert (await register(stranger, "bob"))["cmd"] == "auth_success"
    await stranger.expect("ready")
    await stranger.drain()
    await stranger.send("messages_get", channel="general")
    assert (await stranger.expect("messages_get"))["messages"] == []


async def test_auth_commands_after_auth_are_unknown_commands(server):
    alice = await server.user("alice")
    for cmd in ("auth", "login", "register"):
        await alice.send(cmd, username="alice", password="pass1234", validator="v")
        assert await alice.recv() == {"cmd": "error", "src": cmd, "val": f"Unknown command: {cmd}"}
    await alice.send("login", username="alice", password="pass1234", listener="L")
    await alice.expect_error("Unknown command: login", src="login", listener="L")


async def test_rotur_mode_refuses_login_and_register(make_server):
    srv = await make_server(auth_mode="rotur")
    client = await srv.connect()
    val = client.handshake["val"]
    assert val["auth_mode"] == "rotur"
    assert "auth" in val["capabilities"] and "login" not in val["capabilities"]
    assert "register" not in val["capabilities"]
    for cmd in ("register", "login"):
        await client.send(cmd, username="alice", password="pass1234", listener="L")
        assert await client.recv() == AUTH_REQUIRED
    await client.send("ping")
    assert await client.recv() == AUTH_REQUIRED


async def test_cracked_only_mode_refuses_rotur_auth(make_server):
    srv = await make_server(auth_mode="cracked-only")
    client = await srv.connect()
    val = client.handshake["val"]
    assert val["auth_mode"] == "cracked-only"
    assert "auth" not in val["capabilities"]
    assert {"login", "register"} <= set(val["capabilities"])
    await client.send("auth", validator="anything", listener="L")
    assert await client.recv() == auth_error("Rotur authentication is disabled. Use login or register commands.")
    assert (await register(client, "alice"))["cmd"] == "auth_success"


async def test_cracked_mode_accepts_both_kinds(server):
    client = await server.connect()
    assert client.handshake["val"]["auth_mode"] == "cracked"
    assert {"auth", "login", "register"} <= set(client.handshake["val"]["capabilities"])
    # `auth` is handled (a missing validator is refused without asking Rotur) ...
    await client.send("auth")
    assert await client.recv() == auth_error("Invalid authentication")
    await client.send("auth", validator=12)
    assert await client.recv() == auth_error("Invalid authentication")
    # ... and so are the cracked commands
    assert (await register(client, "alice"))["cmd"] == "auth_success"


# ---- register ---------------------------------------------------------------------------------


async def test_register_errors_in_order(server):
    client = await server.connect()
    cases = [
        ({}, REQUIRED),
        ({"username": "alice"}, REQUIRED),
        ({"username": "   ", "password": "pass1234"}, REQUIRED),
        ({"username": "alice", "password": ""}, REQUIRED),
        ({"username": 5, "password": "pass1234"}, REQUIRED),
        ({"username": "alice", "password": ["pass1234"]}, REQUIRED),
        ({"username": "a", "password": "x"}, NAME_LENGTH),  # the name is checked before the password
        ({"username": "  a  ", "password": "pass1234"}, NAME_LENGTH),  # measured after strip()
        ({"username": "a" * 33, "password": "pass1234"}, NAME_LENGTH),
        ({"username": "al", "password": "abc"}, PASSWORD_LENGTH),
        ({"username": "a b", "password": "abc"}, PASSWORD_LENGTH),  # the password before the characters
        ({"username": "al", "password": "x" * 73}, PASSWORD_LENGTH),
        ({"username": "al ice", "password": "pass1234"}, NAME_CHARS),
        ({"username": "a.b", "password": "pass1234"}, NAME_CHARS),
        ({"username": "a/b", "password": "pass1234"}, NAME_CHARS),
    ]
    for fields, expected in cases:
        await client.send("register", listener="L", **fields)
        assert await client.recv() == auth_error(expected), fields
    # failures leave the connection open and unauthenticated
    await client.send("ping")
    assert await client.recv() == AUTH_REQUIRED
    assert (await register(client, "alice"))["cmd"] == "auth_success"


@pytest.mark.parametrize("name", [
    "ümlaut",  # Latin letter outside ASCII (the original accepted it)
    "\u0430lice",  # Cyrillic a: looks exactly like "alice"
    "ab\u0663",  # Arabic-Indic digit three
    "ｆｕｌｌ",  # full-width letters
])
async def test_register_accepts_ascii_names_only(server, name):
    client = await server.connect()
    assert await register(client, name) == auth_error(NAME_CHARS)


async def test_register_length_bounds_are_inclusive(server):
    for name, password in (("ab", "pass"), ("x" * 32, "p" * 72), ("a_b-c9", "pass1234")):
        client = await server.connect()
        assert (await register(client, name, password))["cmd"] == "auth_success", name


async def test_register_name_already_taken_in_any_case(server):
    await server.user("alice")
    for name in ("alice", "ALICE", "  Alice "):
        client = await server.connect()
        assert await register(client, name) == auth_error(TAKEN)


async def test_racing_registrations_of_one_name_make_one_account(server):
    first, second = await server.connect(), await server.connect()
    for client in (first, second):  # both pass the name check, then both hash their password
        await client.send("register", username="alice", password="pass1234")
        await trio.testing.wait_all_tasks_blocked()
    answers = {packet["cmd"]: packet for packet in (await first.recv(), await second.recv())}
    assert set(answers) == {"auth_success", "auth_error"}
    assert answers["auth_error"] == auth_error(TAKEN)  # checked again once the hash was ready
    assert query(server, "SELECT id FROM users") == [("USR:local_alice",)]


async def test_registration_can_be_disabled(make_server):
    srv = await make_server(cracked=CrackedSection(allow_registration=False, argon2_memory_kib=64,
                                                   argon2_time_cost=1))
    client = await srv.connect()
    await client.send("register")  # checked before anything else
    assert await client.recv() == auth_error("Registration is disabled")
    assert await register(client, "alice") == auth_error("Registration is disabled")


async def test_register_success_sequence(server):
    alice = await server.user("alice")
    lurker = await server.connect()  # not authenticated: hears nothing
    bob = await server.connect()
    await bob.send("register", username="  Bob ", password="hunter22", listener="L")
    assert await bob.recv() == {"cmd": "auth_success", "val": "Authentication successful"}
    ready = await bob.expect("ready")
    assert set(ready) == {"cmd", "user", "validator"}
    assert ready["user"] == {"username": "USR:local_bob", "nickname": "bob", "roles": ["user"],
                             "status": {"status": "online", "text": ""}, "pfp_url": None, "cracked": True}
    assert isinstance(ready["validator"], str) and len(ready["validator"]) == 43
    # user_join, then user_connect, to every authenticated socket including the new one
    for client in (bob, alice):
        assert await client.recv() == {"cmd": "user_join", "user": brief("bob")}
        assert await client.recv() == {"cmd": "user_connect", "user": brief("bob")}
    for client in (alice, bob, lurker):
        await client.assert_silent()


# ---- login ------------------------------------------------------------------------------------


async def test_login_errors(server):
    await (await server.user("alice")).close()
    client = await server.connect()
    cases = [
        ({}, REQUIRED),
        ({"username": "alice"}, REQUIRED),
        ({"username": " ", "password": "pass1234"}, REQUIRED),
        ({"username": "alice", "password": 1234}, REQUIRED),
        ({"username": "nobody", "password": "pass1234"}, "User not found"),
        ({"username": "USR:local_alice", "password": "pass1234"}, "User not found"),  # bare names only
        ({"username": "alice", "password": "pass12345"}, "Invalid password"),
    ]
    for fields, expected in cases:
        await client.send("login", listener="L", **fields)
        assert await client.recv() == auth_error(expected), fields
    await client.send("login", username="alice", password="pass1234")
    assert (await client.recv())["cmd"] == "auth_success"


async def test_login_success_sequence_and_second_socket(server):
    first = await server.user("bob")
    first_ready = first.ready
    await first.close()
    alice = await server.user("alice")
    bob = await server.connect()
    await bob.send("login", username=" BOB ", password="pass1234", listener="L")
    assert await bob.recv() == {"cmd": "auth_success", "val": "Authentication successful"}
    ready = await bob.expect("ready")
    assert ready["user"] == first_ready["user"]
    assert len(ready["validator"]) == 43 and ready["validator"] != first_ready["validator"]
    # no user_join on login; user_connect to everyone including bob
    assert await bob.recv() == {"cmd": "user_connect", "user": brief("bob")}
    assert await alice.recv() == {"cmd": "user_connect", "user": brief("bob")}
    # a second socket of the same user: nobody hears user_connect
    bob2 = await server.connect()
    await bob2.send("login", username="bob", password="pass1234")
    assert (await bob2.recv())["cmd"] == "auth_success"
    await bob2.expect("ready")
    for client in (alice, bob, bob2):
        await client.assert_silent()


async def test_banned_user_cannot_log_in(server):
    await (await server.user("mallory")).close()
    await ban_offline(server, "USR:local_mallory")
    client = await server.connect()
    # a wrong password is reported as such first; the right one meets the ban
    await client.send("login", username="mallory", password="wrong-one")
    assert await client.recv() == auth_error("Invalid password")
    await client.send("login", username="mallory", password="pass1234")
    assert await client.recv() == auth_error("Access denied: You are banned from this server")
    await client.send("ping")
    assert await client.recv() == AUTH_REQUIRED


async def test_long_unicode_password_is_not_truncated(server):
    # 72 characters but 144 bytes: bcrypt silently cut it at 72 bytes; argon2 takes all of it
    password = "é" * 72
    await (await server.user("alice", password=password)).close()
    client = await server.connect()
    await client.send("login", username="alice", password="é" * 71 + "e")
    assert await client.recv() == auth_error("Invalid password")
    await client.send("login", username="alice", password=password)
    assert (await client.recv())["cmd"] == "auth_success"


async def test_login_locks_after_ten_failures_until_the_window_passes(make_server, autojump_clock):
    server = await make_server(limits=LimitsSection(login_timeout_seconds=3600))  # waits 15 minutes unauthenticated
    await (await server.user("alice")).close()
    await (await server.user("bob")).close()
    client = await server.connect()
    for _ in range(10):
        await client.send("login", username="alice", password="guess")
        assert await client.recv() == auth_error("Invalid password")
    # locked: even the right password, from any connection
    await client.send("login", username="alice", password="pass1234")
    assert await client.recv() == auth_error(LOCKED)
    other = await server.connect()
    await other.send("login", username="alice", password="pass1234")
    assert await other.recv() == auth_error(LOCKED)
    # the lock is per account
    await other.send("login", username="bob", password="pass1234")
    assert (await other.recv())["cmd"] == "auth_success"
    await trio.sleep(14 * 60)
    await client.send("login", username="alice", password="pass1234")
    assert await client.recv() == auth_error(LOCKED)
    await trio.sleep(60)
    await client.send("login", username="alice", password="pass1234")
    assert (await client.recv())["cmd"] == "auth_success"


async def test_success_resets_the_failure_count(server):
    await (await server.user("alice")).close()
    for _ in range(2):
        client = await server.connect()
        for _ in range(9):
            await client.send("login", username="alice", password="guess")
            assert await client.recv() == auth_error("Invalid password")
        await client.send("login", username="alice", password="pass1234")
        assert (await client.recv())["cmd"] == "auth_success"
        await client.close()


async def test_parallel_guesses_cannot_beat_the_lockout(make_server):
    """Guesses sent at once from many connections all pass the first lockout check; a right one
    that is verified after the account locked must still be refused."""
    server = await make_server(auth=AuthSection(registrations_per_ip_per_hour=0, hash_per_ip=12))
    await (await server.user("alice")).close()
    clients = [await server.connect() for _ in range(12)]
    for i, client in enumerate(clients):
        await client.send("login", username="alice", password="pass1234" if i == 11 else f"guess{i}")
        await trio.testing.wait_all_tasks_blocked()  # queued for the password check, in this order
    answers = [await client.recv() for client in clients]
    # two checks run at a time, so two neighbours may finish in either order: the ten counted
    # failures answer "Invalid password", the wrong guess after them finds the account locked
    wrong = answers[:11]
    assert wrong.count(auth_error("Invalid password")) == 10 and wrong.count(auth_error(LOCKED)) == 1
    # the right password was checked after ten failures: refused too
    assert answers[11] == auth_error(LOCKED)


# ---- storage ----------------------------------------------------------------------------------


async def test_passwords_are_stored_as_argon2id_and_never_logged(server):
    secret, wrong = "correct horse 42", "wrong horse 42"
    with structlog.testing.capture_logs() as logs:
        client = await server.connect()
        assert (await register(client, "alice", secret))["cmd"] == "auth_success"
        await client.close()
        client = await server.connect()
        await client.send("login", username="alice", password=wrong)
        assert await client.recv() == auth_error("Invalid password")
        await client.send("login", username="alice", password=secret)
        assert (await client.recv())["cmd"] == "auth_success"
        await client.expect("ready")
        await client.expect("user_connect")
        await client.send("register", username="bob", password=secret)  # unknown command after auth
        await client.expect_error("Unknown command: register")
    assert any(entry["event"] == "connection_opened" for entry in logs)  # the capture worked
    assert secret not in repr(logs) and wrong not in repr(logs)
    [(stored,)] = query(server, "SELECT password_hash FROM users WHERE id = ?", ("USR:local_alice",))
    assert stored.startswith("$argon2id$")
    await server.shutdown()
    data = Path(server.config.storage.data_dir)
    for path in data.iterdir():
        if path.name.startswith(db_path(data).name):
            assert secret.encode() not in path.read_bytes(), path


async def test_registration_is_not_logged_with_the_password_even_on_error(server):
    with structlog.testing.capture_logs() as logs:
        client = await server.connect()
        for fields in ({"username": "ab", "password": "sec"}, {"username": "a.b", "password": "secret-pw"}):
            await client.send("register", **fields)
            await client.expect("auth_error")
    assert "secret-pw" not in repr(logs)


# ---- role lists -------------------------------------------------------------------------------


async def test_each_account_has_its_own_role_list(server):
    """The original gave every new account one shared list: banning one user banned them all."""
    alice = await server.user("alice")
    await server.user("bob")
    await server.user("carol")
    assert (await server.admin({"cmd": "grant-owner", "user": "bob"}))["ok"]
    await server.user("dave")
    expected = {"USR:local_alice": ["user"], "USR:local_bob": ["owner", "user"],
                "USR:local_carol": ["user"], "USR:local_dave": ["user"]}
    await alice.drain()
    await alice.send("users_list")
    roles = {u["username"]: u["roles"] for u in (await alice.expect("users_list"))["users"]}
    assert roles == expected
    await server.restart()
    eve = await server.user("eve")
    await eve.send("users_list")
    roles = {u["username"]: u["roles"] for u in (await eve.expect("users_list"))["users"]}
    assert roles == {**expected, "USR:local_eve": ["user"]}
