"""Member moderation and server administration: user_ban, user_unban, users_banned_list,
user_timeout, user_leave (self-deletion, or a kick), user_delete, user_update, nickname_update,
nickname_remove, server_update, rate_limit_reset, plugins_list, plugins_reload (core.md §2, §5, §7,
§8; extended/misc.md).

Permission model (docs/compatibility.md "Moderation"): the member commands follow the documented
permission `manage_users` (the original demanded the literal role `owner` for ban, unban, timeout
and the ban list), plugins follow `manage_server`, and `user_delete` stays owner-only as
documented. On top of that nobody acts on a member whose rank is at or above their own
(`texts.USERS_AT_OR_ABOVE`, ranks as in core/permissions.py); owners pass, as in the role hierarchy of objects.md §5.1.

Fixed relative to the original: a banned, kicked or deleted member's sockets get
`{"cmd":"disconnect","reason":…}` and are closed at once; a deleted account keeps its row (its name
and id cannot be reclaimed); unknown users are refused with `User not found`; renames are checked
for format and uniqueness and keep cracked accounts able to log in; timeouts can be lifted with 0,
reach every socket of the target and survive a restart; nothing is audit-logged when nothing changed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from .. import names, packets, ratelimit, sessions, texts
from ..audit import audit
from ..context import Context
from ..effects import Close, Effect, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import CRACKED_PREFIX, Perm, User
from ..permissions import is_owner, outranks
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..views import all_authed, others
from ..writes import AuditRecorded, SettingSaved, TimeoutSaved, UserSaved
from .common import MAX_NAME, me, rate_check, require_owner, require_perm, target_user

MAX_REASON = 500
MAX_TIMEOUT = 365 * 86400
NICK_MAX = 20
SERVER_NAME_MAX = 100
URL_MAX = 2048


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


# ---- names ------------------------------------------------------------------------------------


def _new_username(state: ServerState, target: User, value: str) -> str:
    """The stored form of a rename: `USR:local_<name>` for local accounts (so they can still log
    in with the new name), the name itself for Rotur accounts; unique among all accounts, deleted
    ones included (their names stay reserved)."""
    name = value.strip()
    if name.casefold().startswith(CRACKED_PREFIX.casefold()):
        if not target.cracked:
            raise ProtocolError(texts.USERNAME_CHARACTERS)
        name = name[len(CRACKED_PREFIX):]
    if not names.username_length_ok(name):
        raise ProtocolError(texts.USERNAME_LENGTH)
    if not names.username_chars_ok(name):
        raise ProtocolError(texts.USERNAME_CHARACTERS)
    stored = CRACKED_PREFIX + name.lower() if target.cracked else name
    key = stored.casefold()
    for u in state.users.values():
        if u.id != target.id and (u.username.casefold() == key or u.id.casefold() == key):
            raise ProtocolError(texts.USERNAME_TAKEN)
    return stored


def _clean_nickname(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > NICK_MAX:
        raise ProtocolError(texts.nickname_too_long(NICK_MAX))
    return value


def nickname_event(user: User) -> dict:
    if user.nickname is None:
        return packets.nickname_remove(user.id, user.username)
    return packets.nickname_update(user.id, user.username, user.nickname)


def _renamed(state: ServerState, user: User) -> ServerState:
    state = state.with_user(user)
    for cid in state.conns_of(user.id):
        state = state.with_conn(attrs.evolve(state.conns[cid], username=user.username))
    return state


@command("user_update")
def handle_user_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_USERS)
    target = target_user(state, req)
    if target.id != actor.id:
        require_outranks(state, actor, target)
    updates = req.get("updates")
    if not isinstance(updates, dict) or not updates:
        raise ProtocolError(texts.UPDATES_NOT_AN_OBJECT)
    for field in updates:
        if field not in ("username", "nickname"):
            raise ProtocolError(texts.cannot_update_field(field))
    username, nickname = target.username, target.nickname
    if "username" in updates:
        value = updates["username"]
        if not isinstance(value, str) or not value.strip():
            raise ProtocolError(texts.USERNAME_NOT_A_STRING)
        username = _new_username(state, target, value)
    if "nickname" in updates:
        value = updates["nickname"]
        if value is not None and not isinstance(value, str):
            raise ProtocolError(texts.string_or_null("Nickname"))
        nickname = _clean_nickname(value)
    reply = Reply(packets.user_update(username, nickname))
    if (username, nickname) == (target.username, target.nickname):
        return Step(state, (reply,))
    user = attrs.evolve(target, username=username, nickname=nickname)
    state = _renamed(state, user)
    applied = {k: v for k, v in (("username", username), ("nickname", nickname)) if k in updates}
    entry = audit(ctx, actor.id, "user_moderation", "user_update", target=user.id, details=applied)
    everyone = all_authed(state)
    then: list[Effect] = [Send(everyone, packets.user_updated(user.id, username, nickname))]
    if nickname != target.nickname:
        then.append(Send(everyone, nickname_event(user)))
    then.append(reply)
    return Step(state, (Persist((UserSaved(user), entry), tuple(then)),))


def _set_own_nickname(state: ServerState, ctx: Context, nickname: str | None) -> Step:
    user = me(state, ctx)
    state, refusal = rate_check(state, ctx, user, broadcast=True)
    if refusal is not None:
        return Step(state, (refusal,))
    event = nickname_event(attrs.evolve(user, nickname=nickname))
    effects = (Send(others(state, ctx.conn_id), event, reply=True),)
    if nickname == user.nickname:
        return Step(state, (Reply(event),))
    user = attrs.evolve(user, nickname=nickname)
    state = state.with_user(user)
    return Step(state, (Persist((UserSaved(user),), effects),))


@command("nickname_update")
def handle_nickname_update(state: ServerState, ctx: Context, req: Request) -> Step:
    """Set the caller's own nickname (what `/nick <name>` does); everyone gets the event."""
    value = req.get("nickname")
    if value is not None and not isinstance(value, str):
        raise ProtocolError(texts.string_or_null("Nickname"))
    nickname = _clean_nickname(value)
    if nickname is None:
        raise ProtocolError(texts.NICKNAME_REQUIRED)
    return _set_own_nickname(state, ctx, nickname)


@command("nickname_remove")
def handle_nickname_remove(state: ServerState, ctx: Context, req: Request) -> Step:
    """Clear the caller's own nickname (what `/nick` with no name does)."""
    if me(state, ctx).nickname is None:
        raise ProtocolError(texts.NO_NICKNAME)
    return _set_own_nickname(state, ctx, None)


# ---- server settings --------------------------------------------------------------------------


def _check_server_field(key: str, label: str, value: str) -> str:
    if key == "name":
        value = value.strip()
        if not 1 <= len(value) <= SERVER_NAME_MAX:
            raise ProtocolError(texts.server_name_length(SERVER_NAME_MAX))
        return value
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(value) > URL_MAX:
        raise ProtocolError(texts.not_a_url(label, URL_MAX))
    return value


@command("server_update")
def handle_server_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_SERVER)
    fields = (("name", "Name"), ("icon", "Icon"), ("banner", "Banner"))
    sent: dict[str, str] = {}
    for key, label in fields:
        value = req.get(key)
        if value is not None and not isinstance(value, str):
            raise ProtocolError(texts.string_or_null(label))
    if not any(req.has(key) for key, _ in fields):
        raise ProtocolError(texts.NO_UPDATES)
    for key, label in fields:
        value = req.get(key)
        if isinstance(value, str):  # null leaves the value unchanged (as the original does)
            sent[key] = _check_server_field(key, label, value)
    info = dict(state.server_info)
    applied = {k: v for k, v in sent.items() if (info.get(k) or "") != v}
    info.update(applied)
    packet = packets.server_update(name=info.get("name") or "", icon=info.get("icon") or "",
                                   banner=info.get("banner") or "")
    effects: tuple[Effect, ...] = (Send(all_authed(state), packet, reply=True),)
    if not applied:
        return Step(state, effects)
    server = dict(state.settings.server)
    for k, v in applied.items():
        if v:
            server[k] = v
        else:
            server.pop(k, None)
    state = attrs.evolve(state, server_info=info, settings=attrs.evolve(state.settings, server=server))
    writes: list[SettingSaved | AuditRecorded] = [SettingSaved(f"server.{k}", v) for k, v in applied.items()]
    writes.append(audit(ctx, actor.id, "server_management", "server_update", details=applied))
    return Step(state, (Persist(tuple(writes), effects),))


# ---- plugins (there is no plugin system: an empty list, and reloading "all" succeeds) ---------


@command("plugins_list")
def handle_plugins_list(state: ServerState, ctx: Context, req: Request) -> Step:
    require_perm(state, me(state, ctx), "manage_server")
    return Step(state, (Reply(packets.plugins_list()),))


@command("plugins_reload")
def handle_plugins_reload(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_SERVER)
    plugin = opt_str(req, "plugin")
    if plugin:
        shown = plugin if len(plugin) <= MAX_NAME else plugin[:MAX_NAME] + "…"
        raise ProtocolError(texts.plugin_reload_failed(shown))
    entry = audit(ctx, actor.id, "server_management", "plugins_reload", details={"plugin": "all"})
    return Step(state, (Persist((entry,), (Reply(packets.plugins_reload()),)),))
