"""Checks shared by several handlers."""

from __future__ import annotations

import attrs

from .. import ratelimit
from ..context import Context
from ..effects import Reply
from ..errors import ProtocolError
from ..model import User
from ..state import ServerState


def me(state: ServerState, ctx: Context) -> User:
    """The caller's current account record (the dispatcher guarantees it exists)."""
    return state.users[state.conns[ctx.conn_id].user_id or ""]


def rate_check(state: ServerState, ctx: Context, user: User, *, with_reason: bool = True,
               broadcast: bool = False) -> tuple[ServerState, Reply | None]:
    """Consume one slot of the caller's bucket; a refusal comes back as the `rate_limit` reply.

    `broadcast`: the bucket of the commands that reach every socket (status, nickname, picture,
    reactions), with its own rates, so that reacting never costs a message and the other way round."""
    cfg = state.settings.broadcast_limit if broadcast else state.settings.rate_limit
    if not cfg.enabled:
        return state, None
    buckets = state.broadcast_limits if broadcast else state.rate_limits
    bucket, refusal = ratelimit.check(buckets.get(user.id) or ratelimit.Bucket(), ctx.now, cfg)
    buckets = buckets.set(user.id, bucket)
    state = attrs.evolve(state, **{"broadcast_limits" if broadcast else "rate_limits": buckets})
    if refusal is None:
        return state, None
    packet: dict = {"cmd": "rate_limit"}
    if with_reason:
        packet["reason"] = refusal.reason
    packet["length"] = refusal.length_ms
    return state, Reply(packet)


def require_roles(user: User, *, nosrc: bool = False) -> None:
    if not user.roles:
        raise ProtocolError("User roles not found", nosrc=nosrc)


def require_owner(user: User) -> None:
    """OWNER check: the literal role, errors without `src`."""
    if not user.roles:
        raise ProtocolError("User roles not found", nosrc=True)
    if "owner" not in user.roles:
        raise ProtocolError("Access denied: 'owner' role required", nosrc=True)


def require_perm(state: ServerState, user: User, perm: str) -> None:
    from ..permissions import has_perm

    if not has_perm(state.roles, user, perm):
        raise ProtocolError(f"Access denied: '{perm}' permission required")
