"""Reading: channels_get, messages_get, message_get, messages_around (core.md §3-4)."""

from __future__ import annotations

from .voice import voice_state_wire

from functools import partial
from typing import Any


from .. import packets, texts
from ..context import Context
from ..effects import Fetch, Reply, Step
from ..errors import ProtocolError
from ..model import Channel, Message
from ..ops import Around, GetMessage, History, LastMessages
from ..permissions import channel_lists_viewer
from ..registry import command
from ..request import Request, opt_int, opt_obj, opt_str, wrong_type
from ..state import ServerState
from ..targets import Target
from ..views import message_wire, thread_wire
from .message_rules import AROUND_CAP, HISTORY_CAP, MAX_OFFSET, ctx_channel, not_deleted, text_access, visible
from .common import me, require_roles
from .unreads import read_to_newest

# ---- channels_get -----------------------------------------------------------------------------


@command("channels_get")
def handle_channels_get(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    shown = [ch for ch in state.channels if channel_lists_viewer(ch, user.roles)]
    text_ids = tuple(ch.id for ch in shown if ch.type == "text")
    if not text_ids:
        return Step(state, (Reply(packets.channels_get(_channel_list(state, shown, {}))),))
    return Step(state, (Fetch(LastMessages(text_ids), partial(_channels_listed, ids=tuple(c.id for c in shown))),))


def _channels_listed(state: ServerState, ctx: Context, req: Request, last: dict, *, ids: tuple[str, ...]) -> Step:
    shown = [ch for ch in (state.channel_by_id(i) for i in ids) if ch is not None]
    return Step(state, (Reply(packets.channels_get(_channel_list(state, shown, last))),))


def _channel_list(state: ServerState, channels: list[Channel], last: dict) -> list[dict[str, Any]]:
    out = []
    for ch in channels:
        obj = ch.wire()
        if ch.type == "text":
            ts, mid = last.get(ch.id, (None, None))
            obj["last_message"] = ts
            obj["last_message_id"] = mid
        elif ch.type == "voice":
            obj["voice_state"] = voice_state_wire(state, ch)
        elif ch.type == "forum":  # from the forum -> threads index, kept in memory (threads.md flaw 8)
            obj["threads"] = [thread_wire(state, t) for t in state.threads.of_channel(ch.id)]
        out.append(obj)
    return out


# ---- reading history --------------------------------------------------------------------------


def _read_access(state: ServerState, ctx: Context, req: Request) -> Target:
    """A channel: CTX then TEXT. A thread: CTX, locked and archived ones included (threads.md
    flaw 5: they can be read, as with thread_messages)."""
    user = me(state, ctx)
    require_roles(user)
    target = ctx_channel(state, req, user, closed_ok=True)
    if target.thread is None:
        text_access(user, target.channel)
    return target


@command("messages_get")
def handle_messages_get(state: ServerState, ctx: Context, req: Request) -> Step:
    target = _read_access(state, ctx, req)
    ch, tid = target.channel, target.thread_id
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
        return Step(state, (Reply(packets.messages_get(ch.name, [], rng, tid)),))
    op = History(ch.id, start, min(limit, HISTORY_CAP), tid)
    return Step(state, (Fetch(op, partial(_history_read, channel=ch.name, rng=rng, thread_id=tid)),))


def _history_read(state: ServerState, ctx: Context, req: Request, messages: list[Message], *, channel: str, rng: dict,
                  thread_id: str | None = None) -> Step:
    reply = Reply(packets.messages_get(channel, visible(state, messages), rng, thread_id))
    return read_to_newest(state, ctx, start=rng["start"], messages=messages, channel=channel, reply=reply)


@command("message_get")
def handle_message_get(state: ServerState, ctx: Context, req: Request) -> Step:
    mid = opt_str(req, "id")
    if not mid or not (opt_str(req, "channel") or opt_str(req, "thread_id")):
        raise ProtocolError(texts.MESSAGE_GET_FIELDS)
    target = _read_access(state, ctx, req)
    ch = target.channel
    return Step(state, (Fetch(GetMessage(ch.id, mid, target.thread_id), partial(_message_read, channel=ch.name)),))


def _message_read(state: ServerState, ctx: Context, req: Request, m: Message | None, *, channel: str) -> Step:
    m = not_deleted(state, m)
    if m is None:
        raise ProtocolError(texts.MESSAGE_NOT_FOUND)
    return Step(state, (Reply(packets.message_get(channel, message_wire(state, m), m.thread_id)),))


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
    target = _read_access(state, ctx, req)
    ch, tid = target.channel, target.thread_id
    bounds = opt_obj(req, "bounds") or {}
    op = Around(ch.id, around, above=_bound(bounds.get("above"), "above"), below=_bound(bounds.get("below"), "below"),
                thread_id=tid)
    return Step(state, (Fetch(op, partial(_around_read, channel=ch.name, thread_id=tid)),))


def _around_read(state: ServerState, ctx: Context, req: Request, result: Any, *, channel: str,
                 thread_id: str | None = None) -> Step:
    if (result is None or req.get("around") in state.deleted_messages
            or (thread_id is not None and thread_id not in state.threads)):
        raise ProtocolError(texts.MESSAGE_NOT_FOUND)
    messages, start, end = result
    return Step(state, (Reply(packets.messages_around(channel, visible(state, messages),
                                                      {"start": start, "end": end}, thread_id)),))

