"""The step function: `handle(state, ctx, request) -> Step`, plus connect/disconnect.

Theory of operation
-------------------
The shell decodes one WebSocket text frame into a `Request` (a JSON object) and calls `handle`
synchronously, so reading and replacing the state cannot interleave with another connection (trio
switches tasks only at awaits). `handle` applies the pre-auth gate, looks the `cmd` up in the
command table, and turns a `ProtocolError`/`AuthError` raised by the handler into the documented
error packet. The returned `Step` carries the new state and the effects the shell runs in order.
An authenticated connection whose account was banned or deleted meanwhile is answered with a
`disconnect` packet and closed, whatever it sent.

The command table is built here, once, from `MODULES`: a new handler module is added to that
list (tests/test_effect_tables.py fails for a module under handlers/ with commands that is not).
"""

from __future__ import annotations

import attrs

from . import packets, registry, texts, voice_seats
from .context import Context
from .effects import Close, Persist, Reply, Send, Step
from .errors import AuthError, ProtocolError, auth_error_send, error_reply
from .handlers import (account, push, voice, attachments, auth, channels, emojis, history, member_roles, messages, moderation, modlog,
                       operator,
                       embeds_list, pins, polls, profiles, reactions, roles, search, server_admin, session, slash,
                       threads, unreads, users, webhooks)
from .handlers.webhook_posts import generic_post as webhook_generic_post  # noqa: F401  (server/webhooks_http.py)
from .handlers.webhook_posts import github_push as webhook_github_push  # noqa: F401
from .request import Request
from .state import Conn, ServerState
from .views import all_authed

#: Every module that defines commands (`@registry.command`), in one place.
MODULES = (account, attachments, auth, channels, history, member_roles, messages, moderation, modlog, operator, profiles,
           reactions, roles, server_admin, session, users, threads, polls, unreads, embeds_list, pins, search,
           emojis, slash, webhooks, push, voice)
COMMANDS = registry.build(MODULES)
HANDLERS = COMMANDS.handlers  # after authentication
AUTH_HANDLERS = COMMANDS.auth  # the pre-auth gate
OPERATOR_HANDLERS = COMMANDS.operator  # the admin socket and the offline admin path

HANDSHAKE_VERSION = "1.1.0"


def capabilities(state: ServerState) -> list[str]:
    names = set(HANDLERS)
    mode = state.settings.auth_mode
    if mode != "cracked-only":
        names.add("auth")
    if mode in ("cracked", "cracked-only"):
        names.update(("login", "register"))
    if state.settings.files.enabled:
        # not a WebSocket command (uploads are `POST /attachments/upload`), but the official client
        # uses that route only when the handshake lists it, as the original's does
        names.add("attachment_upload")
    return sorted(names)


def handshake_packet(state: ServerState, validator_key: str) -> dict:
    """The handshake for a socket given `validator_key`. All but the key depends on the settings
    only, so that part is built once per version of them (`_handshake_template`)."""
    return packets.handshake_for(_handshake_template(state), validator_key)


_last_template: tuple[object, dict] | None = None  # (settings, template): the settings of now, as a rule


def _handshake_template(state: ServerState) -> dict:
    global _last_template
    s = state.settings
    if _last_template is None or _last_template[0] is not s:
        from .model import PERMISSIONS

        _last_template = (s, packets.handshake(
            server=dict(s.server), limits=dict(s.limits), attachments=dict(s.attachments), version=HANDSHAKE_VERSION,
            validator_key=packets.SLOT, capabilities=capabilities(state), permissions=list(PERMISSIONS),
            auth_mode=s.auth_mode))
    return _last_template[1]


def connect(state: ServerState, ctx: Context, ip: str = "") -> Step:
    """A new WebSocket from `ip`: register it and greet it with the handshake."""
    key = "originChats-" + ctx.new_token[:32]  # 44 characters, as the original sends (192 random bits)
    state = state.with_conn(Conn(id=ctx.conn_id, validator_key=key, ip=ip))
    return Step(state, (Send((ctx.conn_id,), handshake_packet(state, key)),))


def disconnect(state: ServerState, ctx: Context) -> Step:
    """The socket is gone: forget it; take its slash commands out of everyone's menu; announce
    `user_disconnect` when it was the user's last."""
    conn = state.conns.get(ctx.conn_id)
    if conn is None:
        return Step(state)
    state, left = voice.left_on_close(state, ctx.conn_id, conn.username or "")  # its voice seat, if any
    state = state.without_conn(ctx.conn_id)
    if conn.user_id is None:
        return Step(state, left)
    state, menu = slash.dropped(state, ctx.conn_id)
    left = (*left, *menu)
    if state.conns.has_user(conn.user_id):
        return Step(state, left)
    user = state.users.get(conn.user_id)
    if conn.status == "invisible" or (user is not None and user.status == "invisible"):
        return Step(state, left)  # invisible users never appeared online, so they do not disappear
    return Step(state, (*left, Send(all_authed(state), packets.user_disconnect(conn.username))))


def handle(state: ServerState, ctx: Context, req: Request) -> Step:
    conn = state.conns.get(ctx.conn_id)
    if conn is None:  # closing; nothing to answer
        return Step(state)
    if not conn.authed:
        fn = AUTH_HANDLERS.get(req.cmd) if isinstance(req.cmd, str) else None
        if fn is None:
            # no `listener` echo before auth
            return Step(state, (auth_error_send(ctx.conn_id, texts.AUTHENTICATION_REQUIRED),))
        try:
            return fn(state, ctx, req)
        except AuthError as exc:
            return Step(state, (exc.answer(ctx.conn_id),))
    user = state.users.get(conn.user_id or "")
    if user is None or user.deleted or user.banned:
        reason = texts.BANNED_REASON if user is not None and user.banned else texts.ACCOUNT_REMOVED
        return Step(state, (Send((ctx.conn_id,), packets.disconnect(reason)),
                            Close((ctx.conn_id,), 1008, reason)))
    if req.cmd is None:
        return Step(state, (error_reply(texts.unknown_command(None), None),))
    fn = HANDLERS.get(req.cmd)
    if fn is None:
        return Step(state, (error_reply(texts.unknown_command(req.cmd), req.cmd),))
    return run_guarded(fn, state, ctx, req)


def run_guarded(fn, state: ServerState, ctx: Context, req: Request, *args) -> Step:  # type: ignore[no-untyped-def]
    """Call a handler or continuation, turning its `ProtocolError` into the error reply; then drop
    the voice seats its change of access ended (core/voice_seats.py)."""
    try:
        step = fn(state, ctx, req, *args)
    except ProtocolError as exc:
        return Step(state, (exc.answer(req.cmd),))
    except AuthError as exc:
        return Step(state, (exc.answer(ctx.conn_id),))
    return voice_seats.reconcile(state, step)  # seats the change of access ended


def operator(state: ServerState, ctx: Context, req: Request) -> Step:
    """An operator command from the admin socket (no connection, no user: the machine's owner)."""
    fn = OPERATOR_HANDLERS.get(req.cmd) if isinstance(req.cmd, str) else None
    if fn is None:
        return Step(state, (Reply(packets.operator_error(texts.unknown_admin_command(req.cmd))),))
    try:
        step = voice_seats.reconcile(state, fn(state, ctx, req))
    except ProtocolError as exc:
        return Step(state, (Reply(packets.operator_error(exc.val)),))
    # a failed commit answers in the operator's shape too
    failed = (Reply(packets.operator_error(texts.FAILED_TO_SAVE)),)
    return attrs.evolve(step, effects=tuple(
        attrs.evolve(e, failed=failed) if isinstance(e, Persist) and not e.failed else e for e in step.effects))
