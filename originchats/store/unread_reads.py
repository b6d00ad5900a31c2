"""The reads of unread state and the pings inbox (extended/unreads_pings.md;
migrations/0006_unreads_pings.sql names the index each query uses)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..core import ops
from ..core.model import Message
from .rows import BLOCK_BITS, thread_clause as _thread_clause, with_reactions as _with_reactions
from .sql import MESSAGE_COLUMNS


# ---- unreads and pings (migrations/0006_unreads_pings.sql) -------------------------------------


#: A channel or thread of at most this many messages is counted directly through its index range
#: (a few leaf pages) rather than by block counts: a thread's messages are spread thinly over the
#: blocks, and its few index entries are cheaper to count than another index to look in.
COUNT_DIRECTLY = 256


def count_after(con: sqlite3.Connection, channel_id: str, thread_id: str | None, seq: int,
                total: int | None = None) -> int:
    """How many messages of the channel/thread have a seq above `seq`: a count inside `seq`'s block
    (index `messages_by_channel`, a range of at most one block) plus the kept counts of the later
    blocks (`message_blocks` primary key). Its cost follows what was posted since `seq`. When the
    channel's `total` is given and small (`COUNT_DIRECTLY`), the index range after `seq` alone."""
    where = f"channel_id = :cid AND {_thread_clause(thread_id)}"
    block = seq >> BLOCK_BITS
    p = {"cid": channel_id, "tid": thread_id, "seq": seq, "hi": (block + 1) << BLOCK_BITS, "block": block}
    if total is not None and total <= COUNT_DIRECTLY:
        return con.execute(f"SELECT COUNT(*) FROM messages WHERE {where} AND seq > :seq", p).fetchone()[0]
    part = con.execute(f"SELECT COUNT(*) FROM messages WHERE {where} AND seq > :seq AND seq < :hi", p).fetchone()[0]
    rest = con.execute("SELECT COALESCE(SUM(n), 0) FROM message_blocks WHERE channel_id = :cid"
                       " AND thread_key = COALESCE(:tid, '') AND block > :block", p).fetchone()[0]
    return part + rest


#: One entry's row: its total and the scope's `removed`, then the mark: id, seq, pos, removed.
_Row = tuple[int | None, int | None, str | None, int | None, int | None, int | None]


def _unread_entry(con: sqlite3.Connection, channel_id: str, thread_id: str | None,
                  row: _Row) -> tuple[str, str | None, str | None, int, int]:
    total, removed, mark_id, mark_seq, pos, mark_removed = row
    total = total or 0
    if mark_id is None or mark_seq is None:
        return channel_id, thread_id, None, total, total
    if pos is not None and mark_removed == removed:
        # nothing at or before the mark came or went since it was set (0010_unread_positions.sql)
        return channel_id, thread_id, mark_id, total - pos, total
    return channel_id, thread_id, mark_id, count_after(con, channel_id, thread_id, mark_seq, total), total


@contextmanager
def snapshot(con: sqlite3.Connection) -> Iterator[None]:
    """The statements inside read one state of the database (a read transaction), unless the
    connection is in a transaction already."""
    if con.in_transaction:
        yield
        return
    con.execute("BEGIN")
    try:
        yield
    finally:
        con.execute("COMMIT")


def unread_state(con: sqlite3.Connection, op: ops.UnreadState) -> list[tuple[str, str | None, str | None, int, int]]:
    # one snapshot: a total and the block counts it is set against must not straddle a commit
    with snapshot(con):
        # every target's total and mark in one statement (primary keys of message_totals, read_marks)
        rows = con.execute(
            "SELECT t.n, t.removed, r.message_id, r.seq, r.pos, r.removed FROM json_each(:targets)"
            " LEFT JOIN message_totals t ON t.channel_id = json_each.value ->> 0"
            " AND t.thread_key = json_each.value ->> 1"
            " LEFT JOIN read_marks r ON r.user_id = :uid AND r.channel_id = json_each.value ->> 0"
            " AND r.thread_key = json_each.value ->> 1 ORDER BY json_each.key",
            {"uid": op.user_id, "targets": json.dumps([[cid, tid or ""] for cid, tid in op.targets])}).fetchall()
        out = [_unread_entry(con, cid, tid, row) for (cid, tid), row in zip(op.targets, rows, strict=True)]
        if op.forum_ids:
            threads = con.execute(  # read_marks primary key: the user's marks in those channels
                "SELECT r.channel_id, r.thread_key, t.n, t.removed, r.message_id, r.seq, r.pos, r.removed"
                " FROM read_marks r LEFT JOIN message_totals t ON t.channel_id = r.channel_id"
                " AND t.thread_key = r.thread_key WHERE r.user_id = :uid"
                " AND r.channel_id IN (SELECT value FROM json_each(:forums)) AND r.thread_key != ''"
                " ORDER BY r.channel_id, r.thread_key",
                {"uid": op.user_id, "forums": json.dumps(list(op.forum_ids))}).fetchall()
            out.extend(_unread_entry(con, cid, tk, row) for cid, tk, *row in threads)
    return out


def read_target(con: sqlite3.Connection, op: ops.ReadTarget) -> str | None:
    where = f"channel_id = :cid AND {_thread_clause(op.thread_id)}"
    p = {"cid": op.channel_id, "tid": op.thread_id, "id": op.message_id}
    if op.message_id is None:  # the newest (index messages_by_channel)
        row = con.execute(f"SELECT id FROM messages WHERE {where} ORDER BY seq DESC LIMIT 1", p).fetchone()
    else:
        row = con.execute(f"SELECT id FROM messages WHERE id = :id AND {where}", p).fetchone()
    return None if row is None else row[0]


def mark_behind(con: sqlite3.Connection, op: ops.MarkBehind) -> bool:
    row = con.execute(
        "SELECT (SELECT seq FROM read_marks WHERE user_id = :uid AND channel_id = :cid"
        " AND thread_key = COALESCE(:tid, '')), (SELECT seq FROM messages WHERE id = :mid)",
        {"uid": op.user_id, "cid": op.channel_id, "tid": op.thread_id, "mid": op.message_id}).fetchone()
    mark, seq = row
    return seq is not None and (mark is None or mark < seq)


def pings_page(con: sqlite3.Connection, op: ops.PingsPage) -> tuple[list[Message], int]:
    """Only the caller's targets' rows, never the history of the channels: the page is the newest
    `offset + limit` rows of each target (primary key (target, seq), read backwards) merged; the
    total is the kept `ping_counts`, less the messages that reach the caller through several
    targets (kept pair rows of `ping_counts`, and index `pings_many` for messages naming three or
    more)."""
    p = {"targets": json.dumps(list(op.targets)), "channels": json.dumps(list(op.channel_ids)),
         "n": op.offset + op.limit}
    mine = ("target IN (SELECT value FROM json_each(:targets))"
            " AND channel_id IN (SELECT value FROM json_each(:channels))")
    counted = con.execute(f"SELECT COALESCE(SUM(n), 0) FROM ping_counts WHERE {mine}", p).fetchone()[0]
    # the messages counted more than once (0011_ping_pairs.sql): those naming two targets from the
    # kept pair rows of the caller's targets; the rare ones naming three or more from their rows here
    pair_keys = json.dumps([f"{c}\x1f{t}" for c in op.channel_ids for t in op.targets])
    pairs = con.execute("SELECT COALESCE(SUM(n), 0) FROM ping_counts WHERE target IN (SELECT value FROM json_each(:targets))"
                        " AND channel_id IN (SELECT value FROM json_each(:pairs))", {**p, "pairs": pair_keys}).fetchone()[0]
    more = sum(j - 1 for (j,) in con.execute(
        f"SELECT COUNT(*) FROM pings INDEXED BY pings_many WHERE many = 1 AND {mine} GROUP BY seq", p))
    twice = pairs + more
    seqs: set[int] = set()
    for target in op.targets:
        seqs.update(r[0] for r in con.execute(
            "SELECT seq FROM pings WHERE target = :target AND channel_id IN (SELECT value FROM json_each(:channels))"
            " ORDER BY seq DESC LIMIT :n", {**p, "target": target}))
    page = sorted(seqs, reverse=True)[op.offset:op.offset + op.limit]
    if not page:
        return [], counted - twice
    marks = ",".join("?" * len(page))
    rows = con.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq IN ({marks}) ORDER BY seq DESC",
                       page).fetchall()
    return _with_reactions(con, rows), counted - twice


#: Every read operation -> its function `(con, op) -> result`. The operations that are not reads
#: (password hashing, the Rotur check) have their runners in the shell (server/ops.py).


UNREAD_READS: dict[type, Callable[[sqlite3.Connection, Any], Any]] = {
    ops.UnreadState: unread_state, ops.ReadTarget: read_target, ops.MarkBehind: mark_behind,
    ops.PingsPage: pings_page,
}
