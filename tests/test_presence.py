"""Presence: user_connect / user_disconnect once per user, invisibility that never leaks, and the
status_set transitions (README §5-§6, core.md §5, docs/compatibility.md "Presence and users")."""

from __future__ import annotations

BOB = "USR:local_bob"
OFFLINE = {"status": "offline", "text": ""}
INVISIBLE_PACKET = {"cmd": "status_set", "status": {"status": "invisible", "text": ""}, "global": True}


def brief(name: str, roles: list[str] | None = None, color: str | None = None) -> dict:
    return {"username": f"USR:local_{name}", "roles": roles or ["user"], "color": color}


async def settle(*clients) -> None:
    for client in clients:
        await client.drain()


async def test_connect_and_disconnect_are_announced_once_per_user(server):
    alice = await server.user("alice")
    lurker = await server.connect()
    bob = await server.user("bob")
    assert await alice.recv() == {"cmd": "user_join", "user": brief("bob")}
    assert await alice.recv() == {"cmd": "user_connect", "user": brief("bob")}
    # a second socket of bob: nobody hears about it
    bob2 = await server.user("bob")
    await alice.assert_silent()
    await bob.assert_silent()
    # closing one of two sockets: bob is still online
    await bob.close()
    await alice.send("users_online")
    assert [u["username"] for u in (await alice.expect("users_online"))["users"]] == ["USR:local_alice", BOB]
    await bob2.assert_silent()
    # the last one: everyone left hears user_disconnect
    await bob2.close()
    assert await alice.recv() == {"cmd": "user_disconnect", "username": BOB}
    await alice.assert_silent()
    await lurker.assert_silent()
    # an unauthenticated socket coming and going is nobody's business
    await (await server.connect()).close()
    await alice.assert_silent()


async def test_user_connect_carries_the_color_of_the_first_role(server):
    alice = await server.user("alice")
    boss = await server.owner("boss")
    await boss.close()
    await alice.drain()
    await server.user("boss")
    owner = brief("boss", ["owner", "user"], "#9400D3")
    assert await alice.recv() == {"cmd": "user_connect", "user": owner}


async def test_going_invisible_looks_like_leaving_to_others(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    bob2 = await server.user("bob")
    await settle(alice, bob, bob2)
    await bob.send("status_set", status="invisible", text="secret plans", listener="S")
    # everyone, bob's own sockets included, sees bob leave ...
    assert await bob.recv() == {"cmd": "user_disconnect", "username": BOB}
    # ... and only bob's own sockets learn that he went invisible
    assert await bob.recv() == {**INVISIBLE_PACKET, "listener": "S"}
    assert await bob2.recv() == {"cmd": "user_disconnect", "username": BOB}
    assert await bob2.recv() == INVISIBLE_PACKET
    assert await alice.recv() == {"cmd": "user_disconnect", "username": BOB}
    await alice.assert_silent()

    # nothing alice can ask reveals him
    await alice.send("users_online")
    assert [u["username"] for u in (await alice.expect("users_online"))["users"]] == ["USR:local_alice"]
    await alice.send("users_list")
    listed = {u["username"]: u["status"] for u in (await alice.expect("users_list"))["users"]}
    assert listed[BOB]["status"] == "offline"
    await alice.send("status_get", user=BOB)
    assert (await alice.expect("status"))["status"]["status"] == "offline"
    # bob himself sees his real status
    await bob.send("status_get", user=BOB)
    assert (await bob.expect("status"))["status"] == {"status": "invisible", "text": "secret plans"}

    # invisible again: no second user_disconnect
    await bob.send("status_set", status="invisible")
    assert await bob.recv() == INVISIBLE_PACKET
    assert await bob2.recv() == INVISIBLE_PACKET
    await alice.assert_silent()

    # sockets of an invisible user come and go unnoticed
    await bob2.close()
    bob3 = await server.user("bob")
    await alice.assert_silent()

    # coming back: user_connect to all, then the status to others and the caller
    await bob.send("status_set", status="online", listener="B")
    back = {"cmd": "status_get", "username": BOB, "status": {"status": "online", "text": ""}, "global": True}
    for client in (bob, bob3, alice):
        assert await client.recv() == {"cmd": "user_connect", "user": brief("bob")}
    assert await alice.recv() == back
    assert await bob3.recv() == back
    assert await bob.recv() == {**back, "listener": "B"}
    await alice.send("users_online")
    assert [u["username"] for u in (await alice.expect("users_online"))["users"]] == ["USR:local_alice", BOB]


async def test_invisibility_is_kept_across_sessions(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await bob.send("status_set", status="invisible")
    await bob.expect("user_disconnect")
    await bob.expect("status_set")
    await alice.drain()
    await bob.close()
    await alice.assert_silent()  # already "gone" when he went invisible
    await server.restart()
    alice = await server.user("alice")
    bob = await server.user("bob")
    assert bob.ready["user"]["status"] == {"status": "invisible", "text": ""}
    await alice.assert_silent()  # no user_connect for an invisible login
    await alice.send("users_online")
    assert [u["username"] for u in (await alice.expect("users_online"))["users"]] == ["USR:local_alice"]
    await bob.send("status_set", status="dnd")
    assert await alice.recv() == {"cmd": "user_connect", "user": brief("bob")}
    assert (await alice.recv())["status"] == {"status": "dnd", "text": ""}


async def test_users_online_lists_each_user_once(server):
    alice = await server.user("alice")
    await server.user("bob")
    await server.user("bob")
    await server.user("alice")
    await alice.drain()
    await alice.send("users_online", listener="O")
    reply = await alice.expect("users_online", listener="O")
    assert reply["users"] == [
        {"username": "USR:local_alice", "nickname": "alice", "roles": ["user"], "color": None,
         "status": {"status": "online", "text": ""}},
        {"username": BOB, "nickname": "bob", "roles": ["user"], "color": None,
         "status": {"status": "online", "text": ""}},
    ]


async def test_status_set_errors(server):
    bob = await server.user("bob")
    invalid = "Invalid status. Must be one of: online, idle, dnd, offline, invisible"
    cases = [
        ({}, "Status is required"),
        ({"status": ""}, "Status is required"),
        ({"status": None}, "Status is required"),
        ({"status": "away"}, invalid),
        ({"status": "Online"}, invalid),
        ({"status": 5}, invalid),
        ({"status": ["online"]}, invalid),
        ({"status": "idle", "text": "x" * 101}, invalid),
        ({"status": "idle", "text": 5}, "Invalid field 'text': expected string, got number"),
    ]
    for fields, expected in cases:
        await bob.send("status_set", listener="E", **fields)
        await bob.expect_error(expected, src="status_set", listener="E")
    await bob.assert_silent()


async def test_status_set_broadcasts_to_everyone_and_persists(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    await bob.send("status_set", status="idle", text="x" * 100, listener="L")
    packet = {"cmd": "status_get", "username": BOB, "status": {"status": "idle", "text": "x" * 100}, "global": True}
    assert await alice.recv() == packet
    assert await bob.recv() == {**packet, "listener": "L"}
    # `offline` is an ordinary status, not a disconnect; null text means ""
    await bob.send("status_set", status="offline", text=None)
    packet = {"cmd": "status_get", "username": BOB, "status": {"status": "offline", "text": ""}, "global": True}
    assert await alice.recv() == packet
    assert await bob.recv() == packet
    await bob.send("status_set", status="dnd", text="busy")
    await bob.expect("status_get")
    await alice.expect("status_get")
    await server.restart()
    bob = await server.user("bob")
    assert bob.ready["user"]["status"] == {"status": "dnd", "text": "busy"}
    carol = await server.user("carol")
    await carol.send("status_get", user=BOB)
    assert await carol.recv() == {"cmd": "status", "username": BOB, "status": {"status": "dnd", "text": "busy"}}
