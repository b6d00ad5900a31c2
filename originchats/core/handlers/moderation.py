"""Member moderation: user_ban, user_unban, users_banned_list, user_timeout, rate_limit_reset,
user_leave (self-deletion, or a kick) and user_delete (core.md §5, §7). Renames and nicknames are in
handlers/profiles.py, server settings and plugins in handlers/server_admin.py.

Permission model (docs/compatibility.md "Moderation"): the member commands follow the documented
permission `manage_users` (the original demanded the literal role `owner` for ban, unban, timeout
and the ban list), plugins follow `manage_server`, and `user_delete` stays owner-only as
documented. On top of that nobody acts on a member whose rank is at or above their own
(`texts.USERS_AT_OR_ABOVE`, ranks as in core/permissions.py); owners pass, as in the role hierarchy of objects.md §5.1.

Fixed relative to the original: a banned, kicked or deleted member's sockets get
`{"cmd":"disconnect","reason":…}` and are closed at once; a deleted account keeps its row (its name
and id cannot be reclaimed); unknown users are refused with `User not found`; timeouts can be lifted
with 0, reach every socket of the target and survive a restart; nothing is audit-logged when
nothing changed.
"""

from __future__ import annotations


import attrs

from .. import packets, ratelimit, sessions, texts
from ..audit import audit
from ..context import Context
from ..effects import Close, Effect, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import Perm, User
from ..permissions import is_owner, outranks
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..views import all_authed
from ..writes import TimeoutSaved, UserSaved
from .common import me, require_owner, require_perm, target_user


MAX_REASON = 500
MAX_TIMEOUT = 365 * 86400


# ---- shared checks and effects ----------------------------------------------------------------


def opt_reason(req: Request) -> str | None:
    reason = opt_str(req, "reason")
    if reason is None or not reason.strip():
        return None
    if len(reason) > MAX_REASON:
        raise ProtocolError(texts.reason_too_long(MAX_REASON))
    return reason.strip()


def require_outranks(state: ServerState, actor: User, target: User) -> None:
    """The rank rule of core/permissions.py; the target's `banned` mark is the state managed here,
    not a rank, so it does not count."""
    if not outranks(state.roles, actor, target, ignore_banned=True):
        raise ProtocolError(texts.USERS_AT_OR_ABOVE)


def last_owner(state: ServerState, user: User) -> bool:
    """True when `user` is the only owner left (banned and deleted owners do not count)."""
    if not is_owner(user):
        return False
    return not any(u.id != user.id and is_owner(u) and not u.deleted and not u.banned for u in state.users.values())


def disconnect(state: ServerState, user_id: str, reason: str, code: int = 1008) -> tuple[Effect, ...]:
    """Tell every socket of the user why, then close them (after anything queued for them)."""
    conns = tuple(state.conns_of(user_id))
    if not conns:
        return ()
    return (Send(conns, packets.disconnect(reason)), Close(conns, code, reason))


def ban(state: ServerState, ctx: Context, actor_id: str | None, target: User, reason: str | None,
        details: dict | None = None) -> tuple[ServerState, tuple, tuple[Effect, ...]]:
    """(state, writes, effects) of banning `target`: role `banned` first, sockets closed."""
    user = attrs.evolve(target, roles=("banned",) + tuple(r for r in target.roles if r != "banned"))
    state, revoked = sessions.revoke_user(state.with_user(user), user.id)  # no reconnect after an unban either
    entry = audit(ctx, actor_id, "user_moderation", "user_ban", target=user.id, reason=reason, details=details or {})
    return state, (UserSaved(user), *revoked, entry), disconnect(state, user.id, texts.BANNED_NOW_REASON)


def unban(state: ServerState, ctx: Context, actor_id: str | None, target: User,
          details: dict | None = None) -> tuple[ServerState, tuple]:
    user = attrs.evolve(target, roles=tuple(r for r in target.roles if r != "banned"))
    state = state.with_user(user)
    entry = audit(ctx, actor_id, "user_moderation", "user_unban", target=user.id, details=details or {})
    return state, (UserSaved(user), entry)


def delete_account(state: ServerState, target: User) -> tuple[ServerState, tuple]:
    """Keep the row, flagged deleted and without its password or session tokens, so the name and id
    stay reserved and nothing can log in as it."""
    user = attrs.evolve(target, deleted=True, password_hash=None)
    state, revoked = sessions.revoke_user(state.with_user(user), user.id)
    return state, (UserSaved(user), *revoked)


# ---- bans -------------------------------------------------------------------------------------


@command("user_ban")
def handle_user_ban(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_USERS)
    target = target_user(state, req)
    reason = opt_reason(req)
    if target.id == actor.id:
        raise ProtocolError(texts.CANNOT_BAN_SELF)
    require_outranks(state, actor, target)
    if target.banned:
        return Step(state, (Reply(packets.user_ban(target.username, False)),))
    state, writes, closing = ban(state, ctx, actor.id, target, reason)
    reply = Reply(packets.user_ban(target.username, True))
    return Step(state, (Persist(writes, (reply,) + closing),))


@command("user_unban")
def handle_user_unban(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_USERS)
    target = target_user(state, req)
    require_outranks(state, actor, target)
    if not target.banned:
        return Step(state, (Reply(packets.user_unban(target.username, False)),))
    state, writes = unban(state, ctx, actor.id, target)
    return Step(state, (Persist(writes, (Reply(packets.user_unban(target.username, True)),)),))


@command("users_banned_list")
def handle_users_banned_list(state: ServerState, ctx: Context, req: Request) -> Step:
    require_perm(state, me(state, ctx), "manage_users")
    names = [u.username for u in state.users.values() if u.banned and not u.deleted]
    return Step(state, (Reply(packets.users_banned_list(names)),))


# ---- timeouts and the limiter -----------------------------------------------------------------


@command("user_timeout")
def handle_user_timeout(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_USERS)
    seconds = req.get("timeout")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ProtocolError(texts.TIMEOUT_INVALID)
    if seconds > MAX_TIMEOUT:
        raise ProtocolError(texts.timeout_too_long(MAX_TIMEOUT))
    target = target_user(state, req)
    if not state.settings.rate_limit.enabled:
        raise ProtocolError(texts.RATE_LIMITER_DISABLED)
    if target.id == actor.id:
        raise ProtocolError(texts.CANNOT_TIME_OUT_SELF)
    require_outranks(state, actor, target)
    reply = Reply(packets.user_timeout(req.get("user"), seconds))
    bucket = state.rate_limits.get(target.id) or ratelimit.Bucket()
    if seconds == 0:
        if bucket.timeout_until <= ctx.now:
            return Step(state, (reply,))  # nothing to lift
        bucket = attrs.evolve(bucket, timeout_until=0.0)
        until = 0.0
        pushed: tuple[Effect, ...] = ()
    else:
        until = ctx.now + seconds
        bucket = ratelimit.set_timeout(bucket, until)
        pushed = (Send(tuple(state.conns_of(target.id)), packets.rate_limit(seconds * 1000, texts.TIMEOUT_SET)),)
    state = attrs.evolve(state, rate_limits=state.rate_limits.set(target.id, bucket))
    entry = audit(ctx, actor.id, "user_moderation", "user_timeout", target=target.id, details={"timeout": seconds})
    return Step(state, (Persist((TimeoutSaved(target.id, until), entry), pushed + (reply,)),))


@command("rate_limit_reset")
def handle_rate_limit_reset(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_SERVER)
    name = opt_str(req, "user")
    if name is None or not name.strip():
        raise ProtocolError(texts.USER_REQUIRED)
    if not state.settings.rate_limit.enabled:
        raise ProtocolError(texts.RATE_LIMITER_DISABLED)
    target = target_user(state, req)
    reply = Reply(packets.rate_limit_reset(target.username))
    bucket = state.rate_limits.get(target.id)
    if bucket is None or bucket == ratelimit.reset(bucket):
        return Step(state, (reply,))  # nothing to clear
    state = attrs.evolve(state, rate_limits=state.rate_limits.set(target.id, ratelimit.reset(bucket)))
    entry = audit(ctx, actor.id, "user_moderation", "rate_limit_reset", target=target.id, details={})
    return Step(state, (Persist((entry,), (reply,)),))


# ---- leaving, kicking, deleting ---------------------------------------------------------------


@command("user_leave")
def handle_user_leave(state: ServerState, ctx: Context, req: Request) -> Step:
    """Without `user` (or naming the caller): the caller deletes their own account, as documented.
    With another member's name: a kick (their sockets are closed; the account stays)."""
    actor = me(state, ctx)
    if req.get("user") is not None:
        target = target_user(state, req)
        if target.id != actor.id:
            return _kick(state, ctx, req, actor, target)
    if last_owner(state, actor):
        raise ProtocolError(texts.LAST_OWNER)
    state, writes = delete_account(state, actor)
    # the original logs no self-deletions (moderation_log.md): they drowned out moderation
    then = (Send(all_authed(state), packets.user_leave(actor.username)),
            Reply(packets.user_leave_reply(actor.username, kicked=False)),
            *disconnect(state, actor.id, texts.ACCOUNT_REMOVED, code=1000))
    return Step(state, (Persist(writes, then),))


def _kick(state: ServerState, ctx: Context, req: Request, actor: User, target: User) -> Step:
    require_perm(state, actor, Perm.MANAGE_USERS)
    reason = opt_reason(req)
    require_outranks(state, actor, target)
    closing = disconnect(state, target.id, texts.KICKED_REASON)
    if not closing:
        raise ProtocolError(texts.NOT_CONNECTED)
    entry = audit(ctx, actor.id, "user_moderation", "user_kick", target=target.id, reason=reason, details={})
    reply = Reply(packets.user_leave_reply(target.username, kicked=True))
    return Step(state, (Persist((entry,), (reply,) + closing),))


@command("user_delete")
def handle_user_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_owner(actor)
    target = target_user(state, req)
    if last_owner(state, target):
        raise ProtocolError(texts.LAST_OWNER)
    state, writes = delete_account(state, target)
    entry = audit(ctx, actor.id, "user_moderation", "user_delete", target=target.id, reason=opt_reason(req),
                  details={})
    then = (Send(all_authed(state), packets.user_leave(target.username)),
            Reply(packets.user_delete(target.username)),
            *disconnect(state, target.id, texts.ACCOUNT_REMOVED))
    return Step(state, (Persist((*writes, entry), then),))

