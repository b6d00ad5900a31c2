"""Commands that reach every socket are rate limited, and administration cannot amplify itself
(issue 14, "Broadcast floods" and "Admin amplification").

* status_set, nickname_update/remove, pfp_set and reactions share a per-user bucket of their own
  (README §9's algorithm, `rate_limiting.broadcast_*`), apart from the message bucket.
* Reactions: at most `limits.reactions_per_message` different emoji on a message, each at most
  `limits.emoji_length` characters, and the message stays within its byte budget.
* channels_get pushes are coalesced per scheduler tick; channels and roles are capped in number
  and in size.

Limits here: broadcasts 5 a minute, a burst of 3 in 10 s, 30 s cooldown, on trio's mock clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from wsproto.events import TextMessage

from originchats.config import LimitsSection, RateLimitingSection
from tests.client import Client, until_reply
from tests.conftest import make_config

LIMITS = RateLimitingSection(enabled=True, messages_per_minute=60, burst_limit=10, cooldown_seconds=30,
                             broadcasts_per_minute=5, broadcast_burst_limit=3, broadcast_cooldown_seconds=30)
BURST = {"cmd": "rate_limit", "reason": "Burst limit exceeded. You're in cooldown for 30 seconds", "length": 30000}


@pytest.fixture
def config(tmp_path: Path):
    return make_config(tmp_path, rate_limiting=LIMITS)


async def request(client: Client, cmd: str, listener: str = "L", **fields: Any) -> dict[str, Any]:
    await client.send(cmd, listener=listener, **fields)
    return (await until_reply(client, listener))[1]


async def message(client: Client) -> str:
    reply = await request(client, "message_new", channel="general", content="react to me")
    assert reply["cmd"] == "message_new", reply
    return reply["message"]["id"]


# ---- the broadcast bucket ---------------------------------------------------------------------


def broadcasting(i: int, mid: str) -> list[tuple[str, dict[str, Any], str]]:
    """(command, fields, what the others receive) for the i-th action of each kind."""
    return [
        ("status_set", {"status": "online", "text": f"t{i}"}, "status_get"),
        ("nickname_update", {"nickname": f"nick{i}"}, "nickname_update"),
        ("pfp_set", {"url": f"https://x.example/{i}.png"}, ""),  # the reply only
        ("message_react_add" if i % 2 == 0 else "message_react_remove",
         {"channel": "general", "id": mid, "emoji": "👍"}, "message_react_add" if i % 2 == 0 else "message_react_remove"),
    ]


@pytest.mark.parametrize("kind", [0, 1, 2, 3], ids=["status_set", "nickname_update", "pfp_set", "reactions"])
async def test_each_broadcasting_command_is_rate_limited(server, autojump_clock, kind):
    alice = await server.user("alice")
    bob = await server.user("bob")
    mid = await message(alice)
    await bob.drain()
    for i in range(3):
        cmd, fields, seen = broadcasting(i, mid)[kind]
        reply = await request(alice, cmd, **fields)
        assert reply["cmd"] != "rate_limit", reply
        if seen:
            assert (await bob.recv())["cmd"] == seen
    cmd, fields, _ = broadcasting(3, mid)[kind]
    assert await request(alice, cmd, listener="R", **fields) == {**BURST, "listener": "R"}
    await bob.assert_silent()  # refused actions reach nobody
    # the message bucket is another one: alice still posts
    assert (await request(alice, "message_new", channel="general", content="still here"))["cmd"] == "message_new"
    await trio.sleep(31)
    assert (await request(alice, cmd, **fields))["cmd"] != "rate_limit"


async def test_the_broadcast_commands_share_one_bucket(server, autojump_clock):
    alice = await server.user("alice")
    mid = await message(alice)
    await request(alice, "status_set", status="idle")
    await request(alice, "message_react_add", channel="general", id=mid, emoji="x")
    await request(alice, "nickname_update", nickname="al")
    assert (await request(alice, "pfp_set", url="https://x.example/p.png"))["cmd"] == "rate_limit"
    # messages do not spend it either
    for i in range(5):
        assert (await request(alice, "message_new", channel="general", content=f"m{i}"))["cmd"] == "message_new"


async def test_a_flood_of_status_changes_reaches_others_at_the_configured_rate(server, autojump_clock):
    """The attack: status_set as fast as possible, each one sent to every socket."""
    alice = await server.user("alice")
    bob = await server.user("bob")
    await bob.drain()
    for i in range(200):
        await alice.send("status_set", status="online", text=f"t{i}")
    await alice.send("ping", listener="end")
    replies, _ = await until_reply(alice, "end")
    assert sum(r["cmd"] == "status_get" for r in replies) == 3
    assert sum(r["cmd"] == "rate_limit" for r in replies) == 197
    assert [p["cmd"] for p in await bob.drain()] == ["status_get"] * 3


async def test_the_supervisor_also_drops_idle_broadcast_buckets(nursery, autojump_clock):
    from originchats.core.ratelimit import Bucket
    from originchats.core.state import ServerState
    from originchats.server.timers import rate_limit_supervisor
    from tests.test_ratelimit import FakeHub

    start = trio.current_time()
    hub = FakeHub(ServerState(broadcast_limits={"old": Bucket(stamps=(start - 1,)),
                                                "fresh": Bucket(stamps=(start + 50,))}))
    nursery.start_soon(rate_limit_supervisor, hub, 60)
    await trio.sleep(61)
    assert set(hub.state.broadcast_limits) == {"fresh"}
    await trio.sleep(60)
    assert dict(hub.state.broadcast_limits) == {}


# ---- reactions --------------------------------------------------------------------------------


async def test_a_message_carries_at_most_the_configured_number_of_different_emoji(make_server):
    server = await make_server(limits=LimitsSection(reactions_per_message=3))
    alice = await server.user("alice")
    bob = await server.user("bob")
    mid = await message(alice)
    for emoji in ("a", "b", "c"):
        assert (await request(alice, "message_react_add", channel="general", id=mid, emoji=emoji))["cmd"] != "error"
    reply = await request(alice, "message_react_add", channel="general", id=mid, emoji="d")
    assert reply == {"cmd": "error", "src": "message_react_add", "listener": "L",
                     "val": "Too many different reactions on this message (max 3)"}
    await bob.drain()
    # another user may still use an emoji already there; removing one makes room
    assert (await request(bob, "message_react_add", channel="general", id=mid, emoji="a"))["cmd"] == "message_react_add"
    assert (await request(alice, "message_react_remove", channel="general", id=mid, emoji="c"))["cmd"] != "error"
    assert (await request(alice, "message_react_add", channel="general", id=mid, emoji="d"))["cmd"] != "error"
    await alice.send("message_get", channel="general", id=mid)
    assert (await alice.expect("message_get"))["message"]["reactions"] == {
        "a": [alice.username, bob.username], "b": [alice.username], "d": [alice.username]}


async def test_reactions_never_take_a_message_past_its_byte_budget(make_server):
    server = await make_server(limits=LimitsSection(message_bytes=2048))
    alice = await server.user("alice")
    mid = await message(alice)
    refused = None
    for i in range(20):
        emoji = f"{i:02d}" + "e" * 30  # 32 characters
        reply = await request(alice, "message_react_add", channel="general", id=mid, emoji=emoji)
        if reply["cmd"] == "error":
            refused = (i, reply["val"])
            break
    assert refused is not None and refused[0] > 5, refused
    assert refused[1] == "Too many reactions on this message"
    await alice.send("message_get", channel="general", id=mid, listener="g")
    stored = (await until_reply(alice, "g"))[1]["message"]
    assert len(stored["reactions"]) == refused[0]
    # an edit that would take it past the budget is refused too
    reply = await request(alice, "message_edit", channel="general", id=mid, content="\x01" * 300)
    assert reply["val"] == "Message too large. Maximum size is 2048 bytes (content, embeds and reactions together)"


# ---- channel lists ----------------------------------------------------------------------------


async def test_a_burst_of_channel_changes_costs_each_socket_one_list(server):
    """Admin amplification: each channel_update used to send every socket the whole list."""
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await boss.drain()
    await bob.drain()
    frames = b"".join(
        boss.ws.send(TextMessage(data=f'{{"cmd":"channel_update","current_name":"general","listener":"u{i}",'
                                      f'"updates":{{"description":"version {i}"}}}}'))
        for i in range(50))
    await boss.stream.send_all(frames)  # one write: the server reads them together
    pushed, _ = await until_reply(boss, "u49")
    pushes = [p for p in [*pushed, *await boss.drain()] if p["cmd"] == "channels_get"]
    seen = [p for p in await bob.drain() if p["cmd"] == "channels_get"]
    assert 1 <= len(seen) <= 3, len(seen)  # one per commit group, not one per change (50)
    assert len(pushes) == len(seen)
    assert seen[-1]["val"][0]["description"] == "version 49"


async def test_coalesced_lists_show_the_last_committed_state_of_channels_and_roles(server):
    """A channel change and a role change committed together: the last list each socket gets is
    the final one (the roles' pushes are coalesced with the channels')."""
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await request(boss, "role_create", name="vip")
    await request(boss, "channel_create", name="lounge", type="text", permissions={"view": ["vip", "owner"]})
    await boss.drain()
    await bob.drain()
    frames = b"".join(boss.ws.send(TextMessage(data=text)) for text in (
        '{"cmd":"channel_update","current_name":"general","updates":{"description":"new"},"listener":"a"}',
        f'{{"cmd":"user_roles_set","user":"{bob.username}","roles":["user","vip"],"listener":"b"}}'))
    await boss.stream.send_all(frames)
    await until_reply(boss, "b")
    lists = [p["val"] for p in await bob.drain() if p["cmd"] == "channels_get"]
    assert lists and [(ch["name"], ch.get("description")) for ch in lists[-1]] == [("general", "new"), ("lounge", None)]


async def test_channel_count_is_capped(make_server):
    server = await make_server(limits=LimitsSection(max_channels=3))
    boss = await server.owner("boss")
    for name in ("a", "b"):
        assert (await request(boss, "channel_create", name=name, type="text"))["cmd"] == "channel_create"
    reply = await request(boss, "channel_create", name="c", type="text")
    assert reply == {"cmd": "error", "src": "channel_create", "listener": "L",
                     "val": "Channel limit reached (max 3 channels)"}
    assert (await request(boss, "channel_delete", name="a"))["cmd"] == "channel_delete"
    assert (await request(boss, "channel_create", name="c", type="text"))["cmd"] == "channel_create"


async def test_channels_and_roles_have_a_byte_budget_and_a_depth_limit(server):
    boss = await server.owner("boss")
    cases = [
        ("channel_update", {"current_name": "general", "updates": {"description": "d" * 8100}},
         "Channel too large (at most 8192 bytes stored)"),  # the request fits, the channel would not
        ("channel_update", {"current_name": "general", "updates": {"wallpaper": [[[[[[[[[1]]]]]]]]]}},
         "Invalid field 'updates': nested too deeply (at most 8 levels)"),
        ("channel_update", {"current_name": "general", "updates": {"x": "y" * 9000}},
         "Invalid field 'updates': too large (at most 8192 bytes)"),
        ("role_create", {"name": "r", "description": "d" * 9000}, "Role too large (at most 8192 bytes stored)"),
        ("role_create", {"name": "r", "permissions": {"a": [[[[[[[[[1]]]]]]]]]}},
         "Invalid field 'permissions': nested too deeply (at most 8 levels)"),
        ("role_set", {"name": "user", "data": {"x": [[[[[[[[[1]]]]]]]]]}},
         "Invalid field 'data': nested too deeply (at most 8 levels)"),
    ]
    for cmd, fields, error in cases:
        reply = await request(boss, cmd, **fields)
        assert reply == {"cmd": "error", "src": cmd, "listener": "L", "val": error}, (cmd, reply)
    # at the limits: accepted
    assert (await request(boss, "channel_update", current_name="general",
                          updates={"wallpaper": [[[[[[[1]]]]]]]}))["cmd"] == "channel_update"
    assert (await request(boss, "role_create", name="r", permissions={"a": [[[[[[[1]]]]]]]}))["cmd"] == "role_create"


async def test_role_count_is_capped(make_server):
    server = await make_server(limits=LimitsSection(max_roles=5))  # owner, admin, moderator, user + 1
    boss = await server.owner("boss")
    assert (await request(boss, "role_create", name="one"))["cmd"] == "role_create"
    reply = await request(boss, "role_create", name="two")
    assert reply["val"] == "Role limit reached (max 5 roles)"


def test_the_defaults_fit_the_list_budget():
    limits = LimitsSection()
    assert limits.max_channels * (limits.record_bytes + 256) <= 8 * 1024 * 1024
    assert limits.max_roles * limits.record_bytes <= 8 * 1024 * 1024
