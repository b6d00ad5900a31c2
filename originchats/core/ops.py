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


# ---- threads (extended/threads.md) --------------------------------------------------------------


@attrs.frozen
class HistoryBefore:
    """Result: `list[Message]`, oldest first: the `limit` messages just older than `message_id`
    (empty when that message is not in the channel or thread)."""

    channel_id: str
    message_id: str
    limit: int
    thread_id: str | None = None


@attrs.frozen
class LastMessage:
    """Result: `(timestamp, message_id) | None`: the newest message of the channel or thread."""

    channel_id: str
    thread_id: str | None = None
# ---- polls (store/polls.py) -----------------------------------------------------------------


@attrs.frozen
class ReadPoll:
    """Result: `polls.PollRead | None`: the poll with id `poll_id` (when given) or else the poll of
    message `message_id`, its counts and the votes of `user_id`; its voters too when it is closed at
    `now` (ended, or expired)."""

    poll_id: str | None
    message_id: str | None
    user_id: str
    now: float


@attrs.frozen
class DuePolls:
    """Result: `(tuple[polls.PollRead, ...], float | None)`: at most `limit` open polls whose
    `expires_at` is at or before `now` (soonest first, with their voters), and the earliest
    `expires_at` after `now` among the open polls (None when there is none)."""

    now: float
    limit: int


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
           RoturValidate, HistoryBefore, LastMessage,
           ReadPoll, DuePolls, PinTarget, Pinned, Replies, Search]


# ---- unreads and pings (extended/unreads_pings.md) ---------------------------------------------
# Keyed by (channel_id, thread_id); thread_id None is the channel itself.


@attrs.frozen
class UnreadState:
    """Result: `list[(channel_id, thread_id, last_read_id | None, unread_count, total_messages)]`:
    one entry per `targets` pair, in that order, then one per thread of a `forum_ids` channel that
    the user has a read mark in. Counts are exact (kept counters and index ranges, no cap)."""

    user_id: str
    targets: tuple[tuple[str, str | None], ...]
    forum_ids: tuple[str, ...] = ()


@attrs.frozen
class ReadTarget:
    """Result: `str | None`: `message_id` when that message is in the channel/thread, else None;
    with `message_id` None, the id of the newest message there (None when it is empty)."""

    channel_id: str
    thread_id: str | None
    message_id: str | None


@attrs.frozen
class MarkBehind:
    """Result: `bool`: the user's read mark of the channel/thread is missing or older than
    `message_id` (which is there), i.e. acknowledging `message_id` would move it forward."""

    user_id: str
    channel_id: str
    thread_id: str | None
    message_id: str


@attrs.frozen
class PingsPage:
    """Result: `(list[Message], total)`: the messages that ping any of `targets` ('u:<user id>',
    'r:<role id>') in the channels `channel_ids` (their threads included), newest first, after
    skipping `offset` and taking `limit`; `total` counts them all. Each message once."""

    targets: tuple[str, ...]
    channel_ids: tuple[str, ...]
    limit: int
    offset: int


#: the reads above join the set
Op = Union[Op, UnreadState, ReadTarget, MarkBehind, PingsPage]  # type: ignore[misc]


# ---- what the shell runs itself (core/shell_ops.py) --------------------------------------------

from .shell_ops import DropBlobs, PluginsInfo, PluginsReload, PrepareImage, RemoveFile, RoturTier  # noqa: E402

Op = Union[Op, DropBlobs, RoturTier, PrepareImage, RemoveFile, PluginsInfo, PluginsReload]  # type: ignore[misc]
