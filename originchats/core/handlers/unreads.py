"""Unread state and pings (extended/unreads_pings.md): unreads_get, unreads_count, unreads_ack,
pings_get, the auto-acknowledge of messages_get, and who a new or edited message pings.

Everything is stored in SQLite (migrations/0006_unreads_pings.sql), keyed by (channel id, thread
id), thread id None for the channel itself:

* a read mark per user and channel/thread: the last-read message and its `seq`. Unread counts are
  the messages after that seq, counted from kept counters and an index range (store/reads.py
  `count_after`), exact and never capped;
* who a message pings, computed here when it is posted or edited (`ping_targets`) and written in
  the message's own INSERT (`MessageCreated.mentions`); triggers keep one `pings` row per target and
  message, which `pings_get` reads through its primary key. Deleting a message, a channel, a user
  or a role removes its rows in the same statement.

Differences from the original (each in docs/compatibility.md, "Unreads and pings"): counts are exact
everywhere; messages_get acknowledges only a page that ends at the newest message and never moves a
mark back; unreads_ack needs `view` on the channel and a message that is there; `@&user` needs
`mention_everyone`; pings are stored, so the inbox and the live `pings` object agree; a ping only
reaches members who can view the channel.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .. import packets, texts
from ..context import Context
from ..effects import Fetch, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import Action, Channel, Message, User
from ..ops import MarkBehind, PingsPage, ReadTarget, UnreadState
from ..permissions import channel_allows
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..targets import ctx_target
from ..views import message_wire
from ..writes import ReadMarked
from ..mention_targets import ROLE_TARGET, USER_TARGET, ping_targets  # noqa: F401  (ping_targets: the handlers' name for it)
from .common import me, require_roles
from .message_rules import MAX_OFFSET, text_access

PINGS_DEFAULT_LIMIT, PINGS_MAX_LIMIT = 50, 100  # pings_get `limit` (the protocol's bounds)

# ---- who a message pings ----------------------------------------------------------------------


def my_targets(state: ServerState, user: User) -> tuple[str, ...]:
    """The targets that ping `user`: their id and each role they hold now."""
    roles = (state.roles.get(name) for name in user.roles)
    return (USER_TARGET + user.id, *(ROLE_TARGET + r.id for r in roles if r is not None))


# ---- request fields ---------------------------------------------------------------------------


def _target_fields(req: Request) -> tuple[str | None, str | None]:
    """`channel` and `thread_id` (the thread wins); neither: the documented error."""
    channel, thread_id = opt_str(req, "channel"), opt_str(req, "thread_id")
    if not channel and not thread_id:
        raise ProtocolError(texts.UNREADS_TARGET_REQUIRED)
    return channel or None, thread_id or None


def _readable(state: ServerState, user: User, types: tuple[str, ...]) -> list[Channel]:
    return [ch for ch in state.channels if ch.type in types and channel_allows(ch, Action.VIEW, user.roles)]


# ---- unreads_get ------------------------------------------------------------------------------


@command("unreads_get")
def handle_unreads_get(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_roles(user)
    readable = _readable(state, user, ("text", "forum"))
    op = UnreadState(user.id, tuple((ch.id, None) for ch in readable if ch.type == "text"),
                     tuple(ch.id for ch in readable if ch.type == "forum"))
    return Step(state, (Fetch(op, _unreads_read),))


def _unreads_read(state: ServerState, ctx: Context, req: Request, entries: list) -> Step:
    user = me(state, ctx)
    out: dict[str, Any] = {}
    for channel_id, thread_id, last_read, unread, total in entries:
        ch = state.channel_by_id(channel_id)
        if ch is None or not channel_allows(ch, Action.VIEW, user.roles):  # changed during the read
            continue
        if thread_id is None:
            out[ch.name] = packets.unreads_entry(last_read, unread, total)
        else:  # the documented thread entry (the original never sent one)
            out[f"thread/{thread_id}"] = packets.unreads_entry(last_read, unread, total, ch.name)
    return Step(state, (Reply(packets.unreads_get(out)),))


# ---- unreads_count ----------------------------------------------------------------------------


@command("unreads_count")
def handle_unreads_count(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    channel, thread_id = _target_fields(req)
    require_roles(user)
    if thread_id:  # CTX: a thread needs view on its forum (reads work in closed threads)
        ch = ctx_target(state, user, channel, thread_id, closed_ok=True).channel
    else:  # TEXT: an unknown channel is one the user cannot read
        found = state.channel(channel)
        if found is None:
            raise ProtocolError(texts.CHANNEL_ACCESS_DENIED, nosrc=True)
        text_access(user, found)
        ch = found
    op = UnreadState(user.id, ((ch.id, thread_id),))
    return Step(state, (Fetch(op, partial(_count_read, thread_id=thread_id)),))


def _count_read(state: ServerState, ctx: Context, req: Request, entries: list, *, thread_id: str | None) -> Step:
    channel_id, _, last_read, unread, total = entries[0]
    ch = state.channel_by_id(channel_id)
    if ch is None:  # deleted during the read
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    return Step(state, (Reply(packets.unreads_count(channel=ch.name, thread_id=thread_id, unread_count=unread,
                                                    last_read=last_read, total_messages=total)),))


# ---- unreads_ack ------------------------------------------------------------------------------


@command("unreads_ack")
def handle_unreads_ack(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    channel, thread_id = _target_fields(req)
    require_roles(user)
    # CTX: a thread needs view on its forum and must be neither locked nor archived
    ch = ctx_target(state, user, channel, thread_id).channel
    if not thread_id and not channel_allows(ch, Action.VIEW, user.roles):  # the original checked existence only
        raise ProtocolError(texts.CHANNEL_ACCESS_DENIED, nosrc=True)
    asked = opt_str(req, "message_id") or None
    op = ReadTarget(ch.id, thread_id, asked)
    return Step(state, (Fetch(op, partial(_ack_read, channel_id=ch.id, thread_id=thread_id, asked=asked)),))


def _ack_read(state: ServerState, ctx: Context, req: Request, found: str | None, *, channel_id: str,
              thread_id: str | None, asked: str | None) -> Step:
    ch = state.channel_by_id(channel_id)
    if ch is None:
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    if found is not None and found in state.deleted_messages:
        found = None
    if found is None:
        if asked is not None:  # the original stored any string
            raise ProtocolError(texts.MESSAGE_NOT_FOUND)
        return Step(state, (Reply(packets.unreads_ack(channel=ch.name, thread_id=thread_id, last_read=None)),))
    user = me(state, ctx)
    update = packets.unreads_update(last_read=found, channel=ch.name, thread_id=thread_id)
    reply = packets.unreads_ack(channel=ch.name, thread_id=thread_id, last_read=found)
    fact = ReadMarked(user.id, ch.id, thread_id, found)
    return Step(state, (Persist((fact,), (Send(state.conns_of(user.id), update), Reply(reply))),))


# ---- messages_get's auto-acknowledge ----------------------------------------------------------


def read_to_newest(state: ServerState, ctx: Context, *, start: int, messages: list[Message], channel: str,
                   reply: Reply) -> Step:
    """messages_get's answer `reply`, after marking the channel/thread read up to its newest
    message. Only a page that ends at the newest message does so (`start` 0: a client scrolling
    back through history has not read what is newer), and a mark only moves forward; when it
    moves, every socket of the reader gets `unreads_update` before the reply. Nothing is written
    (and nothing sent) when the mark is already there. If the mark fails to save, the page is
    still answered."""
    deleted = state.deleted_messages
    newest = next((m for m in reversed(messages) if m.id not in deleted), None)
    if start != 0 or newest is None:
        return Step(state, (reply,))
    op = MarkBehind(me(state, ctx).id, newest.channel_id, newest.thread_id, newest.id)
    return Step(state, (Fetch(op, partial(_mark_read, newest=newest, channel=channel, reply=reply)),))


def _mark_read(state: ServerState, ctx: Context, req: Request, behind: bool, *, newest: Message, channel: str,
               reply: Reply) -> Step:
    if not behind:
        return Step(state, (reply,))
    user = me(state, ctx)
    update = packets.unreads_update(last_read=newest.id, channel=channel, thread_id=newest.thread_id)
    fact = ReadMarked(user.id, newest.channel_id, newest.thread_id, newest.id, forward_only=True)
    return Step(state, (Persist((fact,), (Send(state.conns_of(user.id), update), reply), failed=(reply,)),))


# ---- pings_get --------------------------------------------------------------------------------


def _count_field(req: Request, key: str, default: int, error: str, ok: Callable[[int], bool]) -> int:
    """An integer paging field; booleans count as 0/1, as in the original."""
    value = req.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or not ok(int(value)):
        raise ProtocolError(error)
    return int(value)


@command("pings_get")
def handle_pings_get(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    limit = _count_field(req, "limit", PINGS_DEFAULT_LIMIT, texts.PINGS_LIMIT, lambda v: 1 <= v <= PINGS_MAX_LIMIT)
    offset = _count_field(req, "offset", 0, texts.PINGS_OFFSET, lambda v: v >= 0)
    channels = tuple(ch.id for ch in _readable(state, user, ("text", "forum")))
    op = PingsPage(my_targets(state, user), channels, limit, min(offset, MAX_OFFSET))
    return Step(state, (Fetch(op, partial(_pings_read, limit=limit, offset=offset)),))


def _pings_read(state: ServerState, ctx: Context, req: Request, result: tuple[list[Message], int], *,
                limit: int, offset: int) -> Step:
    messages, total = result
    user = me(state, ctx)
    out = []
    for m in messages:
        ch = state.channel_by_id(m.channel_id)
        if m.id in state.deleted_messages or ch is None or not channel_allows(ch, Action.VIEW, user.roles):
            continue  # changed during the read
        wire = message_wire(state, m)
        wire["channel"] = ch.name
        if m.thread_id is not None:
            wire["thread_id"] = m.thread_id
        out.append(wire)
    return Step(state, (Reply(packets.pings_get(messages=out, offset=offset, limit=limit, total=total)),))
