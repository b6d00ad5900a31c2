"""Member moderation and server administration: user_ban, user_unban, users_banned_list,
user_timeout, user_leave (self-deletion, or a kick), user_delete, user_update, nickname_update,
nickname_remove, server_update, rate_limit_reset, plugins_list, plugins_reload (core.md §2, §5, §7,
§8; extended/misc.md).

Permission model (docs/compatibility.md "Moderation"): the member commands follow the documented
permission `manage_users` (the original demanded the literal role `owner` for ban, unban, timeout
and the ban list), plugins follow `manage_server`, and `user_delete` stays owner-only as
documented. On top of that nobody acts on a member whose rank is at or above their own
(`HIER_USERS`, ranks as in roles.py); owners pass, as in the role hierarchy of objects.md §5.1.

Fixed relative to the original: a banned, kicked or deleted member's sockets get
`{"cmd":"disconnect","reason":…}` and are closed at once; a deleted account keeps its row (its name
and id cannot be reclaimed); unknown users are refused with `User not found`; renames are checked
for format and uniqueness and keep cracked accounts able to log in; timeouts can be lifted with 0,
reach every socket of the target and survive a restart; nothing is audit-logged when nothing changed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

from .. import ratelimit, sessions
from ..audit import audit
from ..context import Context
from ..effects import Close, Effect, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import CRACKED_PREFIX, User
from ..permissions import is_owner
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..views import all_authed, others
from ..writes import AuditRecorded, SettingSaved, TimeoutSaved, UserSaved
from .common import me, rate_check, require_owner, require_perm
from .roles import USER_AT_OR_ABOVE, user_rank

#: longest user name or id looked up; anything longer names nobody
MAX_NAME = 128
MAX_REASON = 500
MAX_TIMEOUT = 365 * 86400
NICK_MAX = 20
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{2,32}$")
SERVER_NAME_MAX = 100
URL_MAX = 2048

HIER_USERS = USER_AT_OR_ABOVE  # "Cannot manage users at or above your position"
BANNED_REASON = "You have been banned"
KICKED_REASON = "You have been kicked"
DELETED_REASON = "Account removed"


# ---- shared checks and effects ----------------------------------------------------------------


def target_user(state: ServerState, req: Request, key: str = "user") -> User:
    """The member named by `req[key]` (username, case-insensitive, or id); deleted ones are unknown."""
    name = opt_str(req, key)
    if name is None or not name.strip():
        raise ProtocolError("User parameter is required")
    name = name.strip()
    user = state.find_user(name) if len(name) <= MAX_NAME else None
    if user is None:
        raise ProtocolError("User not found")
    return user


def opt_reason(req: Request) -> str | None:
    reason = opt_str(req, "reason")
    if reason is None or not reason.strip():
        return None
    if len(reason) > MAX_REASON:
        raise ProtocolError(f"Reason must be at most {MAX_REASON} characters")
    return reason.strip()


def outranks(state: ServerState, actor: User, target: User) -> bool:
    """May `actor` moderate `target`: owners always, others only members ranked strictly below
    (ranks as in roles.py, where `owner` outranks every position). The target's `banned` mark is
    the state being managed here, not a rank, so it is left out."""
    if is_owner(actor):
        return True
    plain = attrs.evolve(target, roles=tuple(r for r in target.roles if r != "banned"))
    return user_rank(state, actor) < user_rank(state, plain)


def require_outranks(state: ServerState, actor: User, target: User) -> None:
    if not outranks(state, actor, target):
        raise ProtocolError(HIER_USERS)


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
    return (Send(conns, {"cmd": "disconnect", "reason": reason}), Close(conns, code, reason))


def ban(state: ServerState, ctx: Context, actor_id: str | None, target: User, reason: str | None,
        details: dict | None = None) -> tuple[ServerState, tuple, tuple[Effect, ...]]:
    """(state, writes, effects) of banning `target`: role `banned` first, sockets closed."""
    user = attrs.evolve(target, roles=("banned",) + tuple(r for r in target.roles if r != "banned"))
    state, revoked = sessions.revoke_user(state.with_user(user), user.id)  # no reconnect after an unban either
    entry = audit(ctx, actor_id, "user_moderation", "user_ban", target=user.id, reason=reason, details=details or {})
    return state, (UserSaved(user), *revoked, entry), disconnect(state, user.id, BANNED_REASON)


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
    require_perm(state, actor, "manage_users")
    target = target_user(state, req)
    reason = opt_reason(req)
    if target.id == actor.id:
        raise ProtocolError("You cannot ban yourself")
    require_outranks(state, actor, target)
    if target.banned:
        return Step(state, (Reply({"cmd": "user_ban", "user": target.username, "banned": False}),))
    state, writes, closing = ban(state, ctx, actor.id, target, reason)
    reply = Reply({"cmd": "user_ban", "user": target.username, "banned": True})
    return Step(state, (Persist(writes, (reply,) + closing),))


@command("user_unban")
def handle_user_unban(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, "manage_users")
    target = target_user(state, req)
    require_outranks(state, actor, target)
    if not target.banned:
        return Step(state, (Reply({"cmd": "user_unban", "user": target.username, "unbanned": False}),))
    state, writes = unban(state, ctx, actor.id, target)
    return Step(state, (Persist(writes, (Reply({"cmd": "user_unban", "user": target.username, "unbanned": True}),)),))


@command("users_banned_list")
def handle_users_banned_list(state: ServerState, ctx: Context, req: Request) -> Step:
    require_perm(state, me(state, ctx), "manage_users")
    names = [u.username for u in state.users.values() if u.banned and not u.deleted]
    return Step(state, (Reply({"cmd": "users_banned_list", "users": names}),))


# ---- timeouts and the limiter -----------------------------------------------------------------


@command("user_timeout")
def handle_user_timeout(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, "manage_users")
    seconds = req.get("timeout")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ProtocolError("Timeout must be a positive integer")
    if seconds > MAX_TIMEOUT:
        raise ProtocolError(f"Timeout must be at most {MAX_TIMEOUT} seconds")
    target = target_user(state, req)
    if not state.settings.rate_limit.enabled:
        raise ProtocolError("Rate limiter not available or disabled")
    if target.id == actor.id:
        raise ProtocolError("You cannot time out yourself")
    require_outranks(state, actor, target)
    reply = Reply({"cmd": "user_timeout", "user": req.get("user"), "timeout": seconds})
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
        push = {"cmd": "rate_limit", "reason": "User timeout set", "length": seconds * 1000}
        pushed = (Send(tuple(state.conns_of(target.id)), push),)
    state = attrs.evolve(state, rate_limits=state.rate_limits.set(target.id, bucket))
    entry = audit(ctx, actor.id, "user_moderation", "user_timeout", target=target.id, details={"timeout": seconds})
    return Step(state, (Persist((TimeoutSaved(target.id, until), entry), pushed + (reply,)),))


@command("rate_limit_reset")
def handle_rate_limit_reset(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, "manage_server")
    name = opt_str(req, "user")
    if name is None or not name.strip():
        raise ProtocolError("User parameter is required")
    if not state.settings.rate_limit.enabled:
        raise ProtocolError("Rate limiter not available or disabled")
    target = target_user(state, req)
    reply = Reply({"cmd": "rate_limit_reset", "user": target.username,
                   "val": f"Rate limit reset for user {target.username}"})
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
        raise ProtocolError("Cannot delete the last owner")
    state, writes = delete_account(state, actor)
    # the original logs no self-deletions (moderation_log.md): they drowned out moderation
    then = (Send(all_authed(state), {"cmd": "user_leave", "username": actor.username}),
            Reply({"cmd": "user_leave", "user": actor.username, "val": "User left server"}),
            *disconnect(state, actor.id, DELETED_REASON, code=1000))
    return Step(state, (Persist(writes, then),))


def _kick(state: ServerState, ctx: Context, req: Request, actor: User, target: User) -> Step:
    require_perm(state, actor, "manage_users")
    reason = opt_reason(req)
    require_outranks(state, actor, target)
    closing = disconnect(state, target.id, KICKED_REASON)
    if not closing:
        raise ProtocolError("User is not connected")
    entry = audit(ctx, actor.id, "user_moderation", "user_kick", target=target.id, reason=reason, details={})
    reply = Reply({"cmd": "user_leave", "user": target.username, "val": "User kicked"})
    return Step(state, (Persist((entry,), (reply,) + closing),))


@command("user_delete")
def handle_user_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_owner(actor)
    target = target_user(state, req)
    if last_owner(state, target):
        raise ProtocolError("Cannot delete the last owner")
    state, writes = delete_account(state, target)
    entry = audit(ctx, actor.id, "user_moderation", "user_delete", target=target.id, reason=opt_reason(req),
                  details={})
    then = (Send(all_authed(state), {"cmd": "user_leave", "username": target.username}),
            Reply({"cmd": "user_delete", "user": target.username, "deleted": True}),
            *disconnect(state, target.id, DELETED_REASON))
    return Step(state, (Persist((*writes, entry), then),))


# ---- names ------------------------------------------------------------------------------------


def _new_username(state: ServerState, target: User, value: str) -> str:
    """The stored form of a rename: `USR:local_<name>` for local accounts (so they can still log
    in with the new name), the name itself for Rotur accounts; unique among all accounts, deleted
    ones included (their names stay reserved)."""
    name = value.strip()
    if name.casefold().startswith(CRACKED_PREFIX.casefold()):
        if not target.cracked:
            raise ProtocolError("Username can only contain letters, numbers, hyphens, and underscores")
        name = name[len(CRACKED_PREFIX):]
    if not 2 <= len(name) <= 32:
        raise ProtocolError("Username must be 2-32 characters")
    if not NAME_RE.match(name):
        raise ProtocolError("Username can only contain letters, numbers, hyphens, and underscores")
    stored = CRACKED_PREFIX + name.lower() if target.cracked else name
    key = stored.casefold()
    for u in state.users.values():
        if u.id != target.id and (u.username.casefold() == key or u.id.casefold() == key):
            raise ProtocolError("Username already taken")
    return stored


def _clean_nickname(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > NICK_MAX:
        raise ProtocolError(f"Nickname too long (max {NICK_MAX} characters)")
    return value


def nickname_event(user: User) -> dict:
    if user.nickname is None:
        return {"cmd": "nickname_remove", "user": user.id, "username": user.username}
    return {"cmd": "nickname_update", "user": user.id, "username": user.username, "nickname": user.nickname}


def _renamed(state: ServerState, user: User) -> ServerState:
    state = state.with_user(user)
    for cid in state.conns_of(user.id):
        state = state.with_conn(attrs.evolve(state.conns[cid], username=user.username))
    return state


@command("user_update")
def handle_user_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, "manage_users")
    target = target_user(state, req)
    if target.id != actor.id:
        require_outranks(state, actor, target)
    updates = req.get("updates")
    if not isinstance(updates, dict) or not updates:
        raise ProtocolError("Updates must be an object")
    for field in updates:
        if field not in ("username", "nickname"):
            raise ProtocolError(f"Cannot update field: {field}")
    username, nickname = target.username, target.nickname
    if "username" in updates:
        value = updates["username"]
        if not isinstance(value, str) or not value.strip():
            raise ProtocolError("Username must be a non-empty string")
        username = _new_username(state, target, value)
    if "nickname" in updates:
        value = updates["nickname"]
        if value is not None and not isinstance(value, str):
            raise ProtocolError("Nickname must be a string or null")
        nickname = _clean_nickname(value)
    reply = Reply({"cmd": "user_update", "user": username, "nickname": nickname})
    if (username, nickname) == (target.username, target.nickname):
        return Step(state, (reply,))
    user = attrs.evolve(target, username=username, nickname=nickname)
    state = _renamed(state, user)
    applied = {k: v for k, v in (("username", username), ("nickname", nickname)) if k in updates}
    entry = audit(ctx, actor.id, "user_moderation", "user_update", target=user.id, details=applied)
    everyone = all_authed(state)
    then: list[Effect] = [Send(everyone, {"cmd": "user_updated", "user_id": user.id, "username": username,
                                          "nickname": nickname})]
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
    effects = (Send(others(state, ctx.conn_id), event), Reply(event))
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
        raise ProtocolError("Nickname must be a string or null")
    nickname = _clean_nickname(value)
    if nickname is None:
        raise ProtocolError("Nickname is required")
    return _set_own_nickname(state, ctx, nickname)


@command("nickname_remove")
def handle_nickname_remove(state: ServerState, ctx: Context, req: Request) -> Step:
    """Clear the caller's own nickname (what `/nick` with no name does)."""
    if me(state, ctx).nickname is None:
        raise ProtocolError("You don't have a nickname set")
    return _set_own_nickname(state, ctx, None)


# ---- server settings --------------------------------------------------------------------------


def _check_server_field(key: str, label: str, value: str) -> str:
    if key == "name":
        value = value.strip()
        if not 1 <= len(value) <= SERVER_NAME_MAX:
            raise ProtocolError(f"Name must be 1-{SERVER_NAME_MAX} characters")
        return value
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(value) > URL_MAX:
        raise ProtocolError(f"{label} must be an http(s) URL of at most {URL_MAX} characters")
    return value


@command("server_update")
def handle_server_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, "manage_server")
    fields = (("name", "Name"), ("icon", "Icon"), ("banner", "Banner"))
    sent: dict[str, str] = {}
    for key, label in fields:
        value = req.get(key)
        if value is not None and not isinstance(value, str):
            raise ProtocolError(f"{label} must be a string or null")
    if not any(req.has(key) for key, _ in fields):
        raise ProtocolError("No updates provided")
    for key, label in fields:
        value = req.get(key)
        if isinstance(value, str):  # null leaves the value unchanged (as the original does)
            sent[key] = _check_server_field(key, label, value)
    info = dict(state.server_info)
    applied = {k: v for k, v in sent.items() if (info.get(k) or "") != v}
    info.update(applied)
    packet = {"cmd": "server_update", "name": info.get("name") or "", "icon": info.get("icon") or "",
              "banner": info.get("banner") or ""}
    effects: tuple[Effect, ...] = (Send(all_authed(state), packet), Reply(packet))
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
    return Step(state, (Reply({"cmd": "plugins_list", "plugins": {}}),))


@command("plugins_reload")
def handle_plugins_reload(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, "manage_server")
    plugin = opt_str(req, "plugin")
    if plugin:
        shown = plugin if len(plugin) <= MAX_NAME else plugin[:MAX_NAME] + "…"
        raise ProtocolError(f"Failed to reload plugin '{shown}'")
    entry = audit(ctx, actor.id, "server_management", "plugins_reload", details={"plugin": "all"})
    return Step(state, (Persist((entry,), (Reply({"cmd": "plugins_reload", "val": "All plugins reloaded successfully"}),)),))
