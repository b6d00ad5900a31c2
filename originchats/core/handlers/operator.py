"""Operator commands: what `originchats admin …` does to a running server (through the admin
socket, or to the database of a stopped one): grant-owner — the safe way to make the first owner
(nobody becomes owner by registering first) —, ban, unban, list-users and reset-password.

The operator is the machine's owner: no permission or hierarchy applies, and audit entries have no
actor (`details.via = "operator"`). A ban closes the member's sockets at once, as `user_ban` does."""

from __future__ import annotations

from functools import partial

import attrs

from .. import authguard, packets, sessions, texts
from ..context import Context
from ..effects import Close, Fetch, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import CRACKED_PREFIX, User
from ..ops import BUSY, HashPassword
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..views import all_authed, color_of
from ..audit import audit
from ..writes import UserSaved
from .common import MAX_NAME, find_member
from .moderation import MAX_REASON, ban, unban


def operator_target(state: ServerState, req: Request) -> User:
    """`NAME` may be the stored username (`USR:local_bob`), a Rotur name, an id, or a bare local name."""
    name = req.get("user")
    if not isinstance(name, str) or not name.strip():
        raise ProtocolError(texts.OPERATOR_USER_REQUIRED)
    name = name.strip()
    user = find_member(state, name) or find_member(state, CRACKED_PREFIX + name.lower())
    if user is None:
        shown = name if len(name) <= MAX_NAME else name[:MAX_NAME] + "…"
        raise ProtocolError(texts.no_such_user(shown))
    return user


def roles_changed(state: ServerState, user: User) -> Send:
    """Tell everyone about a user's new role list (the shape `user_roles_set` broadcasts)."""
    return Send(all_authed(state), packets.user_roles_get(user.username, list(user.roles), color_of(state, user),
                                                          broadcast=True))


@command("grant-owner", operator=True)
def operator_grant_owner(state: ServerState, ctx: Context, req: Request) -> Step:
    user = operator_target(state, req)
    if "owner" in user.roles:
        return Step(state, (Reply(packets.operator_ok(f"{user.username} is already an owner")),))
    user = attrs.evolve(user, roles=("owner",) + tuple(r for r in user.roles if r != "owner"))
    state = state.with_user(user)
    entry = audit(ctx, None, "role_management", "owner_granted", target=user.id, details={"via": "operator"})
    return Step(state, (Persist((UserSaved(user), entry),
                                (roles_changed(state, user),
                                 Reply(packets.operator_ok(f"{user.username} is now an owner")))),))


@command("ban", operator=True)
def operator_ban(state: ServerState, ctx: Context, req: Request) -> Step:
    user = operator_target(state, req)
    reason = req.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ProtocolError(texts.OPERATOR_REASON_NOT_A_STRING)
    reason = reason.strip() if reason and reason.strip() else None
    if reason is not None and len(reason) > MAX_REASON:
        raise ProtocolError(texts.operator_reason_too_long(MAX_REASON))
    if user.banned:
        return Step(state, (Reply(packets.operator_ok(f"{user.username} is already banned")),))
    closed = len(state.conns_of(user.id))
    state, writes, closing = ban(state, ctx, None, user, reason, details={"via": "operator"})
    message = f"{user.username} is now banned"
    if closed:
        message += f"; closed {closed} open connection{'s' if closed != 1 else ''}"
    return Step(state, (Persist(writes, closing + (Reply(packets.operator_ok(message)),)),))


@command("unban", operator=True)
def operator_unban(state: ServerState, ctx: Context, req: Request) -> Step:
    user = operator_target(state, req)
    if not user.banned:
        return Step(state, (Reply(packets.operator_ok(f"{user.username} is not banned")),))
    state, writes = unban(state, ctx, None, user, details={"via": "operator"})
    return Step(state, (Persist(writes, (Reply(packets.operator_ok(f"{user.username} is no longer banned")),)),))


@command("list-users", operator=True)
def operator_list_users(state: ServerState, ctx: Context, req: Request) -> Step:
    """One line per account, in creation order: name, nickname, roles, and banned/deleted/online."""
    online = state.conns.online_user_ids()
    lines = []
    for u in state.users.values():
        flags = [f for f, on in (("banned", u.banned), ("deleted", u.deleted), ("online", u.id in online)) if on]
        roles = ",".join(r for r in u.roles if r != "banned") or "-"
        line = f"{u.username}  nickname={u.nickname or '-'}  roles={roles}"
        lines.append(line + ("  " + " ".join(flags) if flags else ""))
    live = sum(1 for u in state.users.values() if not u.deleted)
    message = f"{live} user{'s' if live != 1 else ''}"
    deleted = len(state.users) - live
    if deleted:
        message += f" ({deleted} deleted account{'s' if deleted != 1 else ''} kept)"
    return Step(state, (Reply(packets.operator_ok(message, lines)),))


@command("reset-password", operator=True)
def operator_reset_password(state: ServerState, ctx: Context, req: Request) -> Step:
    """`{"cmd":"reset-password","user":NAME,"password":NEW}` (the CLI reads NEW from a prompt or
    stdin, never from its arguments): a new argon2id hash; every session token of the account is
    revoked, its open sockets are closed, and its failed-login locks are lifted."""
    user = operator_target(state, req)
    password = req.get("password")
    if not isinstance(password, str) or not password:
        raise ProtocolError(texts.OPERATOR_PASSWORD_REQUIRED)
    if not 4 <= len(password) <= 72:
        raise ProtocolError(texts.OPERATOR_PASSWORD_LENGTH)
    if not user.cracked:
        raise ProtocolError(texts.rotur_has_no_password(user.username))
    return Step(state, (Fetch(HashPassword(password), partial(_password_reset, uid=user.id)),))


def _password_reset(state: ServerState, ctx: Context, req: Request, password_hash: object, *, uid: str) -> Step:
    # a continuation's ProtocolError would become a client `error` packet: answer in the operator shape
    if password_hash is BUSY:
        return Step(state, (Reply(packets.operator_error(texts.AUTH_BUSY)),))
    assert isinstance(password_hash, str)
    user = state.users.get(uid)
    if user is None or user.deleted:
        return Step(state, (Reply(packets.operator_error(texts.OPERATOR_ACCOUNT_DELETED)),))
    user = attrs.evolve(user, password_hash=password_hash)
    state, revoked = sessions.revoke_user(state.with_user(user), uid)
    state = attrs.evolve(state, auth=authguard.forget_account(state.auth, uid))
    conns = tuple(state.conns_of(uid))
    entry = audit(ctx, None, "user_moderation", "password_reset", target=uid, details={"via": "operator"})
    message = f"{user.username}: password reset, session tokens revoked"
    then: tuple = ()
    if conns:
        message += f"; closed {len(conns)} open connection{'s' if len(conns) != 1 else ''}"
        then = (Send(conns, packets.disconnect(texts.PASSWORD_RESET)), Close(conns, 1000, texts.PASSWORD_RESET))
    return Step(state, (Persist((UserSaved(user), *revoked, entry), then + (Reply(packets.operator_ok(message)),)),))
