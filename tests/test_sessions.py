"""Session tokens (docs/compatibility.md "Sessions"): a cracked account's `ready.validator` logs the
account in again with `{"cmd":"login","username":…,"token":…}`, without the password. Tokens are
single-use, bound to their account, kept across restarts as SHA-256 only, limited per account,
expire, and die with a ban."""

import hashlib
import sqlite3

import trio

from originchats.config import HeartbeatSection
from originchats.core.sessions import MAX_SESSIONS_PER_USER, SESSION_TTL
from originchats.server import timers
from originchats.store.db import db_path
from tests.clock import autojump_clock  # noqa: F401  (fixture)


async def token_login(server, name: str, token: object):  # type: ignore[no-untyped-def]
    client = await server.connect()
    await client.send("login", username=name, token=token)
    return client, await client.recv()


async def test_the_validator_logs_in_again_once_and_hands_out_the_next(server):
    alice = await server.user("alice")
    first = alice.ready["validator"]
    again, answer = await token_login(server, "Alice", first)  # names are case-insensitive, as for passwords
    assert answer == {"cmd": "auth_success", "val": "Authentication successful"}
    ready = await again.expect("ready")
    assert ready["user"]["username"] == "USR:local_alice" and ready["user"]["cracked"] is True
    second = ready["validator"]
    assert isinstance(second, str) and len(second) >= 43 and second != first
    await again.send("message_new", channel="general", content="back", listener="L")
    await again.expect("message_new", listener="L")
    # used once: the old token is gone, the new one works
    _, refused = await token_login(server, "alice", first)
    assert refused == {"cmd": "auth_error", "val": "Invalid or expired session token"}
    _, ok = await token_login(server, "alice", second)
    assert ok["cmd"] == "auth_success"


async def test_a_token_is_bound_to_its_account_and_checked_strictly(server):
    alice = await server.user("alice")
    await server.user("bob")
    _, answer = await token_login(server, "bob", alice.ready["validator"])
    assert answer == {"cmd": "auth_error", "val": "Invalid or expired session token"}
    _, answer = await token_login(server, "alice", alice.ready["validator"] + "x")
    assert answer == {"cmd": "auth_error", "val": "Invalid or expired session token"}
    _, answer = await token_login(server, "alice", 12345)
    assert answer == {"cmd": "auth_error", "val": "Username and token required"}
    _, answer = await token_login(server, "nobody", alice.ready["validator"])
    assert answer == {"cmd": "auth_error", "val": "User not found"}
    # the token survived the failed attempts
    _, answer = await token_login(server, "alice", alice.ready["validator"])
    assert answer["cmd"] == "auth_success"


async def test_only_the_hash_is_stored_and_tokens_survive_a_restart(server):
    alice = await server.user("alice")
    token = alice.ready["validator"]
    await server.restart()
    path = db_path(server.config.storage.data_dir)
    raw = path.read_bytes() + (path.parent / (path.name + "-wal")).read_bytes()
    assert token.encode() not in raw
    con = sqlite3.connect(path)
    rows = con.execute("SELECT token_hash, user_id FROM sessions").fetchall()
    con.close()
    assert (hashlib.sha256(token.encode()).hexdigest(), "USR:local_alice") in rows
    _, answer = await token_login(server, "alice", token)
    assert answer["cmd"] == "auth_success"


async def test_an_account_keeps_only_its_newest_tokens(server):
    tokens = []
    for _ in range(MAX_SESSIONS_PER_USER + 2):
        client = await server.user("alice")
        tokens.append(client.ready["validator"])
    _, answer = await token_login(server, "alice", tokens[0])
    assert answer == {"cmd": "auth_error", "val": "Invalid or expired session token"}
    _, answer = await token_login(server, "alice", tokens[-MAX_SESSIONS_PER_USER])
    assert answer["cmd"] == "auth_success"


async def test_tokens_expire(make_server, autojump_clock, monkeypatch):
    # a heartbeat and a poll check a day: the month's sleep below wakes the server's timers ~100
    # times, not ~2.7 million (the poll check runs every second)
    monkeypatch.setattr(timers, "POLL_CHECK_SECONDS", 86400.0)
    server = await make_server(heartbeat=HeartbeatSection(interval_seconds=86400))
    alice = await server.user("alice")
    await alice.close()
    await trio.sleep(SESSION_TTL + 60)
    _, answer = await token_login(server, "alice", alice.ready["validator"])
    assert answer == {"cmd": "auth_error", "val": "Invalid or expired session token"}


async def test_a_banned_account_cannot_come_back_with_a_token_and_loses_them_on_restart(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    token = bob.ready["validator"]
    await boss.drain()
    await boss.send("user_ban", user="USR:local_bob", listener="b")
    await boss.expect("user_ban", listener="b")
    _, answer = await token_login(server, "bob", token)
    assert answer["cmd"] == "auth_error"
    await server.restart()
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    left = con.execute("SELECT COUNT(*) FROM sessions WHERE user_id = 'USR:local_bob'").fetchone()[0]
    con.close()
    assert left == 0
    boss = await server.owner("boss")
    await boss.send("user_unban", user="USR:local_bob", listener="u")
    await boss.expect("user_unban", listener="u")
    _, answer = await token_login(server, "bob", token)
    assert answer == {"cmd": "auth_error", "val": "Invalid or expired session token"}


async def test_a_password_login_still_works_beside_tokens(server):
    await server.user("alice")
    client = await server.connect()
    await client.send("login", username="alice", password="pass1234")
    assert (await client.recv())["cmd"] == "auth_success"
    ready = await client.expect("ready")
    _, answer = await token_login(server, "alice", ready["validator"])
    assert answer["cmd"] == "auth_success"


async def test_ban_and_deletion_revoke_tokens_at_once(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    carol = await server.user("carol")
    bob_token, carol_token = bob.ready["validator"], carol.ready["validator"]
    await boss.drain()
    # banned and unbanned without a restart: the old token stays dead
    await boss.send("user_ban", user="USR:local_bob", listener="b")
    await boss.expect("user_ban", listener="b")
    await boss.drain()  # bob's user_disconnect
    await boss.send("user_unban", user="USR:local_bob", listener="u")
    await boss.expect("user_unban", listener="u")
    _, answer = await token_login(server, "bob", bob_token)
    assert answer == {"cmd": "auth_error", "val": "Invalid or expired session token"}
    # a deleted account leaves no usable token behind, in memory or in the database
    await boss.drain()
    await boss.send("user_delete", user="USR:local_carol", listener="d")
    assert {"cmd": "user_delete", "user": "USR:local_carol", "deleted": True, "listener": "d"} in await boss.drain()
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    left = con.execute("SELECT COUNT(*) FROM sessions WHERE user_id IN ('USR:local_bob', 'USR:local_carol')").fetchone()[0]
    con.close()
    assert left == 0
    _, answer = await token_login(server, "carol", carol_token)
    assert answer["cmd"] == "auth_error"
