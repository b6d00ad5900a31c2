"""The SQL of polls (migrations/0007): the writes of core/writes.py's poll facts and the reads of
core/ops.py's `ReadPoll` and `DuePolls`. store/sql.py `WRITERS` and store/reads.py `READS` take
their entries from `POLL_WRITERS` and `POLL_READS` here.

Every statement goes through an index (named in the comment); none walks a poll's votes except
`_voters`, which lists the voters of one closed poll (its output is that long anyway).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from ..core import ops
from ..core import writes as w
from ..core.poll_records import Poll, PollRead
from ..core.polls import closed

_OPEN = ("EXISTS (SELECT 1 FROM polls WHERE id = :p AND ended = 0"
         " AND (expires_at IS NULL OR expires_at > :t))")  # polls PRIMARY KEY


# ---- writes -----------------------------------------------------------------------------------


def _poll_created(con: sqlite3.Connection, fact: w.PollCreated) -> None:
    p = fact.poll
    con.execute(
        "INSERT INTO polls(id, message_id, channel_id, thread_id, question, options, allow_multiselect, expires_at,"
        " created_by, created_at, ended, ended_at) VALUES (:id, :mid, :cid, :tid, :q, :opts, :multi, :exp, :by,"
        " :at, :ended, :ended_at)",
        {"id": p.id, "mid": p.message_id, "cid": p.channel_id, "tid": p.thread_id, "q": p.question,
         "opts": json.dumps([dict(o) for o in p.options], separators=(",", ":"), ensure_ascii=False),
         "multi": int(p.allow_multiselect), "exp": p.expires_at, "by": p.created_by, "at": p.created_at,
         "ended": int(p.ended), "ended_at": p.ended_at})
    con.executemany("INSERT INTO poll_options(poll_id, position, option_id) VALUES (?, ?, ?)",
                    [(p.id, i, o["id"]) for i, o in enumerate(p.options)])


def _poll_voted(con: sqlite3.Connection, fact: w.PollVoted) -> None:
    base = {"p": fact.poll_id, "u": fact.user_id, "t": fact.at}
    if fact.remove:
        # poll_votes UNIQUE(poll_id, user_id, option_id)
        con.executemany(f"DELETE FROM poll_votes WHERE poll_id = :p AND user_id = :u AND option_id = :o AND {_OPEN}",
                        [{**base, "o": o} for o in fact.option_ids])
        return
    if fact.exclusive:
        con.execute(f"DELETE FROM poll_votes WHERE poll_id = :p AND user_id = :u AND option_id <> :o AND {_OPEN}",
                    {**base, "o": fact.option_ids[-1]})
    con.executemany(f"INSERT OR IGNORE INTO poll_votes(poll_id, option_id, user_id, voted_at)"
                    f" SELECT :p, :o, :u, :t WHERE {_OPEN}", [{**base, "o": o} for o in fact.option_ids])


def _poll_ended(con: sqlite3.Connection, fact: w.PollEnded) -> None:
    con.execute("UPDATE polls SET ended = 1, ended_at = :t WHERE id = :p AND ended = 0"
                " AND (expires_at IS NULL OR expires_at > :t)", {"p": fact.poll_id, "t": fact.at})


def _polls_expired(con: sqlite3.Connection, fact: w.PollsExpired) -> None:
    con.executemany("UPDATE polls SET ended = 1, ended_at = expires_at WHERE id = :p AND ended = 0"
                    " AND expires_at IS NOT NULL AND expires_at <= :now",
                    [{"p": pid, "now": fact.now} for pid in fact.poll_ids])


POLL_WRITERS: dict[type, Callable[[sqlite3.Connection, Any], None]] = {
    w.PollCreated: _poll_created, w.PollVoted: _poll_voted, w.PollEnded: _poll_ended,
    w.PollsExpired: _polls_expired,
}


# ---- reads ------------------------------------------------------------------------------------

_COLUMNS = ("id, message_id, channel_id, thread_id, question, options, allow_multiselect, expires_at, created_by,"
            " created_at, ended, ended_at")


def _poll_from_row(row: tuple) -> Poll:
    (pid, mid, cid, tid, question, options, multi, expires, by, at, ended, ended_at) = row
    return Poll(id=pid, message_id=mid, channel_id=cid, thread_id=tid, question=question,
                options=tuple(json.loads(options)), allow_multiselect=bool(multi), expires_at=expires,
                created_by=by, created_at=at, ended=bool(ended), ended_at=ended_at)


def _voters(con: sqlite3.Connection, poll: Poll) -> tuple[tuple[str, ...], ...]:
    by_option: dict[str, list[str]] = {o["id"]: [] for o in poll.options}
    for option_id, user_id in con.execute(  # poll_votes_by_poll
            "SELECT option_id, user_id FROM poll_votes WHERE poll_id = ? ORDER BY seq", (poll.id,)):
        by_option.setdefault(option_id, []).append(user_id)
    return tuple(tuple(by_option[o["id"]]) for o in poll.options)


def _complete(con: sqlite3.Connection, poll: Poll, user_id: str | None, now: float) -> PollRead:
    counts = {option_id: votes for option_id, votes in con.execute(  # poll_options PRIMARY KEY
        "SELECT option_id, votes FROM poll_options WHERE poll_id = ?", (poll.id,))}
    mine: tuple[str, ...] = ()
    if user_id is not None:
        mine = tuple(r[0] for r in con.execute(  # poll_votes UNIQUE(poll_id, user_id, option_id)
            "SELECT option_id FROM poll_votes WHERE poll_id = ? AND user_id = ? ORDER BY seq", (poll.id, user_id)))
    return PollRead(poll=poll, counts=tuple(counts.get(o["id"], 0) for o in poll.options), user_votes=mine,
                    voters=_voters(con, poll) if closed(poll, now) else None)


def read_poll(con: sqlite3.Connection, op: ops.ReadPoll) -> PollRead | None:
    if op.poll_id is not None:  # polls PRIMARY KEY
        row = con.execute(f"SELECT {_COLUMNS} FROM polls WHERE id = ?", (op.poll_id,)).fetchone()
    else:  # polls UNIQUE(message_id)
        row = con.execute(f"SELECT {_COLUMNS} FROM polls WHERE message_id = ?", (op.message_id,)).fetchone()
    if row is None:
        return None
    return _complete(con, _poll_from_row(row), op.user_id, op.now)


def due_polls(con: sqlite3.Connection, op: ops.DuePolls) -> tuple[tuple[PollRead, ...], float | None]:
    rows = con.execute(  # polls_expiring
        f"SELECT {_COLUMNS} FROM polls WHERE ended = 0 AND expires_at IS NOT NULL AND expires_at <= :now"
        " ORDER BY expires_at LIMIT :limit", {"now": op.now, "limit": op.limit}).fetchall()
    due = tuple(_complete(con, _poll_from_row(row), None, op.now) for row in rows)
    (following,) = con.execute(  # polls_expiring
        "SELECT MIN(expires_at) FROM polls WHERE ended = 0 AND expires_at IS NOT NULL AND expires_at > ?",
        (op.now,)).fetchone()
    return due, following


def next_expiry(con: sqlite3.Connection) -> float | None:
    """The earliest `expires_at` of an open poll (the state's `poll_alarm` at start)."""
    (soonest,) = con.execute(  # polls_expiring
        "SELECT MIN(expires_at) FROM polls WHERE ended = 0 AND expires_at IS NOT NULL").fetchone()
    return soonest


POLL_READS: dict[type, Callable[[sqlite3.Connection, Any], Any]] = {
    ops.ReadPoll: read_poll,
    ops.DuePolls: due_polls,
}
