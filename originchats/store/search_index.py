"""The search indexes' upkeep in the writer (migrations/0008_search_index.sql, 0009_search_grams.sql):
new and edited messages wait in `search_pending` and are indexed in batches, inside the writer's
group transaction (store/writer.py); the reads are in store/reads.py `search`."""

from __future__ import annotations

import sqlite3


def index_pending(con: sqlite3.Connection, at_least: int = 1) -> int:
    """Move the messages waiting in `search_pending` into the search index when at least `at_least`
    of them wait, in one statement (FTS5 writes one segment for it), inside the caller's
    transaction. Returns how many were indexed."""
    waiting = con.execute("SELECT COUNT(*) FROM search_pending").fetchone()[0]
    if waiting < max(at_least, 1):
        return 0
    # their scopes first (a scope is made when its first message is indexed), then the rows in seq
    # order, each with its scope's code (0005_pins_search.sql)
    con.execute(
        "INSERT INTO search_scopes(channel_id, thread_key)"
        " SELECT DISTINCT m.channel_id, COALESCE(m.thread_id, '') FROM search_pending p"
        " CROSS JOIN messages m ON m.seq = p.seq WHERE NOT EXISTS (SELECT 1 FROM search_scopes"
        " WHERE channel_id = m.channel_id AND thread_key = COALESCE(m.thread_id, ''))")
    con.execute(
        "INSERT INTO messages_fts(rowid, scope, content)"
        " SELECT m.seq, char(57344 + s.id / 40960000 % 6400, 57344 + s.id / 6400 % 6400, 57344 + s.id % 6400),"
        " m.content FROM search_pending p CROSS JOIN messages m ON m.seq = p.seq"
        " CROSS JOIN search_scopes s ON s.channel_id = m.channel_id AND s.thread_key = COALESCE(m.thread_id, '')"
        " ORDER BY p.seq")
    # and into the word-pair grams of their scope (0009_search_grams.sql, store/grams.py)
    con.execute(
        "INSERT INTO search_grams(rowid, grams) SELECT m.seq, oc_search_grams(s.id, m.content)"
        " FROM search_pending p CROSS JOIN messages m ON m.seq = p.seq"
        " CROSS JOIN search_scopes s ON s.channel_id = m.channel_id AND s.thread_key = COALESCE(m.thread_id, '')"
        " ORDER BY p.seq")
    con.execute("DELETE FROM search_pending")
    return waiting


def index_all(con: sqlite3.Connection) -> int:
    """After a bulk load outside the server (a bench's prefill): every waiting message into the
    search index, then the index merged into one segment, as migration 0008 leaves it (a bulk
    insert leaves merges half done, which the next few hundred small writes would finish). Runs
    in its own transaction; returns how many were indexed."""
    con.execute("BEGIN IMMEDIATE")
    try:
        done = index_pending(con)
        con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
        con.execute("INSERT INTO search_grams(search_grams) VALUES ('optimize')")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return done
