"""Byte budgets of what a read returns: one message (`limits.message_bytes`), one channel or role
record (`limits.record_bytes`), and free-form JSON stored as sent (`limits.json_depth`).

A message is measured as `views.message_wire` would send it in any later read, with every user
name (author, replied-to author, each reactor) counted as NAME_BYTES whatever its length today,
so a rename cannot push a stored message past its budget (local names are at most 42 bytes), and a
poll embed with the widest counts a read can add to it (core/polls.py `tally_bound`). With
every message within `message_bytes`, a history page of n messages is at most
n x (message_bytes + 1) plus its envelope: config.sections.MESSAGE_BYTES_MAX keeps the largest page, a
`messages_around` of 200 + 1 + 200, under the per-socket outgoing cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import texts
from .errors import ProtocolError
from .jsonsize import Unstorable, json_size, str_size
from .model import Message
from .polls import tally_bound
from .settings import ContentLimits

#: What each user name in a message counts for (bytes, quotes excluded).
NAME_BYTES = 64
_NAME = "n" * NAME_BYTES
_ID = "0" * 36  # a message id (UUID) for a reply whose target is not known yet
_DEPTH = 16  # embeds are schema-checked: at most 5 levels inside a message


def reactions_size(reactions: Iterable[tuple[str, int]]) -> int:
    """Bytes `,"reactions":{...}` takes for (emoji, number of users) pairs, names at NAME_BYTES."""
    entries = [(emoji, n) for emoji, n in reactions if n]
    if not entries:
        return 0
    size = len(',"reactions":{}') + len(entries) - 1
    for emoji, n in entries:
        size += str_size(emoji) + 3 + n * (NAME_BYTES + 2) + n - 1  # "e":[..] with n names
    return size


def _probe(m: Message) -> dict[str, Any]:
    return {
        "user": _NAME, "content": m.content, "timestamp": m.timestamp, "id": m.id,
        "reply_to": {"id": m.reply_to_id or _ID, "user": _NAME}, "ping": False, "embeds": tally_bound(m.embeds),
        "attachments": m.attachments, "edited": True, "webhook": m.webhook, "pinned": False,
        "type": m.type or "message", "interaction": m.interaction,
    }


# a plain message (text only: the usual case) is its text plus this; measured once
_PLAIN = json_size(_probe(Message(id="", channel_id="", user_id="", content="", timestamp=0.0)), max_depth=_DEPTH)


def message_size(m: Message, reactions: Iterable[tuple[str, int]] | None = None) -> int:
    """An upper bound of the wire size of `m` in any read (see the module text). `reactions`
    replaces the message's own as (emoji, count) pairs."""
    if reactions is None:
        reactions = ((emoji, len(users)) for emoji, users in m.reactions)
    if m.embeds is None and m.attachments is None and m.webhook is None and m.interaction is None and m.type is None:
        size = _PLAIN + str_size(m.content) + str_size(m.id) - 4 + len(repr(m.timestamp)) - 3
        if m.reply_to_id is not None:
            size += str_size(m.reply_to_id) - str_size(_ID)
    else:
        size = json_size(_probe(m), max_depth=_DEPTH)
    return size + reactions_size(reactions)


def check_message(m: Message, limits: ContentLimits) -> None:
    """Refuse a message (new or edited) whose wire form could pass `limits.message_bytes`."""
    try:
        size = message_size(m)
    except Unstorable:  # not reachable after the embed schema check; refused all the same
        size = limits.message_bytes + 1
    if size > limits.message_bytes:
        raise ProtocolError(texts.message_too_large(limits.message_bytes))


def check_json(value: Any, field: str, limits: ContentLimits, *, extra_depth: int = 0) -> int:
    """Free-form JSON a client stores as sent: at most `json_depth` (+ `extra_depth`) levels,
    finite numbers, at most `record_bytes`. Returns its size."""
    try:
        return json_size(value, max_depth=limits.json_depth + extra_depth, limit=limits.record_bytes)
    except Unstorable as exc:
        if exc.why == "depth":
            raise ProtocolError(texts.nested_too_deeply(field, limits.json_depth)) from None
        if exc.why == "size":
            raise ProtocolError(texts.field_too_large(field, limits.record_bytes)) from None
        raise ProtocolError(texts.not_storable(field)) from None


def check_record(wire: dict[str, Any], what: str, limits: ContentLimits) -> None:
    """A channel or role as stored (its wire object) must fit in `record_bytes`."""
    try:
        json_size(wire, max_depth=limits.json_depth + 2, limit=limits.record_bytes)
    except Unstorable:
        raise ProtocolError(texts.record_too_large(what, limits.record_bytes)) from None
