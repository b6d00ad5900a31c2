"""Writing messages: message_new, message_edit, message_delete, and typing (core.md §4). The shared
checks (CTX, mentions, the race guards) are in handlers/message_rules.py."""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Fetch, Persist, Step
from ..budget import check_message
from ..commands import MessageEdit, MessageNew, Typing
from ..errors import ProtocolError
from ..model import Action, Channel, Message, User
from ..ops import GetMessage
from ..permissions import channel_allows, channel_allows_literal
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..targets import resolve_target
from ..views import message_wire
from ..writes import MessageCreated, MessageDeleted, MessageEdited
from ..writes import MentionsChanged
from .message_rules import ctx_channel, current_reactions, global_packet, limited, mentions, not_deleted, recent
from .common import me, require_roles
from .unreads import ping_targets

# ---- message_new ------------------------------------------------------------------------------


@command("message_new")
def handle_message_new(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    cmd = MessageNew.parse(req, state.settings, ctx)
    return limited(state, ctx, req, user, partial(_new_allowed, ctx=ctx, user=user, cmd=cmd))


def _new_allowed(state: ServerState, *, ctx: Context, user: User, cmd: MessageNew) -> Step:
    require_roles(user)
    users, roles = mentions(state, user, cmd.content)
    ch = resolve_target(state, cmd.channel, cmd.thread_id)
    if not channel_allows(ch, Action.SEND, user.roles):
        raise ProtocolError(texts.SEND_DENIED)
    if ch.type != "text":
        raise ProtocolError(texts.CHANNEL_TYPE_CANNOT_SEND)
    if cmd.attachments:
        raise ProtocolError(texts.ATTACHMENTS_DISABLED)
    message = Message(id=ctx.new_id, channel_id=ch.id, user_id=user.id, content=cmd.content,
                      timestamp=ctx.now, ping=cmd.ping, embeds=cmd.embeds)
    if cmd.reply_to:
        return Step(state, (Fetch(GetMessage(ch.id, cmd.reply_to),
                                  partial(_reply_target_read, message=message, pings=(users, roles))),))
    return _post(state, ctx, ch, message, users, roles, [])


def _reply_target_read(state: ServerState, ctx: Context, req: Request, target: Message | None, *,
                       message: Message, pings: tuple[list[str], list[str]]) -> Step:
    target = not_deleted(state, target)
    if target is None:
        raise ProtocolError(texts.REPLY_TARGET_NOT_FOUND)
    ch = state.channel_by_id(message.channel_id)
    if ch is None:  # deleted while the target was read
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    if not channel_allows(ch, Action.SEND, me(state, ctx).roles):  # changed meanwhile
        raise ProtocolError(texts.SEND_DENIED)
    message = attrs.evolve(message, reply_to_id=target.id, reply_to_user=target.user_id)
    replies = [state.username_of(target.user_id)] if message.ping is not False else []
    return _post(state, ctx, ch, message, pings[0], pings[1], replies)


def _post(state: ServerState, ctx: Context, ch: Channel, message: Message,
          users: list[str], roles: list[str], replies: list[str]) -> Step:
    wire = message_wire(state, message)
    wire["pings"] = {"users": users, "roles": roles, "replies": replies}
    packet = packets.message_new(wire, ch.name)
    targets = ping_targets(state, ch, users, roles, message.reply_to_user if replies else None)
    return Step(state, (Persist((MessageCreated(message, targets),), global_packet(state, ctx, ch, packet)),))


# ---- message_edit -----------------------------------------------------------------------------


@command("message_edit")
def handle_message_edit(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    return limited(state, ctx, req, user, partial(_edit_allowed, ctx=ctx, req=req, user=user), with_reason=False)


def _edit_allowed(state: ServerState, *, ctx: Context, req: Request, user: User) -> Step:
    cmd = MessageEdit.parse(req, state.settings)
    require_roles(user)
    ch = ctx_channel(state, req)
    return Step(state, (Fetch(GetMessage(ch.id, cmd.id), partial(_edit_target_read, content=cmd.content,
                                                                 embeds=cmd.embeds)),))


def _edit_target_read(state: ServerState, ctx: Context, req: Request, m: Message | None, *,
                      content: str, embeds: Any) -> Step:
    m = not_deleted(state, m)
    ch = state.channel_by_id(m.channel_id) if m is not None else None
    if m is None or ch is None:
        raise ProtocolError(texts.EDIT_NOT_FOUND)
    user = me(state, ctx)
    # the documented order: the channel's edit_own list first, then authorship (no owner bypass)
    if not channel_allows_literal(ch, Action.EDIT_OWN, user.roles):
        raise ProtocolError(texts.EDIT_OWN_DENIED)
    if m.user_id != user.id:
        raise ProtocolError(texts.EDIT_DENIED)
    users, roles = mentions(state, user, content)
    edited = attrs.evolve(m, content=content, edited=True, embeds=m.embeds if embeds is None else embeds or None)
    reactions = tuple((e, tuple(u)) for e, u in current_reactions(state, m).items())
    check_message(attrs.evolve(edited, reactions=reactions), state.settings.content)
    wire = message_wire(state, edited)
    if users or roles:
        wire["pings"] = {"users": users, "roles": roles, "replies": []}
    packet = packets.message_edit(id=m.id, content=content, message=wire, channel=ch.name)
    targets = ping_targets(state, ch, users, roles, m.reply_to_user if m.ping is not False else None)
    return Step(state, (Persist((MessageEdited(m.id, content, embeds), MentionsChanged(m.id, targets)),
                                global_packet(state, ctx, ch, packet)),))


# ---- message_delete ---------------------------------------------------------------------------


@command("message_delete")
def handle_message_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    mid = opt_str(req, "id")
    if not mid or not (opt_str(req, "channel") or opt_str(req, "thread_id")):
        raise ProtocolError(texts.INVALID_DELETE)
    require_roles(user)
    ch = ctx_channel(state, req)
    return Step(state, (Fetch(GetMessage(ch.id, mid), _delete_target_read),))


def _delete_target_read(state: ServerState, ctx: Context, req: Request, m: Message | None) -> Step:
    m = not_deleted(state, m)
    ch = state.channel_by_id(m.channel_id) if m is not None else None
    if m is None or ch is None:
        raise ProtocolError(texts.DELETE_NOT_FOUND)
    user = me(state, ctx)
    if m.user_id == user.id:
        if not channel_allows_literal(ch, Action.DELETE_OWN, user.roles):
            raise ProtocolError(texts.DELETE_OWN_DENIED)
    elif not channel_allows(ch, Action.DELETE, user.roles):
        raise ProtocolError(texts.DELETE_DENIED)
    state = attrs.evolve(state, deleted_messages={**recent(state.deleted_messages, ctx.now, lambda when: when),
                                                  m.id: ctx.now})
    packet = packets.message_delete(m.id, ch.name)
    # every successful delete is audit-logged, own messages included (no author, no content)
    entry = audit(ctx, user.id, "message_moderation", "message_delete", target=m.id, details={"channel": ch.name})
    return Step(state, (Persist((MessageDeleted(m.id), entry), global_packet(state, ctx, ch, packet)),))


# ---- typing -----------------------------------------------------------------------------------


@command("typing")
def handle_typing(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    return limited(state, ctx, req, user, partial(_typing_allowed, ctx=ctx, req=req, user=user))


def _typing_allowed(state: ServerState, *, ctx: Context, req: Request, user: User) -> Step:
    cmd = Typing.parse(req)
    ch = resolve_target(state, cmd.channel, cmd.thread_id)
    if ch.type != "text" or not channel_allows(ch, Action.VIEW, user.roles):
        raise ProtocolError(texts.CHANNEL_ACCESS_DENIED)
    packet = packets.typing(ch.name, user.username)
    return Step(state, global_packet(state, ctx, ch, packet))

