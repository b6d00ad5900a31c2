"""What the core publishes to the gateways (issue 12): each broadcast once per gateway, with that
gateway's receivers, never one copy per receiver. Read straight from the real Redis the cluster uses
(the `<prefix>out:<gateway>` streams keep their entries after the gateways read them). And how the
core tells a dead gateway from its own delay in reading them."""

from __future__ import annotations

from typing import Any

import coredis
import trio

import pytest
import structlog

from originchats.cluster import wire
from originchats.cluster.redis_link import Link, parse_url
from tests.client import settle
from tests.clock import autojump_clock  # noqa: F401
from tests.conftest import ClusterServer


async def frames_sent(redis_url: str, stream: str, needle: bytes) -> list[tuple[bytes, list[int]]]:
    """(frame, receivers) of every FRAME record the core sent on `stream` that contains `needle`."""
    host, port, db = parse_url(redis_url)
    async with coredis.Redis(host=host, port=port, db=db, decode_responses=False) as redis:
        entries = await redis.xrange(stream.encode())
    found = []
    for entry in entries:
        for kind, frame, receivers in wire.Outbound.unpack(entry.field_values[b"b"]).records:
            if kind == wire.FRAME and needle in frame:
                found.append((frame, list(receivers)))
    return found


async def test_a_broadcast_reaches_each_gateway_once_with_its_receivers(nursery: trio.Nursery, config: Any,
                                                                          redis_url: str) -> None:
    srv = ClusterServer(nursery=nursery, config=config, redis_url=redis_url)
    await srv.start()
    try:
        clients = [await srv.user(f"member{i}") for i in range(6)]  # connect() alternates gw1, gw2
        for client in clients:
            await client.drain()
        for round_ in range(3):  # several broadcasts in a row: each one its own record
            text = f"to everyone {round_}"
            await clients[0].send("message_new", channel="general", content=text, listener="l")
            for client in clients:
                await client.expect("message_new", channel="general")
            # gw1 holds the sender (its own copy is the reply, with its listener) and two others
            for name, others, replies in (("gw1", 2, 1), ("gw2", 3, 0)):
                sent = await frames_sent(redis_url, f"{srv.prefix}out:{name}", text.encode())
                [broadcast] = [receivers for frame, receivers in sent if b'"listener"' not in frame]
                assert len(broadcast) == len(set(broadcast)) == others
                assert [len(receivers) for frame, receivers in sent if b'"listener"' in frame] == [1] * replies
    finally:
        await srv.shutdown()


async def test_a_core_behind_on_its_stream_takes_no_gateway_for_dead(nursery: trio.Nursery, config: Any,
                                                                     redis_url: str, autojump_clock: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The core stops reading `<prefix>in` for four times `dead_after` (a burst it is behind on, a
    stalled loop) while the gateways go on beating into it: when it reads again, nobody was dropped
    and nobody is closed, because a gateway's silence is measured in the stream (Redis's clock of
    each entry), not by the core's own clock while it was not reading."""
    srv = ClusterServer(nursery=nursery, config=config, redis_url=redis_url, beats=(1.0, 5.0))
    await srv.start()
    try:
        alice, bob = await srv.user("alice"), await srv.user("bob")  # on gw1 and gw2
        await alice.drain(), await bob.drain()
        core_link = srv.hub.cluster.link
        reading = trio.Event()
        real_xread = Link.xread

        async def stalled(self: Link, stream: bytes, after: bytes, count: int = 256) -> Any:
            if self is core_link:
                await reading.wait()
            return await real_xread(self, stream, after, count)

        monkeypatch.setattr(Link, "xread", stalled)
        with structlog.testing.capture_logs() as logs:
            await trio.sleep(20)  # the core's reader is stalled from its next read on
            reading.set()
            await settle()
            await alice.send("message_new", channel="general", content="still here", listener="m")
            assert (await bob.expect("message_new"))["message"]["content"] == "still here"
            assert (await alice.expect("message_new"))["listener"] == "m"
        assert [e for e in logs if e["event"] in ("gateway_dropped", "gateway_reset")] == []
        await bob.assert_silent()  # no user_disconnect, no close
        assert alice.close_code is None and bob.close_code is None
    finally:
        await srv.shutdown()
