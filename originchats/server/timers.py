"""Periodic tasks: the heartbeat, the rate-limit and auth-records supervisors, and the log samplers' summaries."""

from __future__ import annotations

import attrs
import structlog
import trio

from ..core import authguard, packets, ratelimit
from ..protocol import codec
from .guard import WINDOW, LogSampler
from .hub import Hub
from .ws import encode_text

log = structlog.get_logger("originchats.timers")
HEARTBEAT_FRAME = encode_text(codec.encode(packets.ping()))
#: A socket that has sent nothing for this many intervals is a dead peer.
DEAD_AFTER = 3


async def heartbeat(hub: Hub, interval: float) -> None:
    """Every `interval` seconds: `{"cmd":"ping"}` and a WebSocket ping to every socket.

    A socket that has sent nothing at all (not even the pong that every WebSocket client answers a
    ping with) for `DEAD_AFTER` intervals is a dead peer and is closed (1001); the connection task
    bounds the time the close may take, so a peer that does not even read is dropped as well."""
    while True:
        await trio.sleep(interval)
        now = trio.current_time()
        for conn_id, ws in list(hub.sockets.items()):
            if now - ws.last_seen >= DEAD_AFTER * interval:
                log.info("dead_peer_dropped", conn_id=conn_id, silent_for=round(now - ws.last_seen, 1))
                ws.close(1001, "no response to heartbeat")
                continue
            ws.push(HEARTBEAT_FRAME)
            ws.ping()


async def rate_limit_supervisor(hub: Hub, interval: float = 60.0) -> None:
    """Owns the life cycle of the rate-limit buckets: drops those that can no longer refuse anything."""
    while True:
        await trio.sleep(interval)
        state = hub.state  # read and replaced with no await in between: no lost update
        now = hub.now()
        kept = ratelimit.prune(state.rate_limits, now, state.settings.rate_limit)
        kept_broadcast = ratelimit.prune(state.broadcast_limits, now, state.settings.broadcast_limit)
        if kept is not state.rate_limits or kept_broadcast is not state.broadcast_limits:
            hub.state = attrs.evolve(state, rate_limits=kept, broadcast_limits=kept_broadcast)


async def flush_log_samplers(samplers: list[LogSampler]) -> None:
    """Once a minute: the summary lines of the log samplers' finished windows (guard.LogSampler)."""
    while True:
        await trio.sleep(WINDOW)
        now = trio.current_time()
        for sampler in samplers:
            sampler.flush(now)


async def auth_records_supervisor(hub: Hub, interval: float = 60.0) -> None:
    """Drops the failed-login and registration counters whose window has passed."""
    while True:
        await trio.sleep(interval)
        state = hub.state  # read and replaced with no await in between: no lost update
        kept = authguard.prune(state.auth, state.settings.auth, hub.now())
        if kept is not state.auth:
            hub.state = attrs.evolve(state, auth=kept)
