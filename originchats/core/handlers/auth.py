"""Authentication: Rotur `auth`, cracked `register` / `login` (auth.md), and the success sequence.

Fixed relative to the original: password hashing and the Rotur HTTP call run off the trio thread
(`Fetch`), malformed packets and an unreachable Rotur get an `auth_error` instead of silence, a new
account gets its own role tuple (no shared list), usernames are ASCII-only, a deleted account's name
cannot be registered again, failed logins are limited per address and per account and address
(core/authguard.py), registrations per address, and a hash or Rotur check the shell has no room
for is refused at once (`ops.BUSY`).
"""

from __future__ import annotations

from functools import partial

import attrs

from ..context import Context
from ..effects import Fetch, Persist, Send, Step
from .. import authguard, names, packets, sessions, texts
from ..authguard import address_key
from ..budget import NAME_BYTES
from ..errors import AuthError, auth_error_send
from ..model import CRACKED_PREFIX, Message, User
from ..passwords import legacy_hash
from ..ops import BUSY, HashPassword, RoturValidate, VerifyPassword
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..views import all_authed, ready_user, user_brief
from ..welcome import welcome_message, welcome_send
from ..writes import MessageCreated, UserSaved

CRACKED_MODES = ("cracked", "cracked-only")
MAX_ROTUR_ID = 128  # characters of a Rotur account id


def _send_self(ctx: Context, packet: dict) -> Send:
    # auth packets never echo `listener`, so they are not `Reply`s
    return Send((ctx.conn_id,), packet)


def _refused(ctx: Context, val: str) -> Send:
    return auth_error_send(ctx.conn_id, val)


def login_success(state: ServerState, ctx: Context, user: User, *, new_user: bool, save: bool,
                  failure: str = texts.AUTHENTICATION_FAILED) -> Step:
    """Store the account (when new or changed) and, for a cracked account, a new session token;
    once that is committed, log the socket in (`_announce`). If the commit fails, nothing is kept
    and the socket gets `auth_error` `failure`.

    The socket counts as logged in only from the commit on, so nothing addressed to logged-in
    sockets (a `user_connect`, a message) can reach it before its own `auth_success`.

    An account created now for the first time is welcomed (core/welcome.py): the message is stored
    with the account and announced after `user_join`."""
    welcome = welcome_message(state, ctx, user) if new_user and user.id not in state.users else None
    state = state.with_user(user)
    writes: tuple = (UserSaved(user),) if save else ()
    if user.cracked:  # the validator is a session token for `login` with `token` (core/sessions.py)
        state, issued = sessions.issue(state, user.id, ctx.new_token, ctx.now)
        writes += issued
    if welcome is not None:
        writes += (MessageCreated(welcome),)
    announce = partial(_announce, user_id=user.id, new_user=new_user, welcome=welcome)
    if not writes:  # a Rotur login that changed nothing
        return announce(state, ctx)
    return Step(state, (Persist(writes, after=announce,
                                failed=(_refused(ctx, failure),)),))


def _announce(state: ServerState, ctx: Context, *, user_id: str, new_user: bool,
              welcome: Message | None = None) -> Step:
    """The socket is logged in: auth_success and ready to it, user_join and user_connect to all."""
    conn = state.conns.get(ctx.conn_id)
    user = state.users.get(user_id)
    if conn is None:  # the socket closed while the login was stored
        return Step(state)
    if user is None or user.deleted:
        return Step(state, (_refused(ctx, texts.USER_NOT_FOUND),))
    if user.banned:  # banned while the login was stored
        return Step(state, (_refused(ctx, texts.BANNED_AUTH),))
    first = not state.conns.has_user(user.id)
    changes: dict = {"user_id": user.id, "username": user.username, "status": user.status}
    if user.cracked:  # `logout` revokes the token this socket was given
        changes["session"] = sessions.token_hash(ctx.new_token)
    state = state.with_conn(attrs.evolve(conn, **changes))
    then: list = [
        _send_self(ctx, packets.auth_success()),
        _send_self(ctx, packets.ready(ready_user(user), ctx.new_token)),
    ]
    if new_user or first:
        everyone = all_authed(state)
        if new_user:
            then.append(Send(everyone, packets.user_join(user_brief(state, user))))
        if first and user.status != "invisible":
            then.append(Send(everyone, packets.user_connect(user_brief(state, user))))
    greeting = welcome_send(state, welcome) if welcome is not None else None
    if greeting is not None:
        then.append(greeting)
    return Step(state, tuple(then))


# ---- Rotur ------------------------------------------------------------------------------------


@command("auth", auth=True)
def handle_auth(state: ServerState, ctx: Context, req: Request) -> Step:
    if state.settings.auth_mode == "cracked-only":
        raise AuthError(texts.ROTUR_DISABLED)
    validator = req.get("validator")
    if not isinstance(validator, str) or not validator:
        raise AuthError(texts.INVALID_AUTHENTICATION)
    conn = state.conns[ctx.conn_id]
    op = RoturValidate(key=conn.validator_key, validator=validator, source=address_key(conn.ip))
    return Step(state, (Fetch(op, _auth_checked),))


def _auth_checked(state: ServerState, ctx: Context, req: Request, result: object) -> Step:
    if result is BUSY:
        raise AuthError(texts.AUTH_BUSY)
    if result == "error":
        raise AuthError(texts.ROTUR_UNAVAILABLE)
    if not isinstance(result, dict) or result.get("valid") is not True:
        raise AuthError(texts.INVALID_AUTHENTICATION)
    uid, name = result.get("id"), result.get("username")
    if not isinstance(uid, str) or not uid.strip() or not isinstance(name, str) or not name.strip():
        raise AuthError(texts.INVALID_AUTHENTICATION)
    if uid.casefold().startswith(CRACKED_PREFIX.casefold()) or name.casefold().startswith(CRACKED_PREFIX.casefold()):
        # a Rotur answer must never alias a local account, by id or by the name others see
        raise AuthError(texts.INVALID_AUTHENTICATION)
    if names.is_system_name(uid) or names.is_system_name(name):  # nor the server's own messages
        raise AuthError(texts.INVALID_AUTHENTICATION)
    if len(uid) > MAX_ROTUR_ID:
        raise AuthError(texts.INVALID_AUTHENTICATION)
    if len(name.encode("utf-8", "surrogatepass")) > NAME_BYTES:
        # every stored message counts each user name at NAME_BYTES (core/budget.py), which keeps
        # the largest history page under the outgoing cap: a longer name could push it past
        raise AuthError(texts.rotur_name_too_long(NAME_BYTES))
    user = state.users.get(uid)
    if user is not None and user.banned:
        raise AuthError(texts.BANNED_AUTH)
    new_user = user is None or user.deleted
    if new_user:
        # The original creates a fresh record when none exists (also after `user_leave`). A Rotur
        # id belongs to one Rotur account, so coming back after leaving is the same person.
        user = User(id=uid, username=name, roles=("user",), created_at=ctx.now)
    elif user.username != name:
        user = attrs.evolve(user, username=name)
    changed = new_user or state.users[uid] != user
    return login_success(state, ctx, user, new_user=new_user, save=changed)


# ---- cracked ----------------------------------------------------------------------------------


def _credentials(req: Request) -> tuple[str, str]:
    username, password = req.get("username"), req.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username.strip() or not password:
        raise AuthError(texts.CREDENTIALS_REQUIRED)
    return username.strip().lower(), password


@command("register", auth=True)
def handle_register(state: ServerState, ctx: Context, req: Request) -> Step:
    if state.settings.auth_mode not in CRACKED_MODES:
        raise AuthError(texts.AUTHENTICATION_REQUIRED)
    if not state.settings.allow_registration:
        raise AuthError(texts.REGISTRATION_DISABLED)
    name, password = _credentials(req)
    if not names.username_length_ok(name):
        raise AuthError(texts.USERNAME_LENGTH)
    if not 4 <= len(password) <= 72:
        raise AuthError(texts.PASSWORD_LENGTH)
    if not names.username_chars_ok(name):
        raise AuthError(texts.USERNAME_CHARACTERS)
    _check_free(state, name)
    addr = _address(state, ctx)
    _refuse(authguard.registration_refusal(state.auth, state.settings.auth, addr, ctx.now))
    return Step(state, (Fetch(HashPassword(password, source=addr), partial(_registered, name=name, addr=addr)),))


def _address(state: ServerState, ctx: Context) -> str:
    return address_key(state.conns[ctx.conn_id].ip)


def _refuse(refusal: str | None) -> None:
    if refusal is not None:
        raise AuthError(refusal)


def _check_free(state: ServerState, name: str) -> None:
    uid = CRACKED_PREFIX + name
    existing = state.users.get(uid)
    if existing is not None and not (existing.deleted and state.settings.allow_name_reuse):
        raise AuthError(texts.USERNAME_TAKEN)
    if uid.casefold() in state.names:
        raise AuthError(texts.USERNAME_TAKEN)


def _registered(state: ServerState, ctx: Context, req: Request, password_hash: object, *, name: str,
                addr: str) -> Step:
    if password_hash is BUSY:
        raise AuthError(texts.AUTH_BUSY)
    assert isinstance(password_hash, str)
    _check_free(state, name)  # someone may have taken it while the hash was computed
    # again: registrations sent at once from many connections all passed the first check
    _refuse(authguard.registration_refusal(state.auth, state.settings.auth, addr, ctx.now))
    state = attrs.evolve(state, auth=authguard.record_registration(state.auth, addr, ctx.now))
    uid = CRACKED_PREFIX + name
    user = User(id=uid, username=uid, nickname=name, password_hash=password_hash,
                roles=("user",), created_at=ctx.now)
    return login_success(state, ctx, user, new_user=True, save=True, failure=texts.REGISTRATION_FAILED)


@command("login", auth=True)
def handle_login(state: ServerState, ctx: Context, req: Request) -> Step:
    if state.settings.auth_mode not in CRACKED_MODES:
        raise AuthError(texts.AUTHENTICATION_REQUIRED)
    if req.get("token") is not None and req.get("password") is None:
        return _token_login(state, ctx, req)
    name, password = _credentials(req)
    addr = _address(state, ctx)
    cfg = state.settings.auth
    _refuse(authguard.address_refusal(state.auth, cfg, addr, ctx.now))
    user = state.find_user(CRACKED_PREFIX + name)
    if user is None or user.username.casefold() != (CRACKED_PREFIX + name).casefold():
        # counted against the address: probing which names exist is limited like guessing
        state = attrs.evolve(state, auth=authguard.record_failure(state.auth, cfg, None, addr, ctx.now))
        return Step(state, (_refused(ctx, texts.USER_NOT_FOUND),))
    if not user.cracked or user.password_hash is None:
        raise AuthError(texts.ROTUR_ACCOUNT)
    _refuse(authguard.account_refusal(state.auth, cfg, user.id, addr, ctx.now))
    op = VerifyPassword(user.password_hash, password, source=addr)
    return Step(state, (Fetch(op, partial(_login_checked, uid=user.id, addr=addr)),))


def _token_login(state: ServerState, ctx: Context, req: Request) -> Step:
    """`{"cmd":"login","username":…,"token":<an earlier ready.validator>}`: no argon2; the token is
    single-use (revoked here, the new `ready` carries the next one)."""
    username, token = req.get("username"), req.get("token")
    if not isinstance(username, str) or not username.strip() or not isinstance(token, str) or not token:
        raise AuthError(texts.TOKEN_REQUIRED)
    name = username.strip().lower()
    user = state.find_user(CRACKED_PREFIX + name)
    if user is None or user.username.casefold() != (CRACKED_PREFIX + name).casefold():
        raise AuthError(texts.USER_NOT_FOUND)
    if sessions.find(state, token, ctx.now) != user.id:
        raise AuthError(texts.INVALID_TOKEN)
    if user.banned:
        raise AuthError(texts.BANNED_AUTH)
    state, revoked = sessions.revoke(state, token)
    step = login_success(state, ctx, user, new_user=False, save=False)
    (persist,) = step.effects  # a cracked login always records its new token
    assert isinstance(persist, Persist)
    return Step(step.state, (attrs.evolve(persist, writes=revoked + persist.writes),))


def check_password_result(state: ServerState, ctx: Context, ok: object, *, uid: str, addr: str) -> tuple[ServerState, bool]:
    """After a (slow) password check for `uid` from `addr`: raise the refusal to send, or return
    the state with the outcome counted and whether the password was right."""
    if ok is BUSY:
        raise AuthError(texts.AUTH_BUSY)
    cfg = state.settings.auth
    # Again after the check: guesses sent in parallel from many connections all passed the first
    # check; once the address is locked, none of them may log in, even a right one.
    _refuse(authguard.address_refusal(state.auth, cfg, addr, ctx.now)
            or authguard.account_refusal(state.auth, cfg, uid, addr, ctx.now))
    if not ok:
        return attrs.evolve(state, auth=authguard.record_failure(state.auth, cfg, uid, addr, ctx.now)), False
    records = authguard.record_success(state.auth, uid, addr)
    return (state if records is state.auth else state.replaced("auth", records)), True


def _login_checked(state: ServerState, ctx: Context, req: Request, ok: object, *, uid: str, addr: str) -> Step:
    user = state.users.get(uid)
    if user is None or user.deleted:
        raise AuthError(texts.USER_NOT_FOUND)
    state, right = check_password_result(state, ctx, ok, uid=uid, addr=addr)
    if not right:
        return Step(state, (_refused(ctx, texts.INVALID_PASSWORD),))
    if user.banned:
        raise AuthError(texts.BANNED_AUTH)
    if legacy_hash(user.password_hash):  # imported from the original (docs/import.md): argon2id from now on
        op = HashPassword(_credentials(req)[1], source=addr)
        return Step(state, (Fetch(op, partial(_rehashed, uid=uid, old_hash=user.password_hash)),))
    return login_success(state, ctx, user, new_user=False, save=False)


def _rehashed(state: ServerState, ctx: Context, req: Request, new_hash: object, *, uid: str, old_hash: str) -> Step:
    """The right password of an imported account, hashed again with argon2id: the new hash is
    stored with the login. With no room to hash now (`BUSY`), or a hash changed meanwhile, the
    login goes on and keeps what is stored (the next login tries again)."""
    user = state.users.get(uid)
    if user is None or user.deleted:
        raise AuthError(texts.USER_NOT_FOUND)
    if user.banned:
        raise AuthError(texts.BANNED_AUTH)
    if not isinstance(new_hash, str) or user.password_hash != old_hash:
        return login_success(state, ctx, user, new_user=False, save=False)
    return login_success(state, ctx, attrs.evolve(user, password_hash=new_hash), new_user=False, save=True)
