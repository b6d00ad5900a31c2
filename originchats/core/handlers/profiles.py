"""Names: user_update (an admin renames a member or sets their nickname), nickname_update and
nickname_remove (core.md §5, extended/misc.md). Renames are checked for format and uniqueness
(core/names.py) and keep local accounts able to log in; the rank rule is moderation's."""

from __future__ import annotations


import attrs

from .. import names, packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Effect, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import CRACKED_PREFIX, Perm, User
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..views import all_authed, others
from ..writes import UserSaved
from .moderation import require_outranks
from .common import me, rate_check, require_perm, target_user

NICK_MAX = 20  # characters of a nickname


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
    if names.is_system_name(stored):  # the server's own messages' author (names.SYSTEM_AUTHOR)
        raise ProtocolError(texts.USERNAME_TAKEN)
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

