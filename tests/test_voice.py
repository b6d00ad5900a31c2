"""Voice signalling (extended/voice.md) through the real server: who learns peer ids, seats per
connection, the connect/speak permissions, and what a dropped connection leaves behind."""

from __future__ import annotations

from typing import Any

OPEN = {"view": ["user"], "send": ["user"]}
ICE = [{"urls": "stun:stun.l.google.com:19302"}]


async def talk(server) -> Any:
    boss = await server.owner()
    reply = await boss.request("channel_create", name="talk", type="voice", permissions=OPEN)
    assert reply["cmd"] == "channel_create", reply
    await boss.request("channel_create", name="hidden", type="voice", permissions={"view": ["owner"]})
    await boss.drain()
    return boss


def no_ids(packet: Any) -> None:
    """No internal user id anywhere in a voice packet."""
    if isinstance(packet, dict):
        assert "id" not in packet, packet
        for value in packet.values():
            no_ids(value)
    elif isinstance(packet, list):
        for value in packet:
            no_ids(value)


async def test_peer_ids_reach_only_the_people_in_the_same_voice_channel(server):
    boss = await talk(server)
    alice, bob, carol = await server.user("alice"), await server.user("bob"), await server.user("carol")
    for c in (boss, alice, bob):
        await c.drain()
    joined = await alice.request("voice_join", channel="talk", peer_id="peer-a")
    # the actor's own event comes first, then the reply
    assert joined == {"cmd": "voice_user_joined", "channel": "talk",
                      "user": {"username": alice.username, "muted": False, "peer_id": "peer-a"}}
    assert await alice.recv() == {"cmd": "voice_join", "channel": "talk", "participants": [], "ice_servers": ICE}
    for viewer in (bob, carol, boss):
        packet = await viewer.expect("voice_user_joined")
        assert packet["user"] == {"username": alice.username, "muted": False}  # no peer id for onlookers
    await bob.send("voice_join", channel="talk", peer_id="peer-b")
    assert (await bob.expect("voice_user_joined"))["user"]["peer_id"] == "peer-b"
    reply = await bob.expect("voice_join")
    assert reply["participants"] == [{"username": alice.username, "muted": False, "peer_id": "peer-a"}]
    assert (await alice.expect("voice_user_joined"))["user"]["peer_id"] == "peer-b"
    assert "peer_id" not in (await carol.expect("voice_user_joined"))["user"]
    outside = await carol.request("voice_state", channel="talk")
    assert outside["participants"] == [{"username": alice.username, "muted": False},
                                       {"username": bob.username, "muted": False}]
    inside = await bob.request("voice_state", channel="talk")
    assert [p["peer_id"] for p in inside["participants"]] == ["peer-a", "peer-b"]
    for packet in (joined, reply, outside, inside):
        no_ids(packet)
    listed = {ch["name"]: ch for ch in (await carol.request("channels_get"))["val"]}
    assert listed["talk"]["voice_state"] == outside["participants"]
    await carol.send("voice_state", channel="hidden")
    await carol.expect_error("You do not have permission to access this voice channel", src="voice_state")


async def test_a_seat_belongs_to_a_connection_and_leaves_with_it(server):
    boss = await talk(server)
    phone, laptop = await server.user("alice"), await server.user("alice")
    await boss.drain()
    await phone.drain()
    await phone.send("voice_join", channel="talk", peer_id="phone")
    await phone.expect("voice_user_joined")
    await phone.expect("voice_join")
    await laptop.drain()
    await laptop.send("voice_join", channel="talk", peer_id="laptop")
    await laptop.expect("voice_user_joined")
    assert [p["peer_id"] for p in (await laptop.expect("voice_join"))["participants"]] == ["phone"]
    await phone.expect("voice_user_joined")
    await boss.drain()
    await phone.close()
    left = await boss.expect("voice_user_left")
    assert left == {"cmd": "voice_user_left", "channel": "talk", "username": phone.username}
    state = await laptop.request("voice_state", channel="talk")
    while state["cmd"] != "voice_state":
        state = await laptop.recv()
    assert [p["peer_id"] for p in state["participants"]] == ["laptop"]  # the other device stays in


async def test_mute_unmute_and_leave(server):
    boss = await talk(server)
    alice = await server.user("alice")
    await boss.drain()
    await alice.send("voice_mute")
    await alice.expect_error("You are not in a voice channel", src="voice_mute")
    await alice.send("voice_join", channel="talk", peer_id="pa")
    await alice.expect("voice_user_joined")
    await alice.expect("voice_join")
    await boss.drain()
    await alice.send("voice_mute")
    assert (await alice.expect("voice_user_updated"))["user"] == {"username": alice.username, "muted": True,
                                                                  "peer_id": "pa"}
    assert await alice.recv() == {"cmd": "voice_mute", "channel": "talk", "muted": True}
    assert (await boss.expect("voice_user_updated"))["user"] == {"username": alice.username, "muted": True}
    await alice.send("voice_unmute")
    await alice.expect("voice_user_updated")
    assert await alice.recv() == {"cmd": "voice_unmute", "channel": "talk", "muted": False}
    await boss.drain()
    await alice.send("voice_leave")
    assert await alice.recv() == {"cmd": "voice_user_left", "channel": "talk", "username": alice.username}
    assert await alice.recv() == {"cmd": "voice_leave", "channel": "talk"}
    await boss.expect("voice_user_left")
    await alice.send("voice_leave")
    await alice.expect_error("You are not in a voice channel", src="voice_leave")


async def test_join_checks_its_fields_the_channel_and_the_connect_and_speak_permissions(server):
    boss = await talk(server)
    alice = await server.user("alice")
    await alice.send("voice_join", channel="talk")
    await alice.expect_error("Peer ID is required", src="voice_join")
    await alice.send("voice_join", channel="talk", peer_id={"not": "a string"})
    await alice.expect_error("Peer ID must be a string of at most 128 characters", src="voice_join")
    await alice.send("voice_join", peer_id="p")
    await alice.expect_error("Channel name is required", src="voice_join")
    await alice.send("voice_join", channel="general", peer_id="p")
    await alice.expect_error("This is not a voice channel", src="voice_join")
    await alice.send("voice_join", channel="hidden", peer_id="p")
    await alice.expect_error("You do not have permission to access this voice channel", src="voice_join")
    await boss.request("role_update", name="user", permissions=["send_messages", "connect"])
    await alice.drain()
    await alice.send("voice_join", channel="talk", peer_id="p")
    assert (await alice.expect("voice_user_joined"))["user"]["muted"] is True  # no `speak`: joins muted
    await alice.expect("voice_join")
    await alice.send("voice_unmute")
    await alice.expect_error("You do not have permission to speak in this voice channel", src="voice_unmute")
    await alice.send("voice_leave")
    await alice.drain()
    await boss.request("role_update", name="user", permissions=["send_messages"])
    await alice.drain()
    await alice.send("voice_join", channel="talk", peer_id="p")
    await alice.expect_error("You do not have permission to connect to this voice channel", src="voice_join")
