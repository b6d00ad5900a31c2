"""Writing messages: message_new, message_edit, message_delete, and typing (core.md §4). The shared
checks (CTX, mentions, the race guards) are in handlers/message_rules.py."""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs

from .. import packets, texts
from ..attachments import attached
from ..audit import audit
from ..context import Context
from ..effects import Fetch, Persist, Send, Step
from ..budget import check_message
from ..commands import MessageEdit, MessageNew, Typing
from ..errors import ProtocolError
from ..model import Action, Message, User
from ..ops import GetMessage, LastMessage
from ..permissions import channel_allows, channel_allows_literal
from ..push import push_for
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..targets import Target, find_thread, resolve_target
from ..views import channel_viewers, message_wire, thread_wire
from ..writes import MentionsChanged, MessageCreated, MessageDeleted, MessageEdited, ThreadSaved
from .message_rules import (ctx_channel, current_reactions, global_packet, limited, mentions, not_deleted, open_thread,
                            recent)
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
    target = resolve_target(state, cmd.channel, cmd.thread_id)
    may_post(target, user)
    files = attached(state, ctx, user, cmd.attachments) if cmd.attachments not in (None, []) else None
    ch = target.channel
    message = Message(id=ctx.new_id, channel_id=ch.id, thread_id=target.thread_id, user_id=user.id,
                      content=cmd.content, timestamp=ctx.now, ping=cmd.ping, embeds=cmd.embeds,
                      attachments=files or None)
    if cmd.reply_to:  # the reply target must be in the same channel or thread
        return Step(state, (Fetch(GetMessage(ch.id, cmd.reply_to, target.thread_id),
                                  partial(_reply_target_read, message=message, pings=(users, roles))),))
    return _post(state, ctx, target, message, users, roles, [])


def may_post(target: Target, user: User) -> None:
    """A thread: not locked, `send` on its parent (an archived one is revived by the post). A
    channel: `send`, and of type text."""
    if target.thread is not None:
        if target.thread.locked:
            raise ProtocolError(texts.THREAD_LOCKED)
        if not channel_allows(target.channel, Action.SEND, user.roles):
            raise ProtocolError(texts.THREAD_SEND_DENIED)
        return
    if not channel_allows(target.channel, Action.SEND, user.roles):
        raise ProtocolError(texts.SEND_DENIED)
    if target.channel.type != "text":
        raise ProtocolError(texts.CHANNEL_TYPE_CANNOT_SEND)


def touch_thread(state: ServerState, target: Target, message: Message) -> tuple[ServerState, tuple, tuple]:
    """(state, writes, sends) of a new message in `target`: in a thread it becomes the thread's
    newest; an archived thread is revived (stored first), and the forum's viewers told."""
    if target.thread is None:
        return state, (), ()
    revived = target.thread.archived
    thread = attrs.evolve(target.thread, archived=False, last_message=message.timestamp, last_message_id=message.id)
    state = state.with_thread(thread)
    if not revived:
        return state, (), ()
    told = Send(channel_viewers(state, target.channel), packets.thread_update(thread_wire(state, thread)))
    return state, (ThreadSaved(thread),), (told,)


def _reply_target_read(state: ServerState, ctx: Context, req: Request, target: Message | None, *,
                       message: Message, pings: tuple[list[str], list[str]]) -> Step:
    target = not_deleted(state, target)
    if target is None:
        raise ProtocolError(texts.REPLY_TARGET_NOT_FOUND)
    # the channel or thread as it is now (deleted, locked or closed to the sender meanwhile?)
    if message.thread_id is not None:
        where = find_thread(state, message.thread_id)
        if where is None:
            raise ProtocolError(texts.THREAD_NOT_FOUND)
    else:
        ch = state.channel_by_id(message.channel_id)
        if ch is None:
            raise ProtocolError(texts.CHANNEL_NOT_FOUND)
        where = Target(ch)
    may_post(where, me(state, ctx))
    message = attrs.evolve(message, reply_to_id=target.id, reply_to_user=target.user_id)
    replies = [state.username_of(target.user_id)] if message.ping is not False else []
    return _post(state, ctx, where, message, pings[0], pings[1], replies)


def _post(state: ServerState, ctx: Context, target: Target, message: Message,
          users: list[str], roles: list[str], replies: list[str]) -> Step:
    ch = target.channel
    targets = ping_targets(state, ch, users, roles, message.reply_to_user if replies else None)
    state, saved, announce = touch_thread(state, target, message)
    writes: tuple = (*saved, MessageCreated(message, targets))
    wire = message_wire(state, message)
    wire["pings"] = {"users": users, "roles": roles, "replies": replies}
    packet = packets.message_new(wire, ch.name, target.thread_id)
    push = push_for(state, ch, message, users, roles, message.reply_to_user if replies else None)
    return Step(state, (Persist(writes, (*announce, *global_packet(state, ctx, ch, packet), *push)),))


# ---- message_edit -----------------------------------------------------------------------------


@command("message_edit")
def handle_message_edit(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    return limited(state, ctx, req, user, partial(_edit_allowed, ctx=ctx, req=req, user=user), with_reason=False)


def _edit_allowed(state: ServerState, *, ctx: Context, req: Request, user: User) -> Step:
    cmd = MessageEdit.parse(req, state.settings)
    require_roles(user)
    target = ctx_channel(state, req, user)
    return Step(state, (Fetch(GetMessage(target.channel.id, cmd.id, target.thread_id),
                              partial(_edit_target_read, content=cmd.content, embeds=cmd.embeds)),))


def _edit_target_read(state: ServerState, ctx: Context, req: Request, m: Message | None, *,
                      content: str, embeds: Any) -> Step:
    m = not_deleted(state, m)
    ch = state.channel_by_id(m.channel_id) if m is not None else None
    if m is None or ch is None:
        raise ProtocolError(texts.EDIT_NOT_FOUND)
    thread = open_thread(state, m)
    user = me(state, ctx)
    # the documented order: the channel's edit_own list first, then authorship (no owner bypass)
    if not channel_allows_literal(ch, Action.EDIT_OWN, user.roles):
        raise ProtocolError(texts.EDIT_OWN_DENIED if thread is None else texts.THREAD_EDIT_OWN_DENIED)
    if m.user_id != user.id:
        raise ProtocolError(texts.EDIT_DENIED)
    users, roles = mentions(state, user, content)
    edited = attrs.evolve(m, content=content, edited=True, embeds=m.embeds if embeds is None else embeds or None)
    reactions = tuple((e, tuple(u)) for e, u in current_reactions(state, m).items())
    check_message(attrs.evolve(edited, reactions=reactions), state.settings.content)
    wire = message_wire(state, edited)
    if users or roles:
        wire["pings"] = {"users": users, "roles": roles, "replies": []}
    packet = packets.message_edit(id=m.id, content=content, message=wire, channel=ch.name, thread_id=m.thread_id)
    targets = ping_targets(state, ch, users, roles, m.reply_to_user if m.ping is not False else None)
    edit = MessageEdited(m.id, content, embeds, m.channel_id, m.thread_id)
    return Step(state, (Persist((edit, MentionsChanged(m.id, targets)), global_packet(state, ctx, ch, packet)),))


# ---- message_delete ---------------------------------------------------------------------------


@command("message_delete")
def handle_message_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    mid = opt_str(req, "id")
    if not mid or not (opt_str(req, "channel") or opt_str(req, "thread_id")):
        raise ProtocolError(texts.INVALID_DELETE)
    require_roles(user)
    # a thread's messages can be deleted even when it is locked or archived (moderation)
    target = ctx_channel(state, req, user, closed_ok=True)
    return Step(state, (Fetch(GetMessage(target.channel.id, mid, target.thread_id), _delete_target_read),))


def _delete_target_read(state: ServerState, ctx: Context, req: Request, m: Message | None) -> Step:
    m = not_deleted(state, m)
    ch = state.channel_by_id(m.channel_id) if m is not None else None
    if m is None or ch is None:
        raise ProtocolError(texts.DELETE_NOT_FOUND)
    user = me(state, ctx)
    thread = state.threads.get(m.thread_id) if m.thread_id is not None else None
    if m.user_id == user.id:
        if not channel_allows_literal(ch, Action.DELETE_OWN, user.roles):
            raise ProtocolError(texts.DELETE_OWN_DENIED if thread is None else texts.THREAD_DELETE_OWN_DENIED)
    elif not channel_allows(ch, Action.DELETE, user.roles):
        raise ProtocolError(texts.DELETE_DENIED)
    # the thread's newest message is read again once this delete is stored (see `_last_read`)
    refresh = thread is not None and (thread.last_message_id == m.id
                                      or thread.last_message_id in state.deleted_messages)
    state = attrs.evolve(state, deleted_messages={**recent(state.deleted_messages, ctx.now, lambda when: when),
                                                  m.id: ctx.now})
    packet = packets.message_delete(m.id, ch.name, m.thread_id)
    # every successful delete is audit-logged, own messages included (no author, no content)
    details = {"channel": ch.name} if m.thread_id is None else {"channel": ch.name, "thread_id": m.thread_id}
    entry = audit(ctx, user.id, "message_moderation", "message_delete", target=m.id, details=details)
    then = global_packet(state, ctx, ch, packet)
    if refresh:
        then += (Fetch(LastMessage(ch.id, m.thread_id), partial(_last_read, thread_id=m.thread_id)),)
    return Step(state, (Persist((MessageDeleted(m.id), entry), then),))


def _last_read(state: ServerState, ctx: Context, req: Request, last: tuple[float, str] | None, *,
               thread_id: str) -> Step:
    """A thread's newest message, read after a delete of the one it had is stored. The thread keeps
    what it has when a newer message was posted meanwhile; the read is taken when the one it has is
    deleted (decided, maybe not stored yet). If the read finds a message whose delete is decided
    but not stored, that delete was decided while the newest was dead, so it reads again itself."""
    thread = state.threads.get(thread_id)
    if thread is None or thread.last_message_id not in state.deleted_messages:
        return Step(state)
    ts, mid = last if last is not None else (None, None)
    return Step(state.with_thread(attrs.evolve(thread, last_message=ts, last_message_id=mid)))


# ---- typing -----------------------------------------------------------------------------------


@command("typing")
def handle_typing(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    return limited(state, ctx, req, user, partial(_typing_allowed, ctx=ctx, req=req, user=user))


def _typing_allowed(state: ServerState, *, ctx: Context, req: Request, user: User) -> Step:
    cmd = Typing.parse(req)
    target = resolve_target(state, cmd.channel, cmd.thread_id)
    ch = target.channel
    if target.thread is not None:
        if not channel_allows(ch, Action.SEND, user.roles):
            raise ProtocolError(texts.THREAD_SEND_DENIED)
    elif ch.type != "text" or not channel_allows(ch, Action.VIEW, user.roles):
        raise ProtocolError(texts.CHANNEL_ACCESS_DENIED)
    packet = packets.typing(ch.name, user.username, target.thread_id)
    return Step(state, global_packet(state, ctx, ch, packet))

