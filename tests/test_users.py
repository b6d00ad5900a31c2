"""users_list, users_online, status_get (core.md §5) and pfp_set / pfp_get (auth.md §5.4)."""

from __future__ import annotations

from tests.offline import ban_offline

ALICE, BOB = "USR:local_alice", "USR:local_bob"
ONLINE = {"status": "online", "text": ""}


async def test_users_list_shows_every_member_but_the_banned(server):
    await (await server.user("mallory")).close()
    await ban_offline(server, "USR:local_mallory")
    alice = await server.user("alice")
    await (await server.user("bob")).close()
    await alice.drain()
    await alice.send("users_list", listener="U")
    reply = await alice.expect("users_list", listener="U")
    assert set(reply) == {"cmd", "users", "listener"}
    assert reply["users"] == [  # in registration order; offline members keep their status text
        {"username": ALICE, "nickname": "alice", "roles": ["user"], "color": None, "status": ONLINE,
         "cracked": True, "pfp": None},
        {"username": BOB, "nickname": "bob", "roles": ["user"], "color": None,
         "status": {"status": "offline", "text": ""}, "cracked": True, "pfp": None},
    ]


async def test_users_list_shows_offline_text_and_owner_color(server):
    boss = await server.owner("boss")
    await boss.send("status_set", status="dnd", text="on holiday")
    await boss.expect("status_get")
    await boss.close()
    alice = await server.user("alice")
    await alice.send("users_list")
    [boss_entry, _] = (await alice.expect("users_list"))["users"]
    assert boss_entry["roles"] == ["owner", "user"] and boss_entry["color"] == "#9400D3"
    assert boss_entry["status"] == {"status": "offline", "text": "on holiday"}


async def test_status_get(server):
    alice = await server.user("alice")
    await server.user("bob")
    await alice.drain()
    for fields in ({}, {"user": ""}, {"user": None}):
        await alice.send("status_get", listener="G", **fields)
        await alice.expect_error("User parameter is required", src="status_get", listener="G")
    await alice.send("status_get", user=["x"])
    await alice.expect_error("Invalid field 'user': expected string, got array", src="status_get")
    # users are named by stored username (any case) or id; a local user's bare name is not one
    for name in ("bob", "nobody"):
        await alice.send("status_get", user=name)
        await alice.expect_error("User not found", src="status_get")
    for name in (BOB, "usr:LOCAL_BOB"):
        await alice.send("status_get", user=name, listener="G")
        assert await alice.recv() == {"cmd": "status", "username": BOB, "status": ONLINE, "listener": "G"}


async def test_pfp_set_errors(server):
    bob = await server.user("bob")
    too_long = "https://img.example/" + "a" * 481
    cases = [
        ({}, "URL required"),
        ({"url": ""}, "URL required"),
        ({"url": None}, "URL required"),
        ({"url": 5}, "Invalid URL format"),
        ({"url": "not a url"}, "Invalid URL format"),
        ({"url": "ftp://img.example/a.png"}, "Invalid URL format"),
        ({"url": "javascript:alert(1)"}, "Invalid URL format"),
        ({"url": "https://"}, "Invalid URL format"),
        ({"url": "http://:80/a.png"}, "Invalid URL format"),  # a port but no host
        ({"url": "http://[::1/a.png"}, "Invalid URL format"),  # unparsable
        ({"url": "ftp://" + "a" * 600}, "Invalid URL format"),  # the format is checked before the length
        ({"url": too_long}, "URL too long (max 500 characters)"),
    ]
    assert len(too_long) == 501
    for fields, expected in cases:
        await bob.send("pfp_set", listener="P", **fields)
        await bob.expect_error(expected, src="pfp_set", listener="P")


async def test_pfp_set_replies_without_broadcast_and_is_seen_later(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    url = "https://img.example/" + "b" * 480
    assert len(url) == 500
    await bob.send("pfp_set", url=url, listener="P")
    assert await bob.recv() == {"cmd": "pfp_set", "val": url, "listener": "P"}
    await alice.assert_silent()  # no broadcast
    await alice.send("users_list")
    pfps = {u["username"]: u["pfp"] for u in (await alice.expect("users_list"))["users"]}
    assert pfps == {ALICE: None, BOB: url}
    await alice.send("pfp_get", username="usr:local_BOB", listener="G")
    assert await alice.recv() == {"cmd": "pfp_get", "val": url, "username": "usr:local_BOB", "listener": "G"}
    await alice.send("pfp_get", username=ALICE)
    assert await alice.recv() == {"cmd": "pfp_get", "val": None, "username": ALICE}
    await server.restart()
    bob = await server.user("bob")
    assert bob.ready["user"]["pfp_url"] == url


async def test_pfp_get_errors(server):
    alice = await server.user("alice")
    for fields in ({}, {"username": ""}, {"username": None}, {"username": "  "}):
        await alice.send("pfp_get", listener="G", **fields)
        await alice.expect_error("Username required", src="pfp_get", listener="G")
    for name in ("alice", "nobody"):  # the stored username is required, not the bare name
        await alice.send("pfp_get", username=name)
        await alice.expect_error("User not found", src="pfp_get")
    # one lookup for every command that names a user (handlers/common.py): a name must be a string
    await alice.send("pfp_get", username=5)
    await alice.expect_error("Invalid field 'username': expected string, got number", src="pfp_get")
