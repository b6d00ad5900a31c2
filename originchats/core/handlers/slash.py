"""Slash commands and bots (extended/slash.md): slash_register, slash_list, slash_call and
slash_response, with the slash_add / slash_remove pushes the official client keeps its `/` menu
by. The built-ins are in handlers/slash_builtins.py, the registry and the checks in core/slash.py.

Fixed relative to the original (docs/compatibility.md "Slash commands and bots"):
* a call names an existing text channel the caller may view and send in, and takes a slot of the
  caller's rate limit (a timed-out member cannot call); `use_slash_commands` is required;
* a call may carry `thread_id` instead (an addition; the official client sends only `channel`): it
  is checked as a `message_new` in that thread is, and the answer (a built-in's, or the bot's
  `slash_response`) is posted in the thread; the bot gets `thread_id` in its `slash_call`;
* a bot's arguments are checked against its option types and choices;
* `slash_response` answers a real call: the bot that owns the command, in the channel of the call,
  within `[slash] response_seconds`, once; the invoker shown is the one who called, not one the
  bot names; the bot needs `view` and `send` there and a slot of its rate limit;
* several sessions of one user may each register commands; a call reaches the connection that
  registered the command; registering again removes the dropped names from everyone's menu;
* a definition is checked whole before any of it is kept.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs

from .. import packets, slash, texts
from ..budget import check_message
from ..context import Context
from ..effects import Effect, Reply, Send, Step
from ..commands import checked_embeds, has_embeds
from ..errors import ProtocolError
from ..model import Action, Channel, Message, Perm, User
from ..permissions import channel_allows, has_perm
from ..registry import command
from ..request import Request, opt_str
from ..slash_records import Pending, Registration, SlashState
from ..state import ServerState
from ..targets import Target, find_thread, resolve_target
from ..views import all_authed
from .common import me, rate_check, require_roles
from .message_rules import limited, mentions
from .messages import _post, may_post
from .slash_builtins import BUILTINS, run_builtin


def menu_pushes(state: ServerState, before: SlashState) -> tuple[Effect, ...]:
    """`slash_remove` / `slash_add` to every logged-in socket for what changed in the menu."""
    removed, added = slash.menu_changes(before, state.slash)
    everyone = all_authed(state)
    out: list[Effect] = []
    if removed:
        out.append(Send(everyone, packets.slash_remove(removed)))
    if added:
        out.append(Send(everyone, packets.slash_add(added)))
    return tuple(out)


def with_slash(state: ServerState, value: SlashState) -> ServerState:
    return state if value is state.slash else state.replaced("slash", value)


def dropped(state: ServerState, conn_id: int) -> tuple[ServerState, tuple[Effect, ...]]:
    """The connection closed (core/dispatch.py): its commands leave everyone's menu (a name
    another bot still has comes back with that bot's definition)."""
    if state.slash.of_conn(conn_id) is None:
        return state, ()
    before = state.slash
    state = with_slash(state, before.replaced(conn_id, None))
    return state, menu_pushes(state, before)


# ---- slash_register, slash_list ---------------------------------------------------------------


@command("slash_register")
def handle_slash_register(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_roles(user)
    defs = slash.definitions(req.get("commands"), state.settings.slash, user.username)
    state, refusal = rate_check(state, ctx, user, broadcast=True)  # each one is pushed to every socket
    if refusal is not None:
        return Step(state, (refusal,))
    before = state.slash
    state = with_slash(state, before.replaced(ctx.conn_id, Registration(ctx.conn_id, user.id, defs)))
    return Step(state, (*menu_pushes(state, before), Reply(packets.slash_register(len(defs)))))


@command("slash_list")
def handle_slash_list(state: ServerState, ctx: Context, req: Request) -> Step:
    require_roles(me(state, ctx))
    listed = [BUILTINS[name].definition for name in slash.BUILTIN_NAMES]
    listed += [d for _, d in state.slash.effective().values()]
    return Step(state, (Reply(packets.slash_list(listed)),))


# ---- slash_call -------------------------------------------------------------------------------


def postable(state: ServerState, name: str, user: User) -> Channel:
    """A text channel `user` may view (else it is not found, as for message_new) and send in."""
    ch = state.channel(name)
    if ch is None or not channel_allows(ch, Action.VIEW, user.roles):
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    if not channel_allows(ch, Action.SEND, user.roles):
        raise ProtocolError(texts.SEND_DENIED)
    if ch.type != "text":
        raise ProtocolError(texts.CHANNEL_TYPE_CANNOT_SEND)
    return ch


def _place(state: ServerState, channel: str | None, thread_id: str | None, user: User) -> Target:
    """Where a call's answer goes: a thread (checked as `message_new` checks a post there), else a
    channel (`postable`)."""
    if thread_id:
        target = resolve_target(state, None, thread_id)
        may_post(target, user)
        return target
    return Target(postable(state, channel or "", user))


@command("slash_call")
def handle_slash_call(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_roles(user)
    channel, thread_id = opt_str(req, "channel"), opt_str(req, "thread_id")
    if not channel and not thread_id:
        raise ProtocolError(texts.SLASH_CHANNEL_REQUIRED)
    args = req.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ProtocolError(texts.SLASH_ARGS_NOT_AN_OBJECT, nosrc=True)
    name = req.get("command")
    if not isinstance(name, str):
        raise ProtocolError(texts.SLASH_COMMAND_NOT_A_STRING)
    if not has_perm(state.roles, user, Perm.USE_SLASH_COMMANDS):
        raise ProtocolError(texts.SLASH_PERMISSION_DENIED)
    target = _place(state, channel, thread_id, user)
    return limited(state, ctx, req, user, partial(_call_allowed, ctx=ctx, req=req, user=user, target=target,
                                                 name=name, args=args))


def _call_allowed(state: ServerState, *, ctx: Context, req: Request, user: User, target: Target, name: str,
                  args: dict[str, Any]) -> Step:
    builtin = BUILTINS.get(name)
    if builtin is not None:
        return run_builtin(state, ctx, user, target, builtin, args)
    found = state.slash.effective().get(name)
    if found is None:
        raise ProtocolError(texts.unknown_slash_command(name))
    reg, d = found
    slash.roles_allow(d, user.roles)
    cfg = state.settings.slash
    values = slash.checked_args(d, args, state.settings.post_content)
    live = state.slash.live(ctx.now)
    waiting = sum(1 for p in live.pending if p.conn_id == reg.conn_id and p.command == name)
    if waiting >= cfg.pending_per_command:
        raise ProtocolError(texts.too_many_pending_calls(name))
    ch = target.channel
    call = Pending(owner_id=reg.user_id, conn_id=reg.conn_id, command=name, channel=ch.name, invoker_id=user.id,
                   deadline=ctx.now + cfg.response_seconds, thread_id=target.thread_id)
    state = with_slash(state, attrs.evolve(live, pending=live.pending + (call,)))
    packet = packets.slash_call(command=name, args=values, commander=d["registeredBy"], invoker=user.id,
                                invoker_username=user.username, channel=ch.name, thread_id=target.thread_id)
    if reg.conn_id == ctx.conn_id:  # a bot calling itself gets the call once (the original sent it twice)
        return Step(state, (Reply(packet),))
    return Step(state, (Send((reg.conn_id,), packet), Reply(packet)))


# ---- slash_response ---------------------------------------------------------------------------


@command("slash_response")
def handle_slash_response(state: ServerState, ctx: Context, req: Request) -> Step:
    bot = me(state, ctx)
    require_roles(bot, nosrc=True)
    channel, thread_id = opt_str(req, "channel"), opt_str(req, "thread_id")
    if not channel and not thread_id:
        raise ProtocolError(texts.SLASH_CHANNEL_REQUIRED, nosrc=True)
    response = req.get("response")
    if (response is None or response == "") and not has_embeds(req):
        raise ProtocolError(texts.SLASH_RESPONSE_EMPTY, nosrc=True)
    if response is not None and not isinstance(response, str):
        raise ProtocolError(texts.SLASH_RESPONSE_NOT_A_STRING, nosrc=True)
    content = (response or "").strip()
    settings = state.settings
    embeds = checked_embeds(req, settings.content) or None
    if not content and not embeds:
        raise ProtocolError(texts.SLASH_RESPONSE_EMPTY, nosrc=True)
    name = req.get("command")
    if name is not None and (not isinstance(name, str) or not name):
        raise ProtocolError(texts.SLASH_RESPONSE_COMMAND_REQUIRED, nosrc=True)
    if len(content) > settings.post_content:
        raise ProtocolError(texts.message_too_long(settings.post_content))
    check_message(Message(id=ctx.new_id, channel_id="", user_id="", content=content, timestamp=ctx.now,
                          embeds=embeds), settings.content)
    invoker = req.get("invoker")
    where = (channel or None, thread_id or None)
    return limited(state, ctx, req, bot, partial(_response_allowed, ctx=ctx, bot=bot, where=where, name=name,
                                                content=content, embeds=embeds, invoker=invoker))


def _at(call: Pending, where: tuple[str | None, str | None]) -> bool:
    """Was `call` made where a response names (`channel` and/or `thread_id`)? A response naming only
    the channel answers a call made in one of its threads too (chats.py echoes `channel` only)."""
    channel, thread_id = where
    return (channel is None or call.channel == channel) and (thread_id is None or call.thread_id == thread_id)


def _response_allowed(state: ServerState, *, ctx: Context, bot: User, where: tuple[str | None, str | None],
                      name: str | None, content: str, embeds: Any, invoker: Any) -> Step:
    live = state.slash.live(ctx.now)
    if name is None:
        # chats.py answers with `channel` and `invoker` only: the bot's oldest waiting call there
        call = next((p for p in live.pending if p.owner_id == bot.id and _at(p, where)
                     and _is_invoker(state, p, invoker)), None)
        if call is None:
            raise ProtocolError(texts.SLASH_RESPONSE_COMMAND_REQUIRED, nosrc=True)
        name = call.command
    else:
        mine = [p for p in live.pending if p.owner_id == bot.id and p.command == name]
        if not mine and not any(reg.user_id == bot.id and any(d["name"] == name for d in reg.commands)
                                for reg in live.registrations):
            raise ProtocolError(texts.not_your_command(name))
        call = next((p for p in mine if _at(p, where) and _is_invoker(state, p, invoker)), None)
        if call is None:
            raise ProtocolError(texts.no_pending_call(name))
    target = _answer_place(state, call, bot)
    users, roles = mentions(state, bot, content)
    state = with_slash(state, attrs.evolve(live, pending=tuple(p for p in live.pending if p is not call)))
    message = Message(id=ctx.new_id, channel_id=target.channel.id, thread_id=target.thread_id, user_id=bot.id,
                      content=content, timestamp=ctx.now, embeds=embeds,
                      interaction={"command": name, "username": state.username_of(call.invoker_id)})
    return _post(state, ctx, target, message, users, roles, [])


def _answer_place(state: ServerState, call: Pending, bot: User) -> Target:
    """The call's channel or thread as it is now, checked for the bot as a post there is."""
    if call.thread_id is None:
        return Target(postable(state, call.channel, bot))
    target = find_thread(state, call.thread_id)
    if target is None:
        raise ProtocolError(texts.THREAD_NOT_FOUND)
    may_post(target, bot)
    return target


def _is_invoker(state: ServerState, call: Pending, invoker: Any) -> bool:
    """The bot may name the invoker (by id, as the call gave it, or by username) to pick among
    several waiting calls; without it the oldest call in the channel is answered."""
    if invoker is None:
        return True
    if not isinstance(invoker, str):
        return False
    return invoker == call.invoker_id or state.username_of(call.invoker_id).casefold() == invoker.casefold()
