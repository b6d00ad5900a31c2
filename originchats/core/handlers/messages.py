"""Channels and messages: channels_get, messages_get, message_get, messages_around, message_new,
message_edit, message_delete, message_react_add/remove, typing (core.md §3-4, extended reactions).

History lives in SQLite, so handlers that need a stored message validate what they can, then
return a `Fetch`; the continuation re-checks against the state current when the read completes.
A new message, edit, delete or reaction is broadcast only in the `then` of its `Persist`, that is
after the commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Fetch, Persist, Reply, Send, Step
from ..budget import check_message, message_size
from ..commands import MessageEdit, MessageNew, Typing
from ..errors import ProtocolError
from ..model import Action, Channel, Message, User
from ..ops import Around, GetMessage, History, LastMessages
from ..permissions import channel_allows, channel_allows_literal, channel_lists_viewer, is_owner
from ..registry import command
from ..request import Request, opt_int, opt_obj, opt_str, wrong_type
from ..state import ServerState
from ..targets import resolve_target
from ..views import channel_viewers, message_wire
from ..writes import MessageCreated, MessageDeleted, MessageEdited, ReactionAdded, ReactionRemoved
from .common import me, rate_check, require_roles

USER_MENTION = re.compile(r"(?<!&)@([a-zA-Z0-9_]+)")
ROLE_MENTION = re.compile(r"@&([a-zA-Z0-9_]+)")
HISTORY_CAP = 200  # most messages one messages_get returns
AROUND_CAP = 200  # most messages on each side of messages_around
MAX_OFFSET = 2**62  # a `start` beyond any history (SQLite integers are 64-bit)
RECENT_SECONDS = 60.0  # how long decisions are remembered against stale reads (reads take ms)


# ---- shared checks ----------------------------------------------------------------------------


def ctx_channel(state: ServerState, req: Request) -> Channel:
    """CTX: the request's `thread_id`, then `channel` (core/targets.py)."""
    thread_id = opt_str(req, "thread_id")
    return resolve_target(state, opt_str(req, "channel"), thread_id)


def text_access(user: User, ch: Channel) -> None:
    """TEXT: viewable by the user and of type text; errors without `src`."""
    if ch.type != "text" or not channel_allows(ch, Action.VIEW, user.roles):
        raise ProtocolError(texts.CHANNEL_ACCESS_DENIED, nosrc=True)


def may_mention_role(state: ServerState, user: User, role_name: str) -> bool:
    role = state.roles.get(role_name)
    if role is None or not isinstance(role.permissions, dict):
        return True
    rule = role.permissions.get("mention_roles", True)
    if rule is True:
        return True
    if is_owner(user):
        return True
    if rule is False or rule is None:
        return False
    allowed = [rule] if isinstance(rule, str) else list(rule) if isinstance(rule, list) else []
    return any(r in allowed for r in user.roles)


def mentions(state: ServerState, user: User, content: str) -> tuple[list[str], list[str]]:
    """(users, roles) mentioned; raises when the sender may not mention one of the roles."""
    users: list[str] = []
    for name in USER_MENTION.findall(content):
        uid = state.names.get(name.casefold())
        shown = state.users[uid].username if uid is not None else name
        if shown not in users:
            users.append(shown)
    roles: list[str] = []
    for name in ROLE_MENTION.findall(content):
        if not may_mention_role(state, user, name):
            raise ProtocolError(texts.mention_denied(name))
        if name not in roles:
            roles.append(name)
    return users, roles


def recent(entries: Mapping[Any, Any], now: float, when: Callable[[Any], float]) -> dict[Any, Any]:
    """The entries decided within the last RECENT_SECONDS (older ones can no longer race a read:
    the database has been authoritative for them ever since)."""
    return {k: v for k, v in entries.items() if now - when(v) < RECENT_SECONDS}


def not_deleted(state: ServerState, m: Message | None) -> Message | None:
    if m is None or m.id in state.deleted_messages:
        return None
    return m


def visible(state: ServerState, messages: list[Message]) -> list[dict[str, Any]]:
    deleted = state.deleted_messages
    return [message_wire(state, m) for m in messages if m.id not in deleted]


def limited(state: ServerState, ctx: Context, req: Request, user: User,
            then: Callable[[ServerState], Step], *, with_reason: bool = True) -> Step:
    """Consume one rate-limit slot, then run `then(state)`. The slot stays used when `then`
    refuses the request (README §9: an allowed action is recorded even if the command fails)."""
    state, refusal = rate_check(state, ctx, user, with_reason=with_reason)
    if refusal is not None:
        return Step(state, (refusal,))
    try:
        return then(state)
    except ProtocolError as exc:
        return Step(state, (exc.answer(req.cmd),))


def global_packet(state: ServerState, ctx: Context, ch: Channel, packet: dict[str, Any]) -> tuple:
    """Viewers of the channel other than the caller, then the caller (with its `listener`)."""
    return (Send(channel_viewers(state, ch, exclude=ctx.conn_id), packet, reply=True),)


# ---- channels_get -----------------------------------------------------------------------------


@command("channels_get")
def handle_channels_get(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    shown = [ch for ch in state.channels if channel_lists_viewer(ch, user.roles)]
    text_ids = tuple(ch.id for ch in shown if ch.type == "text")
    if not text_ids:
        return Step(state, (Reply(packets.channels_get(_channel_list(shown, {}))),))
    return Step(state, (Fetch(LastMessages(text_ids), partial(_channels_listed, ids=tuple(c.id for c in shown))),))


def _channels_listed(state: ServerState, ctx: Context, req: Request, last: dict, *, ids: tuple[str, ...]) -> Step:
    shown = [ch for ch in (state.channel_by_id(i) for i in ids) if ch is not None]
    return Step(state, (Reply(packets.channels_get(_channel_list(shown, last))),))


def _channel_list(channels: list[Channel], last: dict) -> list[dict[str, Any]]:
    out = []
    for ch in channels:
        obj = ch.wire()
        if ch.type == "text":
            ts, mid = last.get(ch.id, (None, None))
            obj["last_message"] = ts
            obj["last_message_id"] = mid
        elif ch.type == "voice":
            obj["voice_state"] = []
        elif ch.type == "forum":
            obj["threads"] = []
        out.append(obj)
    return out


# ---- reading history --------------------------------------------------------------------------


def _read_access(state: ServerState, ctx: Context, req: Request) -> tuple[User, Channel]:
    user = me(state, ctx)
    require_roles(user)
    ch = ctx_channel(state, req)
    text_access(user, ch)
    return user, ch


@command("messages_get")
def handle_messages_get(state: ServerState, ctx: Context, req: Request) -> Step:
    _, ch = _read_access(state, ctx, req)
    start = opt_int(req, "start")
    start = 0 if start is None else start
    raw_limit = req.get("limit")
    if raw_limit is None:  # absent; null crashed the original
        sent = limit = 100
    elif raw_limit is False or (isinstance(raw_limit, int) and raw_limit == 0):
        sent, limit = 0, 100  # `0`/`false` fetch the default page; `range` echoes what was sent
    else:
        sent = limit = opt_int(req, "limit") or 0
    rng = {"start": start, "end": start + sent}
    if limit < 0 or start < 0 or start > MAX_OFFSET:  # a huge start crashed the SQLite read
        return Step(state, (Reply(packets.messages_get(ch.name, [], rng)),))
    op = History(ch.id, start, min(limit, HISTORY_CAP))
    return Step(state, (Fetch(op, partial(_history_read, channel=ch.name, rng=rng)),))


def _history_read(state: ServerState, ctx: Context, req: Request, messages: list[Message], *, channel: str, rng: dict) -> Step:
    return Step(state, (Reply(packets.messages_get(channel, visible(state, messages), rng)),))


@command("message_get")
def handle_message_get(state: ServerState, ctx: Context, req: Request) -> Step:
    mid = opt_str(req, "id")
    if not mid or not (opt_str(req, "channel") or opt_str(req, "thread_id")):
        raise ProtocolError(texts.MESSAGE_GET_FIELDS)
    _, ch = _read_access(state, ctx, req)
    return Step(state, (Fetch(GetMessage(ch.id, mid), partial(_message_read, channel=ch.name)),))


def _message_read(state: ServerState, ctx: Context, req: Request, m: Message | None, *, channel: str) -> Step:
    m = not_deleted(state, m)
    if m is None:
        raise ProtocolError(texts.MESSAGE_NOT_FOUND)
    return Step(state, (Reply(packets.message_get(channel, message_wire(state, m))),))


def _bound(value: Any, key: str) -> int:
    if value is None:
        return 50
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(f"bounds.{key}", "integer", value)
    return max(0, min(value, AROUND_CAP))


@command("messages_around")
def handle_messages_around(state: ServerState, ctx: Context, req: Request) -> Step:
    around = opt_str(req, "around")
    if not around:
        raise ProtocolError(texts.AROUND_REQUIRED)
    _, ch = _read_access(state, ctx, req)
    bounds = opt_obj(req, "bounds") or {}
    op = Around(ch.id, around, above=_bound(bounds.get("above"), "above"), below=_bound(bounds.get("below"), "below"))
    return Step(state, (Fetch(op, partial(_around_read, channel=ch.name)),))


def _around_read(state: ServerState, ctx: Context, req: Request, result: Any, *, channel: str) -> Step:
    if result is None or req.get("around") in state.deleted_messages:
        raise ProtocolError(texts.MESSAGE_NOT_FOUND)
    messages, start, end = result
    return Step(state, (Reply(packets.messages_around(channel, visible(state, messages),
                                                      {"start": start, "end": end})),))


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
    return Step(state, (Persist((MessageCreated(message),), global_packet(state, ctx, ch, packet)),))


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
    return Step(state, (Persist((MessageEdited(m.id, content, embeds),), global_packet(state, ctx, ch, packet)),))


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


# ---- reactions --------------------------------------------------------------------------------


def _reaction_fields(state: ServerState, req: Request) -> tuple[str, str]:
    mid, emoji = req.get("id"), req.get("emoji")
    if not mid or not emoji:
        raise ProtocolError(texts.REACTION_FIELDS)
    if not isinstance(mid, str):
        raise wrong_type("id", "string", mid)
    if not isinstance(emoji, str) or len(emoji) > state.settings.content.emoji_length:
        raise ProtocolError(texts.INVALID_EMOJI)
    return mid, emoji


def current_reactions(state: ServerState, m: Message) -> dict[str, list[str]]:
    """The message's reactions as read, with this server's recent decisions applied on top (a
    decision may not be committed yet, or committed after the read began; applying one twice
    changes nothing)."""
    out = {emoji: list(users) for emoji, users in m.reactions}
    for (mid, emoji, uid), (reacted, _) in state.recent_reactions.items():
        if mid != m.id:
            continue
        users = out.setdefault(emoji, [])
        if reacted and uid not in users:
            users.append(uid)
        elif not reacted and uid in users:
            users.remove(uid)
    return {emoji: users for emoji, users in out.items() if users}


def _check_reaction_room(state: ServerState, m: Message, emoji: str, user_id: str) -> None:
    """A new reaction must leave the message within `reactions_per_message` different emoji and
    within its byte budget."""
    limits = state.settings.content
    reactions = current_reactions(state, m)
    if emoji not in reactions and len(reactions) >= limits.reactions_per_message:
        raise ProtocolError(texts.too_many_reaction_kinds(limits.reactions_per_message))
    counts = [(e, len(users)) for e, users in reactions.items() if e != emoji]
    counts.append((emoji, len(reactions.get(emoji, ())) + (user_id not in reactions.get(emoji, ()))))
    if message_size(m, counts) > limits.message_bytes:
        raise ProtocolError(texts.TOO_MANY_REACTIONS)


@command("message_react_add")
def handle_message_react_add(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_roles(user, nosrc=True)
    mid, emoji = _reaction_fields(state, req)
    ch = ctx_channel(state, req)
    # the original skipped the view check here; reacting needs both `view` and `react`
    if not channel_allows(ch, Action.VIEW, user.roles) or not channel_allows_literal(ch, Action.REACT, user.roles):
        raise ProtocolError(texts.REACT_ADD_DENIED)
    state, refusal = rate_check(state, ctx, user, broadcast=True)
    if refusal is not None:
        return Step(state, (refusal,))
    return Step(state, (Fetch(GetMessage(ch.id, mid), partial(_react_target_read, emoji=emoji, add=True)),))


@command("message_react_remove")
def handle_message_react_remove(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    mid, emoji = _reaction_fields(state, req)
    require_roles(user, nosrc=True)
    ch = ctx_channel(state, req)
    if not channel_allows(ch, Action.VIEW, user.roles) or not channel_allows_literal(ch, Action.REACT, user.roles):
        raise ProtocolError(texts.REACT_REMOVE_DENIED)
    state, refusal = rate_check(state, ctx, user, broadcast=True)
    if refusal is not None:
        return Step(state, (refusal,))
    return Step(state, (Fetch(GetMessage(ch.id, mid), partial(_react_target_read, emoji=emoji, add=False)),))


def _react_target_read(state: ServerState, ctx: Context, req: Request, m: Message | None, *,
                       emoji: str, add: bool) -> Step:
    m = not_deleted(state, m)
    ch = state.channel_by_id(m.channel_id) if m is not None else None
    failure = texts.REACTION_ADD_FAILED if add else texts.REACTION_REMOVE_FAILED
    if m is None or ch is None:
        raise ProtocolError(failure)
    user = me(state, ctx)
    # The read may predate a reaction change of another socket of this user that is decided but
    # not yet committed (or committed after the read began): what this server decided wins.
    key = (m.id, emoji, user.id)
    known = state.recent_reactions.get(key)
    reacted = known[0] if known is not None else user.id in m.reaction_users(emoji)
    if reacted == add:
        raise ProtocolError(failure)
    if add:
        _check_reaction_room(state, m, emoji, user.id)
    state = attrs.evolve(state, recent_reactions={**recent(state.recent_reactions, ctx.now, lambda v: v[1]),
                                                  key: (add, ctx.now)})
    write = ReactionAdded(m.id, emoji, user.id) if add else ReactionRemoved(m.id, emoji, user.id)
    reacted_packet = packets.message_react_add if add else packets.message_react_remove
    packet = reacted_packet(id=m.id, emoji=emoji, channel=ch.name, from_=user.username)
    return Step(state, (Persist((write,), global_packet(state, ctx, ch, packet)),))


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
