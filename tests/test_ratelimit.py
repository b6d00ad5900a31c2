"""The message rate limiter (README §9) and rate_limit_status (core.md §7), on trio's mock clock.

Limits here: 5 per minute, a burst of 3 in 10 s, 30 s cooldown. Tests that look at times use the
mock clock, so a refusal's `length` does not depend on how fast the machine is.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio

from originchats.config import RateLimitingSection
from originchats.core.ratelimit import Bucket, prune
from originchats.core.settings import RateLimitSettings
from originchats.core.state import ServerState
from originchats.server.timers import rate_limit_supervisor
from tests.conftest import Server, make_config

LIMITS = RateLimitingSection(enabled=True, messages_per_minute=5, burst_limit=3, cooldown_seconds=30)
BURST = "Burst limit exceeded. You're in cooldown for 30 seconds"


@pytest.fixture
def config(tmp_path: Path):
    return make_config(tmp_path, rate_limiting=LIMITS)


async def post(client, content: str = "hi", **extra: object) -> dict:
    await client.send("message_new", channel="general", content=content, **extra)
    return await client.recv()


def refusal(packet: dict, reason: str | None, length_ms: float) -> None:
    """A `rate_limit` packet; `length` may be a millisecond off (Unix-time float arithmetic)."""
    assert packet["cmd"] == "rate_limit", packet
    if reason is None:
        assert "reason" not in packet, packet
    else:
        assert packet["reason"] == reason, packet
    assert isinstance(packet["length"], int) and abs(packet["length"] - length_ms) <= 1, packet


async def status(client, **fields: object) -> dict:
    await client.send("rate_limit_status", **fields)
    return (await client.expect("rate_limit_status"))["status"]


async def test_a_burst_starts_a_cooldown(server, autojump_clock):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    for i in range(3):
        assert (await post(alice, f"m{i}"))["cmd"] == "message_new"
        await bob.expect("message_new")
    packet = await post(alice, "one too many", listener="R")
    assert packet == {"cmd": "rate_limit", "reason": BURST, "length": 30000, "listener": "R"}
    await bob.assert_silent()  # refused messages go nowhere
    refusal(await post(alice), "You are in cooldown for 30.0 more seconds", 30000)
    await trio.sleep(10)
    refusal(await post(alice), "You are in cooldown for 20.0 more seconds", 20000)
    assert (await status(alice))["cooldown_remaining"] == pytest.approx(20, abs=0.01)
    await trio.sleep(20)
    assert (await post(alice, "back"))["cmd"] == "message_new"
    assert (await bob.expect("message_new"))["message"]["content"] == "back"
    # refusals took no slot: three messages before the burst and one after
    assert (await status(alice))["messages_this_minute"] == 4


async def test_the_per_minute_limit(server, autojump_clock):
    alice = await server.user("alice")
    for _ in range(5):  # 11 s apart: never a burst
        assert (await post(alice))["cmd"] == "message_new"
        await trio.sleep(11)
    # t = 55 s: the oldest of the five is 55 s old
    refusal(await post(alice, listener="R"), "Rate limit exceeded. Wait 5.0 seconds", 5000)
    await trio.sleep(5.5)  # the oldest left the window; no cooldown was started
    assert (await post(alice))["cmd"] == "message_new"


async def test_typing_and_edits_take_slots_from_the_same_bucket(server, autojump_clock):
    alice = await server.user("alice")
    mid = (await post(alice, "first"))["message"]["id"]
    for _ in range(2):
        await alice.send("typing", channel="general")
        assert (await alice.recv())["cmd"] == "typing"
    # the fourth action in 10 s, an edit: the refusal has no reason
    await alice.send("message_edit", id=mid, channel="general", content="second", listener="E")
    packet = await alice.recv()
    assert packet == {"cmd": "rate_limit", "length": 30000, "listener": "E"}
    await alice.send("typing", channel="general", listener="T")
    packet = await alice.recv()
    refusal(packet, "You are in cooldown for 30.0 more seconds", 30000)
    assert packet["listener"] == "T"
    await trio.sleep(30)
    await alice.send("message_edit", id=mid, channel="general", content="second")
    assert (await alice.recv())["cmd"] == "message_edit"
    assert (await status(alice))["messages_this_minute"] == 4


async def test_deletes_pings_and_invalid_messages_take_no_slot(server, autojump_clock):
    alice = await server.user("alice")
    ids = [(await post(alice, f"m{i}"))["message"]["id"] for i in range(3)]
    await alice.send("message_delete", id=ids[0], channel="general")
    assert (await alice.recv())["cmd"] == "message_delete"
    for _ in range(5):
        await alice.send("ping")
        assert (await alice.recv())["cmd"] == "pong"
    # refused before the limiter is consulted: missing fields, empty, too long
    for fields in ({"channel": "general"}, {"channel": "general", "content": "   "},
                   {"channel": "general", "content": "x" * 2001}):
        await alice.send("message_new", **fields)
        assert (await alice.recv())["cmd"] == "error"
    assert await status(alice) == {"messages_this_minute": 3, "messages_per_minute_limit": 5,
                                   "recent_messages": 3, "burst_limit": 3, "cooldown_remaining": 0}
    refusal(await post(alice), BURST, 30000)


async def test_all_sockets_of_a_user_share_one_bucket(server, autojump_clock):
    alice = await server.user("alice")
    alice2 = await server.user("alice")
    for client in (alice, alice2, alice):
        assert (await post(client))["cmd"] == "message_new"
        await alice.drain()
        await alice2.drain()
    refusal(await post(alice2), BURST, 30000)
    refusal(await post(alice), "You are in cooldown for 30.0 more seconds", 30000)


async def test_rate_limit_status_of_self_and_others(server, autojump_clock):
    alice = await server.user("alice")
    bob = await server.user("bob")
    boss = await server.owner("boss")
    await bob.drain()
    assert (await post(bob))["cmd"] == "message_new"
    await alice.drain()
    empty = {"messages_this_minute": 0, "messages_per_minute_limit": 5, "recent_messages": 0,
             "burst_limit": 3, "cooldown_remaining": 0}
    await alice.send("rate_limit_status", listener="S")
    assert await alice.recv() == {"cmd": "rate_limit_status", "user": "USR:local_alice", "status": empty,
                                  "listener": "S"}
    await alice.send("rate_limit_status", user="usr:local_ALICE")  # oneself by name
    assert (await alice.expect("rate_limit_status"))["user"] == "USR:local_alice"
    for name in ("USR:local_bob", "nobody"):
        await alice.send("rate_limit_status", user=name)
        await alice.expect_error("Access denied: can only check your own rate limit status", src="rate_limit_status")
    # an owner may look at anyone; unknown users read as all zeros
    await boss.drain()
    await boss.send("rate_limit_status", user="USR:local_bob")
    assert await boss.recv() == {"cmd": "rate_limit_status", "user": "USR:local_bob",
                                 "status": {**empty, "messages_this_minute": 1, "recent_messages": 1}}
    await boss.send("rate_limit_status", user="nobody")
    assert await boss.recv() == {"cmd": "rate_limit_status", "user": "nobody", "status": empty}


async def test_a_disabled_limiter(nursery, tmp_path):
    srv = Server(nursery=nursery, config=make_config(tmp_path, rate_limiting=attrs.evolve(LIMITS, enabled=False)))
    await srv.start()
    alice = await srv.user("alice")
    await srv.user("bob")
    await alice.drain()
    for i in range(20):
        assert (await post(alice, f"m{i}"))["cmd"] == "message_new"
    await alice.send("rate_limit_status")
    await alice.expect_error("Rate limiter not available or disabled", src="rate_limit_status")
    # the permission check comes first
    await alice.send("rate_limit_status", user="USR:local_bob")
    await alice.expect_error("Access denied: can only check your own rate limit status", src="rate_limit_status")
    await srv.shutdown()


# ---- the supervisor ---------------------------------------------------------------------------

CFG = RateLimitSettings(enabled=True, messages_per_minute=5, burst_limit=3, cooldown_seconds=30)


def test_prune_keeps_only_buckets_that_can_still_refuse():
    now = 1000.0
    buckets = {
        "idle": Bucket(stamps=(now - 61, now - 90)),
        "empty": Bucket(),
        "recent": Bucket(stamps=(now - 61, now - 59)),
        "cooling": Bucket(stamps=(now - 70,), cooldown_start=now - 29),
        "cooled": Bucket(stamps=(now - 70,), cooldown_start=now - 30),
        "timed_out": Bucket(timeout_until=now + 1),
        "timeout_over": Bucket(timeout_until=now),
    }
    assert set(prune(buckets, now, CFG)) == {"recent", "cooling", "timed_out"}
    busy = {"recent": buckets["recent"]}
    assert prune(busy, now, CFG) is busy  # nothing to drop: the state is not replaced


@attrs.define
class FakeHub:
    state: ServerState

    def now(self) -> float:
        return trio.current_time()


async def test_supervisor_drops_idle_buckets_every_interval(nursery, autojump_clock):
    start = trio.current_time()
    hub = FakeHub(ServerState(settings=attrs.evolve(ServerState().settings, rate_limit=CFG), rate_limits={
        "old": Bucket(stamps=(start - 1,)), "fresh": Bucket(stamps=(start + 50,)),
    }))
    nursery.start_soon(rate_limit_supervisor, hub, 60)
    await trio.sleep(59)
    assert set(hub.state.rate_limits) == {"old", "fresh"}
    await trio.sleep(2)  # t = 61: the first round at t = 60 found "old" 61 s old
    assert set(hub.state.rate_limits) == {"fresh"}
    await trio.sleep(60)  # t = 121: the round at t = 120 found "fresh" 70 s old
    assert dict(hub.state.rate_limits) == {}
