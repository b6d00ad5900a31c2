"""Checks shared by several handlers."""

from __future__ import annotations

import attrs

from .. import packets, ratelimit, texts
from ..context import Context
from ..effects import Reply
from ..errors import ProtocolError
from ..model import Perm, User
from ..request import Request, opt_str
from ..state import ServerState


#: Longest user name or id a client may name; anything longer names nobody.
MAX_NAME = 128


def find_member(state: ServerState, name: str) -> User | None:
    """The live account a request names: its username (any case) or its id, blanks around it
    ignored. The one lookup of a named user (the operator's adds bare local names)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        return None
    return state.find_user(name)


def named(req: Request, key: str = "user", missing: str = texts.USER_REQUIRED) -> str:
    """The name a request gives in `key`: a string that is not blank, else the `missing` error."""
    name = opt_str(req, key)
    if name is None or not name.strip():
        raise ProtocolError(missing)
    return name


def target_user(state: ServerState, req: Request, key: str = "user", missing: str = texts.USER_REQUIRED) -> User:
    """The member named by `req[key]` (`named`, then `find_member`); unknown: `User not found`."""
    user = find_member(state, named(req, key, missing))
    if user is None:
        raise ProtocolError(texts.USER_NOT_FOUND)
    return user


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
    return state, Reply(packets.rate_limit(refusal.length_ms, refusal.reason if with_reason else None), limited=True)


def require_roles(user: User, *, nosrc: bool = False) -> None:
    if not user.roles:
        raise ProtocolError(texts.USER_ROLES_NOT_FOUND, nosrc=nosrc)


def require_owner(user: User) -> None:
    """OWNER check: the literal role, errors without `src`."""
    if not user.roles:
        raise ProtocolError(texts.USER_ROLES_NOT_FOUND, nosrc=True)
    if "owner" not in user.roles:
        raise ProtocolError(texts.OWNER_REQUIRED, nosrc=True)


def require_perm(state: ServerState, user: User, perm: Perm) -> None:
    from ..permissions import has_perm

    if not has_perm(state.roles, user, perm):
        raise ProtocolError(texts.permission_required(perm))
