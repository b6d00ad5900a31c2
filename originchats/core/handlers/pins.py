"""message_pin, message_unpin, messages_pinned (extended/reactions_pins_replies.md, "Pins").

A pin is the stored message's `pinned` flag. Pinning needs `view` and the channel's `pin` list
(default: `owner`), both walked with `!role` denials (core/permissions.py). Unlike the original,
a message that does not exist is `Message not found` (nothing broadcast, nothing audit-logged),
`message_unpin` reports the message's new state (`pinned: false`), and `message_pin` with
`"pinned": false` unpins (what the official web client sends from its "Unpin" menu).

Pins work in threads too (`thread_id`, resolved by core/targets.py): each thread has its own list.
"""

from __future__ import annotations

from functools import partial

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Fetch, Persist, Reply, Step
from ..errors import ProtocolError
from ..model import Action, Channel, Message, User
from ..ops import Pinned, PinTarget
from ..permissions import channel_allows, channel_allows_literal
from ..registry import command
from ..request import Request, opt_str, required_str
from ..state import ServerState
from ..targets import ctx_target
from ..views import is_pinned
from ..writes import MessagePinned, MessageUnpinned
from .common import me, require_roles
from .message_rules import global_packet, not_deleted, recent, text_access, visible


def may_pin(ch: Channel, user: User) -> bool:
    return channel_allows(ch, Action.VIEW, user.roles) and channel_allows_literal(ch, Action.PIN, user.roles)


def text_target(state: ServerState, user: User, req: Request) -> Channel:
    """TEXT on the request's `channel` (errors without `src`; a channel that does not exist is
    refused like one the user may not view), or CTX on its `thread_id`."""
    thread_id = opt_str(req, "thread_id")
    if thread_id:  # CTX: view on the thread's forum; closed threads can be read
        return ctx_target(state, user, opt_str(req, "channel"), thread_id, closed_ok=True).channel
    found = state.channel(opt_str(req, "channel"))
    if found is None:
        raise ProtocolError(texts.CHANNEL_ACCESS_DENIED, nosrc=True)
    text_access(user, found)
    return found


# ---- message_pin / message_unpin --------------------------------------------------------------


def _pin_request(state: ServerState, ctx: Context, req: Request, *, pin: bool) -> Step:
    user = me(state, ctx)
    require_roles(user)
    channel, thread_id = opt_str(req, "channel"), opt_str(req, "thread_id")
    if not channel and not thread_id:
        raise ProtocolError(texts.PIN_CHANNEL_REQUIRED)
    # a thread: CTX (view on its forum; pins are moderation, so closed threads take them too)
    ch = ctx_target(state, user, channel, thread_id, closed_ok=True).channel if thread_id else state.channel(channel)
    if ch is None or not may_pin(ch, user):  # an unknown channel too: its existence is not told
        raise ProtocolError(texts.PIN_DENIED)
    mid = required_str(req, "id", texts.MESSAGE_ID_REQUIRED)
    then = partial(_pin_target_read, pin=pin, thread_id=thread_id or None)
    return Step(state, (Fetch(PinTarget(ch.id, mid, thread_id or None), then),))


@command("message_pin")
def handle_message_pin(state: ServerState, ctx: Context, req: Request) -> Step:
    # `"pinned": false` unpins (the official client's "Unpin"); the original ignored the field
    return _pin_request(state, ctx, req, pin=req.get("pinned") is not False)


@command("message_unpin")
def handle_message_unpin(state: ServerState, ctx: Context, req: Request) -> Step:
    return _pin_request(state, ctx, req, pin=False)


def _pin_target_read(state: ServerState, ctx: Context, req: Request, result: tuple[Message | None, int], *,
                     pin: bool, thread_id: str | None) -> Step:
    found, pins = result
    m = not_deleted(state, found)
    ch = state.channel_by_id(m.channel_id) if m is not None else None
    if m is None or ch is None:
        raise ProtocolError(texts.MESSAGE_NOT_FOUND)
    user = me(state, ctx)
    if not may_pin(ch, user):  # changed while the message was read
        raise ProtocolError(texts.PIN_DENIED)
    limit = state.settings.content.pins_per_channel
    if pin and not is_pinned(state, m) and pins >= limit:
        raise ProtocolError(texts.too_many_pins(limit))
    state = attrs.evolve(state, recent_pins={**recent(state.recent_pins, ctx.now, lambda v: v[1]),
                                             m.id: (pin, ctx.now)})
    if req.cmd == "message_unpin":
        packet = packets.message_unpin(id=m.id, channel=ch.name, thread_id=thread_id)
    else:
        packet = packets.message_pin(id=m.id, channel=ch.name, pinned=pin, thread_id=thread_id)
    action = "message_pin" if pin else "message_unpin"
    entry = audit(ctx, user.id, "message_moderation", action, target=m.id, details={"channel": ch.name})
    write = MessagePinned(m.id) if pin else MessageUnpinned(m.id)
    return Step(state, (Persist((write, entry), global_packet(state, ctx, ch, packet)),))


# ---- messages_pinned --------------------------------------------------------------------------


@command("messages_pinned")
def handle_messages_pinned(state: ServerState, ctx: Context, req: Request) -> Step:
    thread_id = opt_str(req, "thread_id")
    if not opt_str(req, "channel") and not thread_id:
        raise ProtocolError(texts.PIN_CHANNEL_REQUIRED)
    ch = text_target(state, me(state, ctx), req)
    op = Pinned(ch.id, state.settings.content.pins_per_channel, thread_id or None)
    return Step(state, (Fetch(op, partial(_pinned_read, channel=ch.name, thread_id=thread_id or None)),))


def _pinned_read(state: ServerState, ctx: Context, req: Request, messages: list[Message], *,
                 channel: str, thread_id: str | None) -> Step:
    still = [m for m in messages if is_pinned(state, m)]  # an unpin may be decided since the read
    return Step(state, (Reply(packets.messages_pinned(channel, visible(state, still), thread_id)),))
