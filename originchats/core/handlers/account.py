"""The account's own life cycle (protocol additions, docs/compatibility.md "Account lifecycle"):
`logout` ends this session, `password_change` replaces a local account's password.

`logout` revokes the session token this socket was given in `ready.validator` and closes the
socket: a client that logs out starts again from the handshake, with no half-authenticated socket.
`password_change` needs the old password (argon2id, and the same failure limits as `login`), stores
an argon2id hash of the new one, revokes every other session token of the account and closes the
account's other sockets; the socket that changed it stays signed in and its token stays valid.
"""

from __future__ import annotations

from functools import partial

import attrs

from .. import authguard, packets, sessions, texts
from ..context import Context
from ..effects import Close, Fetch, Persist, Reply, Send, Step
from ..errors import AuthError, ProtocolError, error_reply
from ..ops import BUSY, HashPassword, VerifyPassword
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..writes import UserSaved
from .auth import check_password_result
from .common import me

@command("logout")
def handle_logout(state: ServerState, ctx: Context, req: Request) -> Step:
    conn = state.conns[ctx.conn_id]
    writes: tuple = ()
    if conn.session is not None:
        state, writes = sessions.revoke_hash(state, conn.session)
    then = (Reply(packets.logout(texts.LOGGED_OUT)), Close((ctx.conn_id,), 1000, texts.LOGGED_OUT))
    return Step(state, (Persist(writes, then),) if writes else then)


@command("password_change")
def handle_password_change(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    old, new = req.get("old_password"), req.get("new_password")
    if not isinstance(old, str) or not old or not isinstance(new, str) or not new:
        raise ProtocolError(texts.PASSWORDS_REQUIRED)
    if not user.cracked or user.password_hash is None:
        raise ProtocolError(texts.ROTUR_ACCOUNT)
    if not 4 <= len(new) <= 72:
        raise ProtocolError(texts.PASSWORD_LENGTH)
    addr = authguard.address_key(state.conns[ctx.conn_id].ip)
    cfg = state.settings.auth
    refusal = (authguard.address_refusal(state.auth, cfg, addr, ctx.now)
               or authguard.account_refusal(state.auth, cfg, user.id, addr, ctx.now))
    if refusal is not None:
        raise ProtocolError(refusal)
    op = VerifyPassword(user.password_hash, old, source=addr)
    return Step(state, (Fetch(op, partial(_old_checked, uid=user.id, addr=addr, verified=user.password_hash,
                                          new=new)),))


def _current(state: ServerState, uid: str, verified: str) -> None:
    user = state.users.get(uid)
    if user is None or user.deleted or user.password_hash != verified:
        raise ProtocolError(texts.PASSWORD_CHANGED_MEANWHILE)


def _old_checked(state: ServerState, ctx: Context, req: Request, ok: object, *, uid: str, addr: str,
                 verified: str, new: str) -> Step:
    _current(state, uid, verified)
    try:
        state, right = check_password_result(state, ctx, ok, uid=uid, addr=addr)
    except AuthError as exc:  # an authenticated socket gets `error` packets, not `auth_error`
        raise ProtocolError(exc.val) from None
    if not right:
        return Step(state, (error_reply(texts.INVALID_PASSWORD, req.cmd),))
    return Step(state, (Fetch(HashPassword(new, source=addr), partial(_new_hashed, uid=uid, verified=verified)),))


def _new_hashed(state: ServerState, ctx: Context, req: Request, password_hash: object, *, uid: str,
                verified: str) -> Step:
    if password_hash is BUSY:
        raise ProtocolError(texts.AUTH_BUSY)
    assert isinstance(password_hash, str)
    _current(state, uid, verified)
    user = attrs.evolve(state.users[uid], password_hash=password_hash)
    state = state.with_user(user)
    conn = state.conns.get(ctx.conn_id)
    state, revoked = sessions.revoke_others(state, uid, conn.session if conn is not None else None)
    others = tuple(c for c in state.conns_of(uid) if c != ctx.conn_id)
    then: tuple = (Reply(packets.password_change()),)
    if others:
        then = (Send(others, packets.disconnect(texts.PASSWORD_CHANGED)),
                Close(others, 1000, texts.PASSWORD_CHANGED)) + then
    return Step(state, (Persist((UserSaved(user), *revoked), then),))
