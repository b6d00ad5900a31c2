"""server_info, server_update (live everywhere, persisted), rate_limit_reset, plugins_list and
plugins_reload."""

from __future__ import annotations

import json

import pytest
import trio

from originchats.config import RateLimitingSection
from tests.conftest import Server, make_config
from tests.modhelpers import LOCAL, audit_rows, members

START = {"cmd": "server_info", "name": "My OriginChats Server", "icon": "", "banner": ""}


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, rate_limiting=RateLimitingSection(enabled=True))


async def http_info(server) -> dict:
    stream = await server.listener.connect()
    await stream.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


async def test_server_update_reaches_everyone_and_every_view_and_survives_restart(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss, alice = m["boss"], m["alice"]
    await alice.send("server_info")
    assert await alice.recv() == START

    await boss.send("server_update", name="  Cafe  ", icon="https://img.example/i.png", listener="s")
    packet = {"cmd": "server_update", "name": "Cafe", "icon": "https://img.example/i.png", "banner": ""}
    assert await boss.recv() == packet  # ALL first...
    assert await boss.recv() == {**packet, "listener": "s"}  # ...then the reply: twice, as in the original
    assert await alice.recv() == packet
    await alice.assert_silent()

    await alice.send("server_info")
    assert await alice.recv() == {"cmd": "server_info", "name": "Cafe", "icon": "https://img.example/i.png",
                                  "banner": ""}
    fresh = await server.connect()
    assert fresh.handshake["val"]["server"]["name"] == "Cafe"
    assert fresh.handshake["val"]["server"]["icon"] == "https://img.example/i.png"
    info = await http_info(server)
    assert (info["server"]["name"], info["server"]["icon"]) == ("Cafe", "https://img.example/i.png")

    await server.restart()
    alice = await server.user("alice")
    await alice.send("server_info")
    assert (await alice.recv())["name"] == "Cafe"
    assert alice.handshake["val"]["server"]["name"] == "Cafe"
    rows = await audit_rows(server)
    assert [(r[0], r[1], json.loads(r[4])) for r in rows] == [
        ("server_update", LOCAL + "boss", {"name": "Cafe", "icon": "https://img.example/i.png"})]


async def test_null_leaves_a_value_and_empty_string_clears_it(server):
    boss = await server.owner("boss")
    await boss.send("server_update", icon="http://a.example/x.png", banner="http://a.example/b.png")
    await boss.expect("server_update")
    await boss.expect("server_update")
    await boss.send("server_update", name=None, icon=None, banner="")
    await boss.expect("server_update", name="My OriginChats Server", icon="http://a.example/x.png", banner="")
    await boss.expect("server_update")
    fresh = await server.connect()
    assert "banner" not in fresh.handshake["val"]["server"]
    # the same values again: everyone is answered, nothing is stored or logged
    await boss.send("server_update", icon="http://a.example/x.png")
    await boss.expect("server_update")
    await boss.expect("server_update")
    assert [r[0] for r in await audit_rows(server)] == ["owner_granted", "server_update", "server_update"]
    await server.restart()
    boss = await server.user("boss")
    await boss.send("server_info")
    await boss.expect("server_info", name="My OriginChats Server", icon="http://a.example/x.png", banner="")


async def test_server_update_errors(server):
    m = await members(server, {"boss": ["owner", "user"], "mod": ["moderator", "user"], "alice": ["user"]})
    for name in ("alice", "mod"):
        await m[name].send("server_update", name="Mine now")
        await m[name].expect_error("Access denied: 'manage_server' permission required", src="server_update")
    boss = m["boss"]
    url_error = "must be an http(s) URL of at most 2048 characters"
    cases = [
        ({"name": 5}, "Name must be a string or null"),
        ({"name": "ok", "icon": ["x"]}, "Icon must be a string or null"),
        ({"banner": {}}, "Banner must be a string or null"),
        ({}, "No updates provided"),
        ({"name": "   "}, "Name must be 1-100 characters"),
        ({"name": "n" * 101}, "Name must be 1-100 characters"),
        ({"icon": "javascript:alert(1)"}, "Icon " + url_error),
        ({"icon": "icon.png"}, "Icon " + url_error),
        ({"banner": "https://x.example/" + "b" * 2048}, "Banner " + url_error),
    ]
    for fields, error in cases:
        await boss.send("server_update", **fields)
        await boss.expect_error(error, src="server_update")
    await boss.send("server_info")
    assert await boss.recv() == START
    assert await audit_rows(server) == []


async def test_admins_may_update_the_server(server):
    m = await members(server, {"adm": ["admin", "user"]})
    await m["adm"].send("server_update", banner="https://b.example/b.png")
    await m["adm"].expect("server_update", banner="https://b.example/b.png")


# ---- rate_limit_reset -------------------------------------------------------------------------


async def test_rate_limit_reset_ends_a_burst_cooldown(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss, alice = m["boss"], m["alice"]
    for i in range(10):
        await alice.send("typing", channel="general")
    await alice.drain()
    await alice.send("typing", channel="general")
    assert (await alice.recv())["reason"] == "Burst limit exceeded. You're in cooldown for 30 seconds"
    await boss.drain()
    await boss.send("rate_limit_reset", user="usr:local_alice", listener="r")
    assert await boss.recv() == {"cmd": "rate_limit_reset", "user": LOCAL + "alice",
                                 "val": "Rate limit reset for user USR:local_alice", "listener": "r"}
    await alice.send("message_new", channel="general", content="free again")
    await alice.expect("message_new")
    assert [r[0] for r in await audit_rows(server)] == ["rate_limit_reset"]


async def test_rate_limit_reset_errors(server):
    m = await members(server, {"boss": ["owner", "user"], "mod": ["moderator", "user"]})
    await m["mod"].send("rate_limit_reset", user=LOCAL + "boss")
    await m["mod"].expect_error("Access denied: 'manage_server' permission required", src="rate_limit_reset")
    boss = m["boss"]
    for fields, error in (({}, "User parameter is required"), ({"user": ""}, "User parameter is required"),
                          ({"user": "ghost"}, "User not found"), ({"user": "g" * 1000}, "User not found")):
        await boss.send("rate_limit_reset", **fields)
        await boss.expect_error(error, src="rate_limit_reset")


async def test_rate_limit_reset_needs_the_limiter(nursery, tmp_path):
    srv = Server(nursery=nursery, config=make_config(tmp_path))  # rate limiting disabled
    await srv.start()
    boss = await srv.owner("boss")
    await boss.send("rate_limit_reset", user=LOCAL + "boss")
    await boss.expect_error("Rate limiter not available or disabled", src="rate_limit_reset")
    await srv.shutdown()


# ---- plugins ----------------------------------------------------------------------------------


async def test_plugins_list_is_empty_and_reloading_all_succeeds(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss = m["boss"]
    await boss.send("plugins_list", listener="p")
    assert await boss.recv() == {"cmd": "plugins_list", "plugins": {}, "listener": "p"}
    await boss.send("plugins_reload")
    assert await boss.recv() == {"cmd": "plugins_reload", "val": "All plugins reloaded successfully"}
    await boss.send("plugins_reload", plugin="spam.py")
    await boss.expect_error("Failed to reload plugin 'spam.py'", src="plugins_reload")
    await boss.send("plugins_reload", plugin=3)
    await boss.expect_error("Invalid field 'plugin': expected string, got number", src="plugins_reload")
    for cmd in ("plugins_list", "plugins_reload"):
        await m["alice"].send(cmd)
        await m["alice"].expect_error("Access denied: 'manage_server' permission required", src=cmd)
    rows = await audit_rows(server)
    assert [(r[0], json.loads(r[4])) for r in rows] == [("plugins_reload", {"plugin": "all"})]


async def test_handshakes_differ_only_in_their_validator_key_and_follow_the_settings(server):
    first, second = await server.connect(), await server.connect()
    a, b = dict(first.handshake["val"]), dict(second.handshake["val"])
    assert a.pop("validator_key") != b.pop("validator_key")
    assert a == b and list(first.handshake["val"]) == list(second.handshake["val"])
    owner = await server.owner()
    await owner.send("server_update", name="Renamed")
    await owner.drain()
    third = await server.connect()
    assert third.handshake["val"]["server"]["name"] == "Renamed"
    assert (await server.connect()).handshake["val"]["validator_key"] != third.handshake["val"]["validator_key"]
