-- A cheaper search index (replaces the index of 0005_pins_search.sql; never edit this file after it
-- has merged: add a new migration instead). docs/performance.md, "Search index", has the figures.
--
-- 0005's triggers wrote each message into the FTS5 index in the statement that inserted it. FTS5
-- writes its pending terms out as a new segment whenever a statement savepoint opens, and every
-- message insert opens one (the table has triggers and constraints), so each message became a
-- segment of its own, merged again and again: in bulk as costly as one per commit. Now:
--
-- * A new message only gets a row in `search_pending` (its seq). The writer moves the waiting
--   messages into the index together, in one statement at the end of a commit group, once at least
--   `storage.search_batch` of them wait (store/sql.py `index_pending`), in that group's
--   transaction. A search reads the index, plus the waiting messages of its channel or thread one
--   by one, so its answer is the same whether a message waits or is indexed (store/reads.py
--   `search`).
-- * An edit or a delete takes the message out of the index in its own statement, or only out of
--   `search_pending` when it was still waiting; an edited message waits again with its new text.
--   The index is contentless, as in 0005: removing a row needs the values it was indexed with,
--   which the triggers take from the old row. Channel and thread deletion delete their messages,
--   and so their index rows, in the same statement.
-- * `detail = none`: the index keeps which messages hold each trigram, not where. A query becomes
--   the AND of a few of its trigrams, and each candidate is checked with the original's substring
--   test: about a fifth of the bytes per message, and less to merge. `columnsize = 0`: no per-row
--   sizes (ranking needs them; search orders by seq).
-- * Each row still carries its scope's code (0005), which a search in a small channel or thread
--   asks for beside the trigrams.
--
-- Invariant: every message is either in `search_pending` or in the index with its current
-- content, channel and thread, never both; the index holds nothing else. A scope is made when its
-- first message is indexed, and is never deleted.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE messages_fts USING fts5(scope, content, content = '', tokenize = 'trigram',
                                             detail = none, columnsize = 0);

CREATE TABLE search_pending (seq INTEGER PRIMARY KEY);

CREATE TRIGGER search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO search_pending(seq) VALUES (NEW.seq);
END;

CREATE TRIGGER search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, scope, content)
        SELECT 'delete', OLD.seq, char(57344 + id / 40960000 % 6400, 57344 + id / 6400 % 6400, 57344 + id % 6400),
               OLD.content
        FROM search_scopes WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '')
                             AND NOT EXISTS (SELECT 1 FROM search_pending WHERE seq = OLD.seq);
    DELETE FROM search_pending WHERE seq = OLD.seq;
END;

CREATE TRIGGER search_update AFTER UPDATE OF content, channel_id, thread_id, seq ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, scope, content)
        SELECT 'delete', OLD.seq, char(57344 + id / 40960000 % 6400, 57344 + id / 6400 % 6400, 57344 + id % 6400),
               OLD.content
        FROM search_scopes WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '')
                             AND NOT EXISTS (SELECT 1 FROM search_pending WHERE seq = OLD.seq);
    DELETE FROM search_pending WHERE seq = OLD.seq;
    INSERT INTO search_pending(seq) VALUES (NEW.seq);
END;

-- the messages stored before this migration, indexed in one statement...
INSERT INTO search_scopes(channel_id, thread_key)
    SELECT channel_id, COALESCE(thread_id, '') FROM messages m
    WHERE NOT EXISTS (SELECT 1 FROM search_scopes WHERE channel_id = m.channel_id AND thread_key = COALESCE(m.thread_id, ''))
    GROUP BY 1, 2;
INSERT INTO messages_fts(rowid, scope, content)
    SELECT m.seq, char(57344 + s.id / 40960000 % 6400, 57344 + s.id / 6400 % 6400, 57344 + s.id % 6400), m.content
    FROM messages m CROSS JOIN search_scopes s ON s.channel_id = m.channel_id AND s.thread_key = COALESCE(m.thread_id, '');
-- ...and merged into one segment: a bulk insert leaves merges half done, which the next few hundred
-- small writes would otherwise finish (~0.5-1 ms each instead of ~0.05 ms)
INSERT INTO messages_fts(messages_fts) VALUES ('optimize');
