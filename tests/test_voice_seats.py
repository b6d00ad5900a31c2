"""Voice seats that end because their holder may no longer be there (extended/voice.md;
core/voice_seats.py): the channel deleted or no longer a voice channel, `view` or `connect` lost
through channel permissions, member roles, role edits or a role deleted, the account banned or
deleted. Each seat goes with the `voice_user_left` a `voice_leave` gives, to the same people; a
rename keeps everyone seated under the new name."""

from __future__ import annotations

from typing import Any

from tests.client import Client

OPEN = {"view": ["user"], "send": ["user"]}


async def make_voice(boss: Client, name: str, permissions: dict[str, Any] = OPEN) -> None:
    reply = await boss.request("channel_create", name=name, type="voice", permissions=permissions)
    assert reply["cmd"] == "channel_create", reply
    await boss.drain()  # the `channels_get` push


async def join(client: Client, channel: str, peer: str) -> None:
    await client.send("voice_join", channel=channel, peer_id=peer)
    while (await client.recv())["cmd"] != "voice_join":
        pass


async def lefts(client: Client) -> list[tuple[str, str]]:
    """The `voice_user_left` events queued for `client`, as (channel, username)."""
    return [(p["channel"], p["username"]) for p in await client.drain() if p["cmd"] == "voice_user_left"]


async def seated(client: Client, channel: str) -> list[str]:
    await client.send("voice_state", channel=channel)
    while (packet := await client.recv())["cmd"] not in ("voice_state", "error"):
        pass
    assert packet["cmd"] == "voice_state", packet
    return [p["username"] for p in packet["participants"]]


async def drained(*clients: Client) -> None:
    for client in clients:
        await client.drain()


async def room(server) -> tuple[Client, ...]:
    """`talk` with alice and bob in it and carol watching; `lounge` with dave in it."""
    boss = await server.owner()
    await make_voice(boss, "talk")
    await make_voice(boss, "lounge")
    alice, bob, carol, dave = [await server.user(n) for n in ("alice", "bob", "carol", "dave")]
    await join(alice, "talk", "pa")
    await join(bob, "talk", "pb")
    await join(dave, "lounge", "pd")
    await drained(boss, alice, bob, carol, dave)
    return boss, alice, bob, carol, dave


async def test_deleting_a_voice_channel_empties_its_seats_and_nothing_else(server):
    boss, alice, bob, carol, dave = await room(server)
    await boss.send("channel_delete", name="talk")
    expected = sorted([("talk", alice.username), ("talk", bob.username)])
    for client in (boss, alice, bob, carol, dave):  # the participants and every viewer, as on voice_leave
        assert sorted(await lefts(client)) == expected, client.username
    assert await seated(dave, "lounge") == [dave.username]
    await alice.send("voice_leave")
    await alice.expect_error("You are not in a voice channel", src="voice_leave")
    await make_voice(boss, "talk")  # a new channel of the old name starts empty
    assert await seated(carol, "talk") == []


async def test_a_renamed_voice_channel_keeps_its_seats_under_the_new_name(server):
    boss, alice, bob, carol, dave = await room(server)
    await boss.send("channel_update", current_name="talk", updates={"name": "hall"})
    await boss.expect("channel_update")
    for client in (boss, alice, bob, carol, dave):
        assert await lefts(client) == []
    assert await seated(carol, "hall") == [alice.username, bob.username]
    listed = {ch["name"]: ch for ch in (await carol.request("channels_get"))["val"]}
    assert [p["username"] for p in listed["hall"]["voice_state"]] == [alice.username, bob.username]
    await alice.send("voice_leave")
    assert await alice.recv() == {"cmd": "voice_user_left", "channel": "hall", "username": alice.username}
    assert await alice.recv() == {"cmd": "voice_leave", "channel": "hall"}
    assert await lefts(carol) == [("hall", alice.username)]


async def test_a_voice_channel_turned_to_text_empties_its_seats(server):
    boss, alice, bob, carol, dave = await room(server)
    await boss.send("channel_update", current_name="talk", updates={"type": "text"})
    expected = sorted([("talk", alice.username), ("talk", bob.username)])
    for client in (boss, alice, bob, carol, dave):
        assert sorted(await lefts(client)) == expected
    await carol.send("voice_state", channel="talk")
    await carol.expect_error("This is not a voice channel", src="voice_state")
    assert await seated(dave, "lounge") == [dave.username]
    await bob.send("voice_mute")
    await bob.expect_error("You are not in a voice channel", src="voice_mute")


async def test_losing_view_through_channel_update(server):
    boss, alice, bob, carol, dave = await room(server)
    await boss.send("role_create", name="vip")
    await boss.send("user_roles_set", user=bob.username, roles=["user", "vip"])
    await drained(boss, alice, bob, carol, dave)
    await boss.send("channel_update", current_name="talk",
                    updates={"permissions": {"view": ["vip", "owner"], "send": ["vip"]}})
    # alice lost `view`: her seat goes, told to her, the one left inside and everyone who saw it
    for client in (alice, bob, carol, dave):
        assert await lefts(client) == [("talk", alice.username)], client.username
    seen = await boss.drain()
    assert [p for p in seen if p["cmd"] == "voice_user_left"] == [
        {"cmd": "voice_user_left", "channel": "talk", "username": alice.username}]
    listed = {ch["name"]: ch for ch in (await bob.request("channels_get"))["val"]}
    assert [p["username"] for p in listed["talk"]["voice_state"]] == [bob.username]
    assert await seated(bob, "talk") == [bob.username]
    assert await seated(dave, "lounge") == [dave.username]


async def test_losing_view_through_member_roles_drops_the_seat(server):
    boss = await server.owner()
    await boss.request("role_create", name="vip")
    await boss.drain()
    await make_voice(boss, "club", {"view": ["vip"], "send": ["vip"]})
    alice, bob, carol = [await server.user(n) for n in ("alice", "bob", "carol")]
    for member in (alice, bob):
        await boss.request("user_roles_set", user=member.username, roles=["user", "vip"])
    await join(alice, "club", "pa")
    await join(bob, "club", "pb")
    await drained(boss, alice, bob, carol)
    await boss.send("user_roles_set", user=alice.username, roles=["user"])
    assert await lefts(alice) == [("club", alice.username)]
    assert await lefts(bob) == [("club", alice.username)]
    assert await lefts(carol) == []  # never saw the channel
    assert await seated(bob, "club") == [bob.username]


async def test_losing_connect_through_a_role_edit_drops_every_such_seat(server):
    boss, alice, bob, carol, dave = await room(server)
    await join(boss, "talk", "pboss")  # the owner has every permission
    await drained(boss, alice, bob, carol, dave)
    await boss.send("role_update", name="user", permissions=["send_messages", "speak"])
    expected = sorted([("talk", alice.username), ("talk", bob.username), ("lounge", dave.username)])
    for client in (boss, alice, bob, carol, dave):
        assert sorted(await lefts(client)) == expected, client.username
    assert await seated(boss, "talk") == [boss.username]
    assert await seated(carol, "lounge") == []


async def test_losing_connect_through_a_deleted_role_drops_the_seat(server):
    boss, alice, bob, carol, dave = await room(server)
    await boss.request("role_create", name="caller", permissions=["connect"])
    await boss.request("user_roles_set", user=alice.username, roles=["user", "caller"])
    await boss.request("role_update", name="user", permissions=["send_messages", "speak"])
    await drained(boss, alice, bob, carol, dave)  # bob and dave had only `user`: they left
    assert await seated(carol, "talk") == [alice.username]
    await boss.send("role_delete", name="caller")
    for client in (boss, alice, carol):
        assert await lefts(client) == [("talk", alice.username)], client.username
    assert await seated(carol, "talk") == []


async def test_a_banned_member_leaves_the_voice_channel_at_once(server):
    boss, alice, bob, carol, dave = await room(server)
    await boss.send("user_ban", user=alice.username)
    # the banned socket hears it leave before it is told why it is closed
    assert await alice.recv() == {"cmd": "voice_user_left", "channel": "talk", "username": alice.username}
    assert (await alice.recv())["cmd"] == "disconnect"
    await server.admin({"cmd": "ban", "user": bob.username})  # the operator's ban, the same
    assert await lefts(bob) == [("talk", alice.username), ("talk", bob.username)]
    for client in (boss, carol, dave):
        assert await lefts(client) == [("talk", alice.username), ("talk", bob.username)], client.username
    assert await seated(carol, "talk") == []
    assert await seated(dave, "lounge") == [dave.username]


async def test_a_deleted_member_leaves_the_voice_channel_at_once(server):
    boss, alice, bob, carol, dave = await room(server)
    await boss.send("user_delete", user=alice.username)
    packets = await alice.drain()
    assert packets[0] == {"cmd": "voice_user_left", "channel": "talk", "username": alice.username}
    assert packets[-1]["cmd"] == "disconnect"
    for client in (boss, bob, carol, dave):
        assert await lefts(client) == [("talk", alice.username)], client.username
    assert await seated(carol, "talk") == [bob.username]
    assert await seated(dave, "lounge") == [dave.username]
