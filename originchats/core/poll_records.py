"""The poll records (extended/polls.md): a poll as stored, and a poll as a read returns it. Plain
frozen values, apart from the rules on them (core/polls.py) so that core/writes.py can name them."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class Poll:
    """A poll as stored (without its votes). `channel_id` is the channel the message is in (for a
    thread poll: the thread's parent channel); the wire names it by its current name."""

    id: str
    message_id: str
    channel_id: str
    thread_id: str | None
    question: str
    options: tuple[dict[str, Any], ...]  # {"id", "text"[, "emoji"]}, in display order
    allow_multiselect: bool
    expires_at: float | None
    created_by: str  # user id
    created_at: float
    ended: bool = False
    ended_at: float | None = None


@attrs.frozen(kw_only=True)
class PollRead:
    """A poll as `ops.ReadPoll` returns it: the record, the vote count of each option (in the order
    of `poll.options`), the asking user's votes (option ids, in vote order), and, when the poll was
    closed at the time of the read, each option's voters (user ids, in vote order)."""

    poll: Poll
    counts: tuple[int, ...]
    user_votes: tuple[str, ...] = ()
    voters: tuple[tuple[str, ...], ...] | None = None


@attrs.frozen(kw_only=True)
class PollTally:
    """What a message read carries about the poll of a poll message (store/reads.py): the vote
    count of each option (option id, votes, in display order) and whether the poll is ended, as
    stored when the message was read. The wire shows it inside the message's poll embed
    (core/polls.py `tallied`)."""

    poll_id: str
    votes: tuple[tuple[str, int], ...]
    ended: bool
    ended_at: float | None
