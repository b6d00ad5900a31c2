"""Operations a handler cannot do itself, run by the shell off the trio thread (`Fetch.op`).

Each has a fixed result type, documented here, that the continuation receives.

The set is closed: `Op` (at the end) names every operation. The reads run from `store/reads.py`
`READS`; the shell's runner table (server/ops.py `OpRunner`) is `READS` plus its own entries for
password hashing and the Rotur check. tests/test_effect_tables.py fails when an operation here is
missing from `Op` or has no runner. To add an operation: the class here, its member in `Op`, its
function in `READS` (a read) or in `OpRunner`'s table (anything else).
"""

from __future__ import annotations

from typing import Union

import attrs


@attrs.frozen
class GetMessage:
    """Result: `Message | None` (only if it belongs to `channel_id`)."""

    channel_id: str
    message_id: str
    thread_id: str | None = None


@attrs.frozen
class History:
    """Result: `list[Message]`, oldest first: skip the `start` newest, then take `limit`."""

    channel_id: str
    start: int
    limit: int
    thread_id: str | None = None


@attrs.frozen
class Around:
    """Result: `(list[Message], start_index, end_index) | None` (None: target not in the channel).

    `below` older messages, the target, `above` newer ones; indices count from the oldest (0).
    """

    channel_id: str
    message_id: str
    above: int
    below: int
    thread_id: str | None = None


@attrs.frozen
class LastMessages:
    """Result: `dict[channel_id, (timestamp, message_id)]` for channels that have messages."""

    channel_ids: tuple[str, ...]


@attrs.frozen
class Busy:
    """The result of a password or Rotur operation the shell refused to start: its queue, or the
    share of the asking address (`source`), is full. The handler answers at once (`texts.AUTH_BUSY`)."""


BUSY = Busy()


@attrs.frozen
class HashPassword:
    """Result: `str` (an argon2id hash), or `BUSY`.

    `source` is the fairness key of the asker (`authguard.address_key` of the connection's IP):
    the shell serves the queues of different sources in turn and caps each one's share. None (the
    operator) is exempt from the caps."""

    password: str
    source: str | None = None


@attrs.frozen
class VerifyPassword:
    """Result: `bool`, or `BUSY` (see `HashPassword.source`)."""

    password_hash: str
    password: str
    source: str | None = None


@attrs.frozen
class RoturValidate:
    """Result: `dict` (the JSON body when the status is 200), or `None` when Rotur said no
    (non-200), or the string "error" when Rotur could not be reached or answered garbage, or
    `BUSY` when too many checks are in flight (in all, or for `source`)."""

    key: str
    validator: str
    source: str | None = None


#: Audit-log retention as the reads and the prune see it: `(category, cutoff)` pairs and the cutoff
#: of any other category. An entry is expired when its time is at or before its cutoff; None keeps it.
Cutoffs = tuple[tuple[str, "float | None"], ...]


@attrs.frozen
class ModlogQuery:
    """Result: `(rows, total)`: the unexpired audit rows matching `filters`, newest first, after
    skipping `offset` and taking `limit`, and the number of matches before paging. Each row is a dict
    with `id, time, category, action, actor_id, target, reason, details` (details decoded from JSON).

    `filters` pairs: ("category" | "actor" | "target" | "action", str) exact matches (actor is the
    actor's user id), ("after", float) strictly newer entries."""

    filters: tuple[tuple[str, object], ...]
    limit: int
    offset: int
    cutoffs: Cutoffs = ()
    default_cutoff: float | None = None


@attrs.frozen
class ModlogSummary:
    """Result: `list[(category, action, count)]` over every unexpired audit entry."""

    cutoffs: Cutoffs = ()
    default_cutoff: float | None = None


# ---- pins, replies, search (extended/reactions_pins_replies.md) --------------------------------


@attrs.frozen
class PinTarget:
    """Result: `(Message | None, pins)`: the message (only if it belongs to the channel or thread,
    as `GetMessage`) and how many messages of that channel or thread are pinned."""

    channel_id: str
    message_id: str
    thread_id: str | None = None


@attrs.frozen
class Pinned:
    """Result: `list[Message]`: the `limit` newest pinned messages of the channel or thread, newest first."""

    channel_id: str
    limit: int
    thread_id: str | None = None


@attrs.frozen
class Replies:
    """Result: `list[Message]`: the first `limit` messages of the channel or thread that reply to
    `message_id`, oldest first."""

    channel_id: str
    message_id: str
    limit: int
    thread_id: str | None = None


@attrs.frozen
class Search:
    """Result: `list[Message]`: the `limit` newest messages of the channel or thread whose content
    contains `query`, ignoring case, newest first. `scan` bounds the work: a query the trigram
    index cannot serve (under 3 characters, or holding NUL) looks at the `scan` newest messages
    only, and a long query checks at most `scan` candidates the index gives for its first
    characters."""

    channel_id: str
    query: str
    limit: int
    scan: int
    thread_id: str | None = None


#: Every operation a `Fetch` may ask for (`Busy` is a result, not an operation).
Op = Union[GetMessage, History, Around, LastMessages, ModlogQuery, ModlogSummary, HashPassword, VerifyPassword,
           RoturValidate, PinTarget, Pinned, Replies, Search]
