"""Polls (extended/polls.md): the pure rules on a poll (its options, its expiry, the results object
clients see). The records are in core/poll_records.py, the commands in handlers/polls.py.

A poll is a message whose one embed has `type: "poll"`, plus a poll record and its votes
(migrations/0007). Votes are counted when they are written (per-option counters kept by SQL
triggers), so nothing here ever walks the votes except to list the voters of a closed poll.

Closed: a poll is closed once ended (`poll_end`) or once its `expires_at` has passed, judged with
the command's clock (`ctx.now`). A closed poll takes no votes, and its voters are shown; an
expired poll is also ended in storage and announced (`poll_end`) by the expiry timer
(server/timers.py `poll_expiry`), with `ended_at` = `expires_at` whenever that runs.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

from . import texts
from .context import Context
from .errors import ProtocolError
from .poll_records import Poll, PollRead, PollTally
from .settings import ContentLimits, PollLimits
from .state import ServerState

MIN_OPTIONS, MAX_OPTIONS = 2, 10
#: The latest expiry accepted (Unix seconds): every JSON reader holds it exactly (as embeds.INT_MAX).
MAX_EXPIRY = float(2**53 - 1)


# ---- expiry -----------------------------------------------------------------------------------


def expired(poll: Poll, now: float) -> bool:
    return poll.expires_at is not None and now >= poll.expires_at


def closed(poll: Poll, now: float) -> bool:
    return poll.ended or expired(poll, now)


def ended_by_hand(poll: Poll) -> bool:
    """Ended with `poll_end` before it expired (an expired poll is ended at its `expires_at`)."""
    return poll.ended and (poll.expires_at is None or (poll.ended_at or 0.0) < poll.expires_at)


def ended_at(poll: Poll, now: float) -> float | None:
    if poll.ended:
        return poll.ended_at
    return poll.expires_at if expired(poll, now) else None


def closed_error(poll: Poll, now: float) -> str | None:
    """Why a vote on `poll` is refused now, or None while it is open."""
    if ended_by_hand(poll):
        return texts.POLL_HAS_ENDED
    if closed(poll, now):
        return texts.POLL_HAS_EXPIRED
    return None


# ---- what a client sees -----------------------------------------------------------------------


def results(state: ServerState, read: PollRead, now: float, *, voted: bool = False) -> dict[str, Any]:
    """The results object. `voters` stays empty while the poll is open, and lists usernames once
    it is closed (everywhere: the original sent user ids, even while open, in most packets)."""
    poll = read.poll
    done = closed(poll, now)
    rows = []
    for i, option in enumerate(poll.options):
        voters: list[str] = []
        if done and read.voters is not None:
            voters = [state.username_of(uid) for uid in read.voters[i]]
        row: dict[str, Any] = {"id": option["id"], "text": option["text"], "emoji": option.get("emoji"),
                               "votes": read.counts[i], "voters": voters}
        if voted:
            row["voted"] = option["id"] in read.user_votes
        rows.append(row)
    return {"poll_id": poll.id, "question": poll.question, "allow_multiselect": poll.allow_multiselect,
            "ended": done, "ended_at": ended_at(poll, now), "total_votes": sum(read.counts), "results": rows}


def embed(poll: Poll) -> dict[str, Any]:
    """The stored message's poll embed. It carries the poll id (the original's did not), which is
    what the official client looks for to redraw a poll on `poll_vote_update` and `poll_end`."""
    return {"type": "poll",
            "poll": {"id": poll.id, "question": poll.question, "options": [dict(o) for o in poll.options],
                     "allow_multiselect": poll.allow_multiselect, "expires_at": poll.expires_at},
            "title": poll.question}


def tallied(embeds: Any, tally: PollTally) -> Any:
    """The embeds of a poll message as a read shows them: the poll's embed (the one whose
    `poll.id` is the tally's) gets each option's `votes`, and `total_votes`, `ended` and
    `ended_at` as the results object has them. The original's stored message never carried
    counts, and the official client shows counts only from the message it holds (it does not
    redraw a poll on `poll_vote_update`), so without them its polls showed 0 votes forever."""
    if not isinstance(embeds, list):
        return embeds
    return [_with_counts(e, tally) if poll_of(e, tally.poll_id) is not None else e for e in embeds]


def poll_of(embed: Any, poll_id: str | None) -> dict[str, Any] | None:
    """The `poll` object of a poll embed with a list of options (and, unless `poll_id` is None,
    that id), else None."""
    if not isinstance(embed, dict) or embed.get("type") != "poll":
        return None
    poll = embed.get("poll")
    if not isinstance(poll, dict) or not isinstance(poll.get("options"), list):
        return None
    return poll if poll_id is None or poll.get("id") == poll_id else None


def _with_counts(embed: dict[str, Any], tally: PollTally) -> dict[str, Any]:
    poll = embed["poll"]
    votes = dict(tally.votes)
    options = [{**o, "votes": votes.get(o.get("id"), 0)} if isinstance(o, dict) else o for o in poll["options"]]
    counted = {**poll, "options": options, "total_votes": sum(votes.values()), "ended": tally.ended,
               "ended_at": tally.ended_at}
    return {**embed, "poll": counted}


#: The widest numbers a tally can show, for core/budget.py's bound of a message as read.
_WIDEST = 2**53 - 1
_WIDEST_TIME = -1.7976931348623157e308


def tally_bound(embeds: Any) -> Any:
    """`embeds` with every poll embed counted as widely as any read can show it (see `tallied`),
    so that a message's byte budget holds for its reads, counts included."""
    if not isinstance(embeds, list) or not any(poll_of(e, None) is not None for e in embeds):
        return embeds
    out = []
    for e in embeds:
        poll = poll_of(e, None)
        if poll is not None:
            ids = [o.get("id") for o in poll["options"] if isinstance(o, dict)]
            widest = PollTally(poll_id="", votes=tuple((i, _WIDEST) for i in ids), ended=False,
                               ended_at=_WIDEST_TIME)
            e = _with_counts(e, widest)
            e["poll"]["total_votes"] = _WIDEST
        out.append(e)
    return out


def channel_name(state: ServerState, poll: Poll) -> str | None:
    ch = state.channel_by_id(poll.channel_id)
    return ch.name if ch is not None else None


# ---- poll_create's input ----------------------------------------------------------------------


def normalize_options(raw: list[Any], limits: PollLimits, content: ContentLimits) -> tuple[dict[str, Any], ...]:
    """The options as stored: a string at position i becomes {"id": "<i>", "text": s}; an object
    keeps `id` (else "<i>"), `text` and `emoji`. Each must fit `[polls]` and the ids must differ."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, option in enumerate(raw):
        if isinstance(option, str):
            option = {"text": option}
        elif not isinstance(option, dict):
            raise ProtocolError(texts.option_not_text_or_object(i))
        if "text" not in option:
            raise ProtocolError(texts.option_needs_text(i))
        text = option["text"]
        if not isinstance(text, str) or len(text) > limits.option_length:
            raise ProtocolError(texts.option_text_invalid(i, limits.option_length))
        oid = option.get("id", str(i))
        if not isinstance(oid, str) or not 1 <= len(oid) <= limits.option_id_length:
            raise ProtocolError(texts.option_id_invalid(i, limits.option_id_length))
        if oid in seen:
            raise ProtocolError(texts.option_id_duplicate(i))
        seen.add(oid)
        kept: dict[str, Any] = {"id": oid, "text": text}
        emoji = option.get("emoji")
        if emoji is not None:
            if not isinstance(emoji, str) or len(emoji) > content.emoji_length:
                raise ProtocolError(texts.option_emoji_invalid(i, content.emoji_length))
            kept["emoji"] = emoji
        out.append(kept)
    return tuple(out)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def expiry(expires_at: Any, duration_hours: Any, now: float) -> float | None:
    """`expires_at` (Unix seconds) as sent, else `now + duration_hours * 3600` when that is given
    (as the original: a falsy duration means none); it must lie in the future."""
    if expires_at is None:
        if duration_hours is None or duration_hours == 0 or duration_hours is False:
            return None
        hours = _number(duration_hours)
        if hours is None or hours <= 0:
            raise ProtocolError(texts.POLL_DURATION_INVALID)
        at = now + hours * 3600
    else:
        number = _number(expires_at)
        if number is None:
            raise ProtocolError(texts.POLL_EXPIRY_INVALID)
        at = number
    if not now < at <= MAX_EXPIRY:
        raise ProtocolError(texts.POLL_EXPIRY_INVALID if expires_at is not None else texts.POLL_DURATION_INVALID)
    return at


def second_id(ctx: Context) -> str:
    """A second UUID v4 for a command that creates two things (a poll and its message): built
    from the context's fresh random token (or, without one, from its id), so still made by the
    shell, never by the core."""
    if len(ctx.new_token) >= 22:
        raw = base64.urlsafe_b64decode(ctx.new_token[:22] + "==")[:16]
    else:
        raw = hashlib.sha256(("poll:" + ctx.new_id).encode()).digest()[:16]
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[raw[8] & 3]}{h[17:20]}-{h[20:32]}"
