"""The message rate limiter of protocol/README.md §9, as pure functions over a per-user bucket.

Buckets live in `ServerState.rate_limits` keyed by user id (all of a user's sockets share one). The
shell's supervisor task calls `prune` periodically so idle buckets do not accumulate.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from . import texts
from .settings import RateLimitSettings
from .tables import pmap

WINDOW = 60.0
BURST_WINDOW = 10.0


@attrs.frozen
class Bucket:
    stamps: tuple[float, ...] = ()  # allowed actions in the last minute, oldest first
    cooldown_start: float | None = None
    timeout_until: float = 0.0


@attrs.frozen
class Refusal:
    reason: str
    length_ms: int


def _fmt(t: float) -> str:
    return f"{t:.1f}"


def check(bucket: Bucket, now: float, cfg: RateLimitSettings) -> tuple[Bucket, Refusal | None]:
    """One rate-limit check at `now`; returns the new bucket and the refusal, if any."""
    if bucket.timeout_until > now:
        t = bucket.timeout_until - now
        return bucket, Refusal(texts.in_timeout(_fmt(t)), int(t * 1000))
    stamps = tuple(ts for ts in bucket.stamps if now - ts <= WINDOW)
    cooldown = bucket.cooldown_start
    if cooldown is not None and now - cooldown < cfg.cooldown_seconds:
        t = cfg.cooldown_seconds - (now - cooldown)
        return (attrs.evolve(bucket, stamps=stamps),
                Refusal(texts.in_cooldown(_fmt(t)), int(t * 1000)))
    if len(stamps) >= cfg.messages_per_minute:
        t = WINDOW - (now - stamps[0])
        return (attrs.evolve(bucket, stamps=stamps),
                Refusal(texts.rate_limit_exceeded(_fmt(t)), int(t * 1000)))
    recent = sum(1 for ts in stamps if now - ts <= BURST_WINDOW)
    if recent >= cfg.burst_limit:
        c = cfg.cooldown_seconds
        shown = int(c) if float(c).is_integer() else c
        return (attrs.evolve(bucket, stamps=stamps, cooldown_start=now),
                Refusal(texts.burst_limit_exceeded(shown), int(c * 1000)))
    return attrs.evolve(bucket, stamps=stamps + (now,)), None


def status(bucket: Bucket, now: float, cfg: RateLimitSettings) -> dict[str, float | int]:
    stamps = [ts for ts in bucket.stamps if now - ts <= WINDOW]
    remaining: float | int = 0
    if bucket.cooldown_start is not None and now - bucket.cooldown_start < cfg.cooldown_seconds:
        remaining = cfg.cooldown_seconds - (now - bucket.cooldown_start)
    return {
        "messages_this_minute": len(stamps),
        "messages_per_minute_limit": cfg.messages_per_minute,
        "recent_messages": sum(1 for ts in stamps if now - ts <= BURST_WINDOW),
        "burst_limit": cfg.burst_limit,
        "cooldown_remaining": remaining,
    }


def reset(bucket: Bucket) -> Bucket:
    """`rate_limit_reset`: clears history and cooldown, keeps a manual timeout."""
    return Bucket(timeout_until=bucket.timeout_until)


def set_timeout(bucket: Bucket, until: float) -> Bucket:
    """`user_timeout`: sets the timeout and clears the minute history."""
    return attrs.evolve(bucket, stamps=(), timeout_until=until)


def is_idle(bucket: Bucket, now: float, cfg: RateLimitSettings) -> bool:
    """True when the bucket holds nothing that could still refuse an action."""
    return (
        bucket.timeout_until <= now
        and all(now - ts > WINDOW for ts in bucket.stamps)
        and (bucket.cooldown_start is None or now - bucket.cooldown_start >= cfg.cooldown_seconds)
    )


def prune(buckets: Mapping[str, Bucket], now: float, cfg: RateLimitSettings) -> Mapping[str, Bucket]:
    """The buckets that can still refuse something; `buckets` itself when none is idle."""
    idle = [uid for uid, b in buckets.items() if is_idle(b, now, cfg)]
    if not idle:
        return buckets
    with pmap(buckets).mutate() as kept:
        for uid in idle:
            del kept[uid]
        return kept.finish()
