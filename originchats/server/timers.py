"""Periodic tasks: the heartbeat and the rate-limiter supervisor."""

from __future__ import annotations

import attrs
import structlog
import trio

from ..core import ratelimit
from .hub import Hub
from .ws import encode_text

log = structlog.get_logger("originchats.timers")
HEARTBEAT_FRAME = encode_text('{"cmd":"ping"}')


async def heartbeat(hub: Hub, interval: float) -> None:
    """Every `interval` seconds: `{"cmd":"ping"}` and a WebSocket ping to every socket.

    A socket that has sent nothing at all (not even the pong that every WebSocket client answers a
    ping with) for three intervals is a dead peer and is closed (1001)."""
    while True:
        await trio.sleep(interval)
        now = trio.current_time()
        for conn_id, ws in list(hub.sockets.items()):
            if now - ws.last_seen > 3 * interval:
                log.info("dead_peer_dropped", conn_id=conn_id, silent_for=round(now - ws.last_seen, 1))
                ws.close(1001, "no response to heartbeat")
                continue
            ws.push(HEARTBEAT_FRAME)
            ws.ping()


async def rate_limit_supervisor(hub: Hub, interval: float = 60.0) -> None:
    """Owns the life cycle of the rate-limit buckets: drops those that can no longer refuse anything."""
    while True:
        await trio.sleep(interval)
        state = hub.state
        cfg = state.settings.rate_limit
        now = hub.now()
        kept = {uid: b for uid, b in state.rate_limits.items() if not ratelimit.is_idle(b, now, cfg)}
        if len(kept) != len(state.rate_limits):
            hub.state = attrs.evolve(state, rate_limits=kept)
