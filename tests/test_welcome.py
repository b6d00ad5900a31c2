"""The welcome message (issue 8, item 1; `[welcome]`): a new account is greeted in `general` by
`originChats`, as the original's default-on welcome plugin did, so that a fresh server works in
the official web client (it shows live messages only in a channel whose history it has seen
non-empty). Stored with the account, announced after the commit like any `message_new`, to the
channel's viewers; `originChats` is nobody's account.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from originchats.config import CrackedSection, RoturSection, WelcomeSection
from tests.client import Client, sign_in, until_reply
from tests.conftest import make_config
from tests.offline import query
from tests.test_rotur import rotur  # noqa: F401  (the fake Rotur fixture)

LOCAL = "USR:local_"
TEXT = "Welcome {username}! Thanks for joining the server."


@pytest.fixture
def config(tmp_path: Path):
    return make_config(tmp_path, welcome=WelcomeSection())  # the defaults, as config.toml ships them


async def history(client: Client, channel: str = "general") -> list[dict[str, Any]]:
    await client.send("messages_get", channel=channel, listener="h")
    _, page = await until_reply(client, "h")
    return page["messages"]


def welcome(name: str, message_id: str, timestamp: float) -> dict[str, Any]:
    return {"user": "originChats", "content": f"Welcome {name}! Thanks for joining the server.",
            "timestamp": timestamp, "id": message_id, "pinned": False, "type": "message", "interaction": None}


async def test_a_new_account_is_welcomed_in_general(server):
    bob = await server.user("bob")  # welcomed too; drained
    alice = await server.connect()
    await alice.send("register", username="alice", password="pass1234")
    await alice.expect("auth_success")
    await alice.expect("ready")
    brief = {"username": LOCAL + "alice", "roles": ["user"], "color": None}
    for client in (alice, bob):
        assert await client.recv() == {"cmd": "user_join", "user": brief}
        assert await client.recv() == {"cmd": "user_connect", "user": brief}
        packet = await client.recv()
        message = packet["message"]
        assert packet == {"cmd": "message_new", "message": {
            **welcome(LOCAL + "alice", message["id"], message["timestamp"]),
            "pings": {"users": [], "roles": [], "replies": []}}, "channel": "general", "thread_id": None,
            "global": True}
        await client.assert_silent()
    # stored: the history the client loads next is not empty, and it stays after a restart
    stored = welcome(LOCAL + "alice", message["id"], message["timestamp"])
    assert (await history(alice))[-1] == stored
    await server.restart()
    carl = await server.user("carl")
    assert [m["content"] for m in await history(carl)] == [
        f"Welcome {LOCAL}{name}! Thanks for joining the server." for name in ("bob", "alice", "carl")]


async def test_a_login_is_not_welcomed_again(server):
    alice = await server.user("alice")
    await alice.close()
    again = await server.connect()
    await sign_in(again, "alice", "pass1234")
    assert await again.recv() == {"cmd": "user_connect",
                                  "user": {"username": LOCAL + "alice", "roles": ["user"], "color": None}}
    await again.assert_silent()
    assert len(await history(again)) == 1


async def test_a_deleted_account_coming_back_is_not_welcomed_again(make_server):
    server = await make_server(welcome=WelcomeSection(),
                               cracked=CrackedSection(argon2_memory_kib=64, argon2_time_cost=1, allow_name_reuse=True))
    alice = await server.user("alice")
    await alice.send("user_leave")
    await alice.wait_closed()
    again = await server.user("alice")
    assert [m["content"] for m in await history(again)] == [f"Welcome {LOCAL}alice! Thanks for joining the server."]


async def test_the_channel_and_text_are_configurable_and_it_can_be_off(make_server):
    server = await make_server(welcome=WelcomeSection(channel="lobby", text="Hi {username}, meet {username}"))
    boss = await server.owner()  # no `lobby` yet: nobody is welcomed
    await boss.send("channel_create", name="lobby", type="text", permissions={"view": ["user"]}, listener="c")
    await until_reply(boss, "c")
    bob = await server.user("bob")
    assert [m["content"] for m in await history(bob, "lobby")] == [f"Hi {LOCAL}bob, meet {LOCAL}bob"]
    assert await history(bob) == []
    off = await make_server(welcome=WelcomeSection(enabled=False))
    carl = await off.user("carl")
    assert await history(carl) == []


async def test_only_the_channels_viewers_see_the_welcome(make_server):
    server = await make_server(welcome=WelcomeSection(channel="lobby"))
    boss = await server.owner()
    await boss.send("channel_create", name="lobby", type="text", permissions={"view": ["owner"]}, listener="c")
    await until_reply(boss, "c")
    await boss.drain()
    newcomer = await server.connect()
    await sign_in(newcomer, "newcomer", "pass1234")
    assert [p["cmd"] for p in await newcomer.drain()] == ["user_join", "user_connect"]
    assert [p["cmd"] for p in await boss.drain()] == ["user_join", "user_connect", "message_new"]


async def test_a_new_rotur_account_is_welcomed(make_server, rotur):  # noqa: F811
    server = await make_server(auth_mode="rotur", welcome=WelcomeSection(),
                               rotur=RoturSection(validate_url=rotur.url, timeout_seconds=2))
    rotur.user("v-rita", "usr_rita", "Rita")
    rita = await server.connect()
    await rita.send("auth", validator="v-rita")
    await rita.expect("auth_success")
    await rita.expect("ready")
    packets = await rita.drain()
    assert [p["cmd"] for p in packets] == ["user_join", "user_connect", "message_new"]
    assert packets[-1]["message"]["content"] == "Welcome Rita! Thanks for joining the server."
    assert packets[-1]["message"]["user"] == "originChats"


# ---- nobody is originChats --------------------------------------------------------------------


async def test_nobody_can_register_or_log_in_as_originchats(server):
    ghost = await server.connect()
    await ghost.send("login", username="originChats", password="pass1234")
    assert await ghost.recv() == {"cmd": "auth_error", "val": "User not found"}
    # registering the name gives a local account of its own, not the author of the welcome messages
    imp = await server.connect()
    await sign_in(imp, "originChats", "pass1234")
    assert imp.username == LOCAL + "originchats"
    await imp.drain()
    own = (await history(imp))[-1]
    assert own["user"] == "originChats" and own["content"].startswith(f"Welcome {LOCAL}originchats")
    for cmd, fields, error in (
            ("message_edit", {"content": "mine now"}, "You do not have permission to edit this message"),
            ("message_delete", {}, "You do not have permission to delete this message")):
        await imp.send(cmd, channel="general", id=own["id"], listener="x", **fields)
        _, reply = await until_reply(imp, "x")
        assert reply["val"] == error
    assert query(server, "SELECT COUNT(*) FROM users WHERE id = 'originChats' OR username = 'originChats'") == [(0,)]


async def test_rotur_cannot_name_an_account_originchats(make_server, rotur):  # noqa: F811
    server = await make_server(auth_mode="rotur", rotur=RoturSection(validate_url=rotur.url, timeout_seconds=2))
    for validator, uid, name in (("v1", "originChats", "someone"), ("v2", "usr_x", "OriginChats")):
        rotur.user(validator, uid, name)
        client = await server.connect()
        await client.send("auth", validator=validator)
        assert await client.recv() == {"cmd": "auth_error", "val": "Invalid authentication"}


async def test_no_rename_takes_the_name_originchats(make_server, rotur):  # noqa: F811
    server = await make_server(auth_mode="cracked", rotur=RoturSection(validate_url=rotur.url, timeout_seconds=2))
    boss = await server.owner()
    rotur.user("v-rita", "usr_rita", "Rita")
    rita = await server.connect()
    await rita.send("auth", validator="v-rita")
    await rita.expect("auth_success")
    await boss.send("user_update", user="Rita", updates={"username": "originchats"}, listener="u")
    _, reply = await until_reply(boss, "u")
    assert reply == {"cmd": "error", "src": "user_update", "val": "Username already taken", "listener": "u"}


async def test_a_failed_registration_posts_no_welcome(server):
    from tests.test_failed_commits import _fail_all, _heal, _on_writer

    bob = await server.user("bob")
    ann = await server.connect()
    await _on_writer(server, _fail_all)
    await ann.send("register", username="ann", password="pass1234")
    assert await ann.recv() == {"cmd": "auth_error", "val": "Registration failed"}
    await _on_writer(server, _heal)
    await bob.assert_silent()
    assert [m["content"] for m in await history(bob)] == [f"Welcome {LOCAL}bob! Thanks for joining the server."]
