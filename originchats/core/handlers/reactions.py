"""message_react_add / message_react_remove (extended/reactions_pins_replies.md)."""

from __future__ import annotations

import re
from functools import partial

import attrs

from .. import packets, texts
from ..context import Context
from ..effects import Fetch, Persist, Step
from ..budget import message_size
from ..errors import ProtocolError
from ..model import Action, Message, User
from ..ops import GetMessage
from ..permissions import channel_allows, channel_allows_literal
from ..registry import command
from ..request import Request, wrong_type
from ..state import ServerState
from ..writes import ReactionAdded, ReactionRemoved
from .message_rules import current_reactions, ctx_channel, global_packet, not_deleted, open_thread, recent
from .common import me, rate_check, require_roles

# ---- reactions --------------------------------------------------------------------------------

#: A custom server emoji, as the official client sends it as a reaction: `originChats://<the server
#: as the client names it>/emojis/<emoji id>` (extended/reactions_pins_replies.md). Longer than
#: `limits.emoji_length` with any real host name, so it has a shape and a bound of its own (the
#: original's 200 characters) instead.
CUSTOM_EMOJI = re.compile(r"originChats://[^\s/?#]{1,160}/emojis/[A-Za-z0-9_-]{1,24}")


def _reaction_fields(state: ServerState, req: Request) -> tuple[str, str]:
    mid, emoji = req.get("id"), req.get("emoji")
    if not mid or not emoji:
        raise ProtocolError(texts.REACTION_FIELDS)
    if not isinstance(mid, str):
        raise wrong_type("id", "string", mid)
    if not isinstance(emoji, str) or (len(emoji) > state.settings.content.emoji_length
                                      and not CUSTOM_EMOJI.fullmatch(emoji)):
        raise ProtocolError(texts.INVALID_EMOJI)
    return mid, emoji


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
    return _react(state, ctx, req, user, mid, emoji, add=True)


@command("message_react_remove")
def handle_message_react_remove(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    mid, emoji = _reaction_fields(state, req)  # the fields are checked before the roles here, as the original did
    require_roles(user, nosrc=True)
    return _react(state, ctx, req, user, mid, emoji, add=False)


def _react(state: ServerState, ctx: Context, req: Request, user: User, mid: str, emoji: str, *, add: bool) -> Step:
    """The rest of an add or a remove: the channel, `view` and `react` (the original skipped the view
    check on add; reacting needs both), the broadcast rate limit, then the message is read."""
    target = ctx_channel(state, req, user)
    ch = target.channel
    if not channel_allows(ch, Action.VIEW, user.roles) or not channel_allows_literal(ch, Action.REACT, user.roles):
        raise ProtocolError(texts.REACT_ADD_DENIED if add else texts.REACT_REMOVE_DENIED)
    state, refusal = rate_check(state, ctx, user, broadcast=True)
    if refusal is not None:
        return Step(state, (refusal,))
    return Step(state, (Fetch(GetMessage(ch.id, mid, target.thread_id),
                              partial(_react_target_read, emoji=emoji, add=add)),))


def _react_target_read(state: ServerState, ctx: Context, req: Request, m: Message | None, *,
                       emoji: str, add: bool) -> Step:
    m = not_deleted(state, m)
    ch = state.channel_by_id(m.channel_id) if m is not None else None
    failure = texts.REACTION_ADD_FAILED if add else texts.REACTION_REMOVE_FAILED
    if req.get("thread_id") and (m is None or ch is None):  # threads.md: a missing thread message
        raise ProtocolError(texts.MESSAGE_NOT_FOUND)
    if m is None or ch is None:
        raise ProtocolError(failure)
    open_thread(state, m)
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
    packet = reacted_packet(id=m.id, emoji=emoji, channel=ch.name, from_=user.username, thread_id=m.thread_id)
    return Step(state, (Persist((write,), global_packet(state, ctx, ch, packet)),))

