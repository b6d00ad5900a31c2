"""The reads behind the core's `Fetch` operations: one function per read operation of core/ops.py,
each `fn(con, op) -> result` (the result type the operation documents), and `READS`, the table
from operation type to function. The shell runs them on the reader connection off the trio thread
(server/ops.py); the offline operator path runs them on its own connection. Plain SQL, named
parameters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from ..core import ops
from ..core.model import Message
from . import grams as word_grams
from .polls import POLL_READS
from .rows import BLOCK_BITS, thread_clause as _thread_clause, with_reactions as _with_reactions
from .sql import MESSAGE_COLUMNS, retention_clause
from .unread_reads import UNREAD_READS

# ---- messages ---------------------------------------------------------------------------------


def get_message(con: sqlite3.Connection, op: ops.GetMessage) -> Message | None:
    rows = con.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages"
        f" WHERE id = :id AND channel_id = :cid AND {_thread_clause(op.thread_id)}",
        {"id": op.message_id, "cid": op.channel_id, "tid": op.thread_id},
    ).fetchall()
    found = _with_reactions(con, rows)
    return found[0] if found else None


def history(con: sqlite3.Connection, op: ops.History) -> list[Message]:
    rows = con.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = :cid AND {_thread_clause(op.thread_id)}"
        " ORDER BY seq DESC LIMIT :limit OFFSET :start",
        {"cid": op.channel_id, "tid": op.thread_id, "limit": op.limit, "start": op.start},
    ).fetchall()
    rows.reverse()
    return _with_reactions(con, rows)




def count_before(con: sqlite3.Connection, where: str, p: dict[str, Any]) -> int:
    """How many messages matching `where` (one channel or thread) have a seq below `p["seq"]`:
    the kept per-block counts of the whole blocks before it, plus a count inside its own block."""
    lo = (p["seq"] >> BLOCK_BITS) << BLOCK_BITS
    whole = con.execute("SELECT COALESCE(SUM(n), 0) FROM message_blocks WHERE channel_id = :cid"
                        " AND thread_key = COALESCE(:tid, '') AND block < :block",
                        {**p, "block": lo >> BLOCK_BITS}).fetchone()[0]
    part = con.execute(f"SELECT COUNT(*) FROM messages WHERE {where} AND seq >= :lo AND seq < :seq",
                       {**p, "lo": lo}).fetchone()[0]
    return whole + part


def around(con: sqlite3.Connection, op: ops.Around) -> tuple[list[Message], int, int] | None:
    p = {"id": op.message_id, "cid": op.channel_id, "tid": op.thread_id}
    where = f"channel_id = :cid AND {_thread_clause(op.thread_id)}"
    hit = con.execute(f"SELECT seq FROM messages WHERE id = :id AND {where}", p).fetchone()
    if hit is None:
        return None
    p["seq"] = hit[0]
    index = count_before(con, where, p)
    older = con.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} AND seq < :seq"
                        " ORDER BY seq DESC LIMIT :n", {**p, "n": op.below}).fetchall()
    rest = con.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} AND seq >= :seq"
                       " ORDER BY seq ASC LIMIT :n", {**p, "n": op.above + 1}).fetchall()
    older.reverse()
    rows = older + rest
    start = index - len(older)
    return _with_reactions(con, rows), start, start + len(rows)


def last_messages(con: sqlite3.Connection, op: ops.LastMessages) -> dict[str, tuple[float, str]]:
    out = {}
    for cid in op.channel_ids:
        row = con.execute("SELECT timestamp, id FROM messages WHERE channel_id = :cid AND thread_id IS NULL"
                          " ORDER BY seq DESC LIMIT 1", {"cid": cid}).fetchone()
        if row is not None:
            out[cid] = (row[0], row[1])
    return out


def history_before(con: sqlite3.Connection, op: ops.HistoryBefore) -> list[Message]:
    # both queries use messages_by_channel (channel_id, thread_id, seq)
    p = {"id": op.message_id, "cid": op.channel_id, "tid": op.thread_id, "limit": op.limit}
    where = f"channel_id = :cid AND {_thread_clause(op.thread_id)}"
    hit = con.execute(f"SELECT seq FROM messages WHERE id = :id AND {where}", p).fetchone()
    if hit is None:
        return []
    rows = con.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} AND seq < :seq"
                       " ORDER BY seq DESC LIMIT :limit", {**p, "seq": hit[0]}).fetchall()
    rows.reverse()
    return _with_reactions(con, rows)


def last_message(con: sqlite3.Connection, op: ops.LastMessage) -> tuple[float, str] | None:
    row = con.execute(f"SELECT timestamp, id FROM messages WHERE channel_id = :cid AND {_thread_clause(op.thread_id)}"
                      " ORDER BY seq DESC LIMIT 1", {"cid": op.channel_id, "tid": op.thread_id}).fetchone()
    return None if row is None else (row[0], row[1])


# ---- the audit log ----------------------------------------------------------------------------

_AUDIT_COLUMNS = {"category": "category", "actor": "actor_id", "target": "target", "action": "action"}
_AUDIT_KEYS = ("id", "time", "category", "action", "actor_id", "target", "reason", "details")


def modlog_query(con: sqlite3.Connection, op: ops.ModlogQuery) -> tuple[list[dict[str, Any]], int]:
    params: dict[str, Any] = {"limit": op.limit, "offset": op.offset}
    where = [retention_clause(op.cutoffs, op.default_cutoff, params)]
    for i, (key, value) in enumerate(op.filters):
        if key == "after":
            where.append(f"time > :f{i}")
        else:
            where.append(f"{_AUDIT_COLUMNS[key]} = :f{i}")
        params[f"f{i}"] = value
    clause = " AND ".join(where)
    total = con.execute(f"SELECT COUNT(*) FROM audit_log WHERE {clause}", params).fetchone()[0]
    rows = con.execute(
        f"SELECT {', '.join(_AUDIT_KEYS)} FROM audit_log"
        f" WHERE {clause} ORDER BY time DESC, rowid DESC LIMIT :limit OFFSET :offset", params).fetchall()
    out = []
    for row in rows:
        entry = dict(zip(_AUDIT_KEYS, row))
        entry["details"] = None if entry["details"] is None else json.loads(entry["details"])
        out.append(entry)
    return out, total


def modlog_summary(con: sqlite3.Connection, op: ops.ModlogSummary) -> list[tuple[str, str, int]]:
    params: dict[str, Any] = {}
    clause = retention_clause(op.cutoffs, op.default_cutoff, params)
    return [tuple(r) for r in con.execute(
        f"SELECT category, action, COUNT(*) FROM audit_log WHERE {clause} GROUP BY category, action", params)]


# ---- pins, replies, search (migrations/0005_pins_search.sql and 0008 name the index each query uses)


def _pinned_count(con: sqlite3.Connection, channel_id: str, thread_id: str | None) -> int:
    # messages_pinned (partial index): as many rows as pins
    return con.execute(f"SELECT COUNT(*) FROM messages WHERE channel_id = :cid AND {_thread_clause(thread_id)}"
                       " AND pinned = 1", {"cid": channel_id, "tid": thread_id}).fetchone()[0]


def pin_target(con: sqlite3.Connection, op: ops.PinTarget) -> tuple[Message | None, int]:
    message = get_message(con, ops.GetMessage(op.channel_id, op.message_id, op.thread_id))
    return message, _pinned_count(con, op.channel_id, op.thread_id)


def pinned(con: sqlite3.Connection, op: ops.Pinned) -> list[Message]:
    rows = con.execute(  # messages_pinned
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE channel_id = :cid AND {_thread_clause(op.thread_id)}"
        " AND pinned = 1 ORDER BY seq DESC LIMIT :limit",
        {"cid": op.channel_id, "tid": op.thread_id, "limit": op.limit}).fetchall()
    return _with_reactions(con, rows)


def replies(con: sqlite3.Connection, op: ops.Replies) -> list[Message]:
    rows = con.execute(  # messages_by_reply
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE reply_to_id = :id AND channel_id = :cid"
        f" AND {_thread_clause(op.thread_id)} ORDER BY seq LIMIT :limit",
        {"id": op.message_id, "cid": op.channel_id, "tid": op.thread_id, "limit": op.limit}).fetchall()
    return _with_reactions(con, rows)


#: The trigram index serves queries of at least this many characters.
TRIGRAM = 3
#: The most trigrams of a query the index is asked for (their AND); each candidate is then checked
#: against the whole query. Each trigram costs the walk of one posting list, and a few
#: non-overlapping ones already leave few false candidates: at 1M messages a 30-40 character query
#: took ~13 ms with 12 trigrams, ~4-6 ms with 4 (docs/performance.md, "Search index").
SEARCH_TRIGRAMS = 4
#: A search asks the index for its scope's code (0005_pins_search.sql) only when the scope holds
#: less than 1/SCOPE_SHARE of all messages: the code's posting list is as long as the scope, and
#: walking it beside the trigrams' costs more than joining the candidates of a big scope to their
#: rows and dropping the others (at 1M messages: a channel with 63% of them searched ~2x faster
#: without it, one with 4.5% ~1.5x faster with it, a thread of 0.25% 2-3x faster with it).
SCOPE_SHARE = 8
#: The most word-pair grams of a query the grams index is asked for (their AND; store/grams.py).
#: One already leaves few candidates besides the matches: the end of one word next to the start of
#: the next, in one channel or thread.
SEARCH_GRAMS = 3
#: A scope's code: three characters of the private use area, base 6400 (the migration's `char(...)`).
_PUA, _BASE = 0xE000, 6400


def scope_code(scope_id: int) -> str:
    return "".join(chr(_PUA + d) for d in (scope_id // _BASE**2 % _BASE, scope_id // _BASE % _BASE, scope_id % _BASE))


def fts_phrase(text: str) -> str:
    """`text` as one FTS5 string: whatever it holds (quotes, `NEAR(`, `*`, `-`, `AND`, parentheses,
    `column:`) is matched literally, never parsed as query syntax."""
    return '"' + text.replace('"', '""') + '"'


def query_trigrams(query: str) -> list[str]:
    """Trigrams of `query` (at least TRIGRAM characters) that a message holding it holds too: the
    non-overlapping ones from its start and its last one, at most SEARCH_TRIGRAMS of them, spread
    over the whole query."""
    grams = [query[i:i + TRIGRAM] for i in range(0, len(query) - TRIGRAM + 1, TRIGRAM)]
    return _spread(list(dict.fromkeys([*grams, query[-TRIGRAM:]])), SEARCH_TRIGRAMS)


def _spread(items: list[str], most: int) -> list[str]:
    """At most `most` of `items`, the first and the last among them, the rest evenly between."""
    if len(items) <= most:
        return items
    step = (len(items) - 1) / (most - 1)
    return [items[round(k * step)] for k in range(most)]


def _matching(rows: Any, needle: str, limit: int) -> list[int]:
    """The seqs of the first `limit` rows `(seq, content)` whose content holds `needle` (lowercase),
    as the original matched; the cursor is closed after."""
    out: list[int] = []
    for seq, content in rows:
        if needle in content.lower():
            out.append(seq)
            if len(out) >= limit:
                break
    rows.close()
    return out


def _scope_share(con: sqlite3.Connection, p: dict[str, Any]) -> float:
    """About what share of all messages the channel or thread holds: its counts per block of 4096
    seqs (0002's message_blocks, one row per block), over the highest seq."""
    (n,) = con.execute("SELECT COALESCE(SUM(n), 0) FROM message_blocks WHERE channel_id = :cid"
                       " AND thread_key = COALESCE(:tid, '')", p).fetchone()
    (top,) = con.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()
    return n / top if top else 0.0


def search(con: sqlite3.Connection, op: ops.Search) -> list[Message]:
    p: dict[str, Any] = {"cid": op.channel_id, "tid": op.thread_id}
    needle = op.query.lower()
    if op.limit <= 0 or not op.query:
        return []
    where = f"m.channel_id = :cid AND m.{_thread_clause(op.thread_id)}"
    if len(op.query) < TRIGRAM or "\x00" in op.query:
        # the index cannot serve it (the trigram tokenizer also stops at NUL): the newest `scan`
        # messages of the channel or thread, by messages_by_channel
        rows = con.execute(f"SELECT seq, content FROM messages m WHERE {where} ORDER BY seq DESC LIMIT :scan",
                           {**p, "scan": op.scan})
        seqs = _matching(rows, needle, op.limit)
    else:
        # the messages not indexed yet (at most about `storage.search_batch`, all channels), one by one
        rows = con.execute("SELECT m.seq, m.content FROM search_pending q CROSS JOIN messages m ON m.seq = q.seq"
                           f" WHERE {where} ORDER BY q.seq DESC", p)
        seqs = _matching(rows, needle, op.limit)
        scope = con.execute("SELECT id FROM search_scopes WHERE channel_id = :cid AND thread_key = COALESCE(:tid, '')",
                            p).fetchone()
        pairs = word_grams.grams(needle)
        if scope is not None and pairs:
            # a query with a space between two words of three characters or more (0009_search_grams.sql):
            # this scope's messages holding its grams, newest first, joined to their rows by primary
            # key and checked against the whole query: at most `scan` candidates
            p["expr"] = " AND ".join(fts_phrase(word_grams.token(scope[0], g)) for g in _spread(pairs, SEARCH_GRAMS))
            rows = con.execute(
                "SELECT m.seq, m.content FROM search_grams g CROSS JOIN messages m ON m.seq = g.rowid"
                f" WHERE search_grams MATCH :expr AND {where} ORDER BY g.rowid DESC LIMIT :scan",
                {**p, "scan": op.scan})
            seqs = sorted({*seqs, *_matching(rows, needle, op.limit)}, reverse=True)[:op.limit]
        elif scope is not None:  # something here was indexed
            # the messages holding every trigram (of this scope, when it is small), newest first,
            # each joined to its row by primary key and kept only if it is in this channel or thread,
            # then checked against the whole query: at most `scan` candidates of this channel or thread
            grams = query_trigrams(op.query)
            if _scope_share(con, p) < 1 / SCOPE_SHARE:
                grams.insert(0, scope_code(scope[0]))
            p["expr"] = " AND ".join(fts_phrase(t) for t in grams)
            rows = con.execute(
                "SELECT m.seq, m.content FROM messages_fts f CROSS JOIN messages m ON m.seq = f.rowid"
                f" WHERE messages_fts MATCH :expr AND {where} ORDER BY f.rowid DESC LIMIT :scan",
                {**p, "scan": op.scan})
            seqs = sorted({*seqs, *_matching(rows, needle, op.limit)}, reverse=True)[:op.limit]
    if not seqs:
        return []
    marks = ",".join("?" * len(seqs))
    found = con.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq IN ({marks}) ORDER BY seq DESC",
                        seqs).fetchall()
    return _with_reactions(con, found)


#: Every read operation -> its function `(con, op) -> result`. The operations that are not reads
#: (password hashing, the Rotur check) have their runners in the shell (server/ops.py).
READS: dict[type, Callable[[sqlite3.Connection, Any], Any]] = {
    ops.GetMessage: get_message,
    ops.History: history,
    ops.Around: around,
    ops.LastMessages: last_messages,
    ops.ModlogQuery: modlog_query,
    ops.ModlogSummary: modlog_summary,
    ops.HistoryBefore: history_before,
    ops.LastMessage: last_message,
    ops.PinTarget: pin_target,
    ops.Pinned: pinned,
    ops.Replies: replies,
    ops.Search: search,
}
READS.update(POLL_READS)  # polls: store/polls.py
READS.update(UNREAD_READS)  # unreads and pings: store/unread_reads.py


def run_read(con: sqlite3.Connection, op: ops.Op) -> Any:
    return READS[type(op)](con, op)
