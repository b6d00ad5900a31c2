"""What the read functions share: message rows with their reactions and poll counts, the
thread clause, and the block size of the per-block message counts (migrations/0002)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import attrs

from ..core.model import Message
from ..core.poll_records import PollTally
from .sql import message_from_row

BLOCK_BITS = 12  # migrations/0002: message_blocks counts messages per 4096 consecutive seq values


def with_reactions(con: sqlite3.Connection, rows: Sequence[tuple]) -> list[Message]:
    if not rows:
        return []
    ids = [r[0] for r in rows]
    by_msg: dict[str, dict[str, list[str]]] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        marks = ",".join("?" * len(part))
        for mid, emoji, uid in con.execute(
            f"SELECT message_id, emoji, user_id FROM reactions WHERE message_id IN ({marks}) ORDER BY seq", part
        ):
            by_msg.setdefault(mid, {}).setdefault(emoji, []).append(uid)
    tallies = _poll_tallies(con, rows)
    return [attrs.evolve(m, poll_tally=tallies[m.id]) if m.id in tallies else m
            for m in (message_from_row(r, tuple((e, tuple(us)) for e, us in by_msg.get(r[0], {}).items()))
                      for r in rows)]


_EMBEDS = 9  # the position of `embeds` in MESSAGE_COLUMNS


def _poll_tallies(con: sqlite3.Connection, rows: Sequence[tuple]) -> dict[str, PollTally]:
    """The counts of the polls of the poll messages among `rows` (core/polls.py `tallied` shows
    them). Only a message whose stored embeds name a poll is looked up (polls UNIQUE(message_id),
    then poll_options PRIMARY KEY): a page without polls costs no query."""
    ids = [r[0] for r in rows if r[_EMBEDS] is not None and '"poll"' in r[_EMBEDS]]
    found: dict[str, tuple[str, bool, float | None, list[tuple[str, int]]]] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        marks = ",".join("?" * len(part))
        for mid, pid, ended, ended_at, option_id, votes in con.execute(
            "SELECT p.message_id, p.id, p.ended, p.ended_at, o.option_id, o.votes FROM polls p"
            f" JOIN poll_options o ON o.poll_id = p.id WHERE p.message_id IN ({marks}) ORDER BY o.poll_id, o.position",
            part,
        ):
            found.setdefault(mid, (pid, bool(ended), ended_at, []))[3].append((option_id, votes))
    return {mid: PollTally(poll_id=pid, votes=tuple(counts), ended=ended, ended_at=ended_at)
            for mid, (pid, ended, ended_at, counts) in found.items()}


def thread_clause(thread_id: str | None) -> str:
    return "thread_id IS NULL" if thread_id is None else "thread_id = :tid"
