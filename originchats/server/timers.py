"""Periodic tasks: the heartbeat, the rate-limit and auth-records supervisors, and the log samplers' summaries."""

from __future__ import annotations

import math

import attrs
import structlog
import trio

from ..core import authguard, packets, ratelimit
from ..core import attachments, webhooks
from ..core.poll_expiry import expire_due
from ..core.request import Request
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
            if ws.last_seen == math.inf:  # a plugin's, or a gateway's client (its gateway pings it)
                continue
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
            state = attrs.evolve(state, rate_limits=kept, broadcast_limits=kept_broadcast)
        hub.state = webhooks.prune_buckets(state, now)  # the webhooks' post buckets


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


#: How often the poll expiry timer looks at the state's alarm (a poll created meanwhile may have
#: moved it closer): a poll's `poll_end` is announced at most this late after it expired.
POLL_CHECK_SECONDS = 1.0
#: The conn id of the timer's steps: no connection has it, so nothing is answered to anyone.
TIMER_CONN = -1


async def poll_expiry(hub: Hub, check_seconds: float | None = None) -> None:
    """Ends the polls whose `expires_at` has passed and announces each (`poll_end` to the viewers
    of its channel): a pure step (core/poll_expiry.py) run through the hub's interpreter whenever
    the state's `poll_alarm` is due. Votes on an expired poll are refused from its `expires_at` on,
    whether or not this has run yet (the commands judge expiry with their own clock)."""
    request = Request(cmd="poll_expiry", data={})
    check_seconds = check_seconds or POLL_CHECK_SECONDS  # read at start: tests that sleep a month raise it
    while True:
        alarm = hub.state.poll_alarm
        now = hub.now()
        if alarm is None or alarm > now:
            await trio.sleep(check_seconds if alarm is None else min(check_seconds, alarm - now))
            continue
        ctx = hub.context(TIMER_CONN)
        before = hub.state  # read and replaced with no await in between
        step = expire_due(before, ctx)
        hub.state = step.state
        try:
            await hub.interpreter.run(step.effects, ctx, request, None, hub.interpreter.undo(before, step.state))
        except Exception:  # a failed read: log it and try again later, the server carries on
            log.exception("poll_expiry_failed")
            await trio.sleep(check_seconds)
        alarm = hub.state.poll_alarm
        if alarm is not None and alarm <= hub.now():  # more due (or a failed commit): not in a tight loop
            await trio.sleep(min(check_seconds, 0.05))


#: How often expired attachments are removed (records, then the bytes no record names): at start,
#: then daily. Until then an expired one is already gone to every command and to the download route.
ATTACHMENT_CLEANUP_SECONDS = 86400.0


async def attachment_cleanup(hub: Hub, interval: float = ATTACHMENT_CLEANUP_SECONDS) -> None:
    """Removes the expired attachments (core/attachments.py `expire_due`), at start and every `interval`."""
    request = Request(cmd="attachment_cleanup", data={})
    while True:
        ctx = hub.context(TIMER_CONN)
        before = hub.state  # read and replaced with no await in between
        step = attachments.expire_due(before, ctx)
        hub.state = step.state
        try:
            await hub.interpreter.run(step.effects, ctx, request, None, hub.interpreter.undo(before, step.state))
        except Exception:  # a failed commit or drop: the next round takes them again
            log.exception("attachment_cleanup_failed")
        await trio.sleep(interval)
