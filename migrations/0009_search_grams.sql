-- A second search index: word-pair grams per channel or thread (never edit this file after it has
-- merged: add a new migration instead). docs/performance.md, "Issue 8", has the figures.
--
-- The trigram index (0008) answers any query, but it holds no channel (a search walks every
-- channel's candidates newest first, and drops the others' after fetching their rows), and two
-- common words put together are no rarer in it than each word alone: every one of their trigrams
-- is common, so a rare pair of common words costs a walk through the whole history. A query that
-- holds a space between two runs of at least three other characters is now answered from this
-- index instead: each message is indexed under the grams of its lowercased text (store/grams.py:
-- seven characters centred on such a space, ASCII only), each gram tagged with its scope, so
-- the candidates are only the scope's messages holding that end of one word next to that start
-- of the next. Every candidate is still checked against the whole query, as before.
--
-- The tokens come from the application function `oc_search_grams(scope id, content)`, which the
-- store registers on every connection it opens (store/db.py `open_db`, store/migrate.py); a
-- connection without it cannot delete or edit messages (the triggers below call it).
--
-- Invariant (0008's, widened): every message is either in `search_pending` or in both indexes
-- with its current content, channel and thread, never both; the indexes hold nothing else.
-- store/sql.py `index_pending` fills both from `search_pending` in the same transaction.
CREATE VIRTUAL TABLE search_grams USING fts5(grams, content = '', tokenize = 'ascii', detail = none,
                                             columnsize = 0);

DROP TRIGGER search_delete;
DROP TRIGGER search_update;

CREATE TRIGGER search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, scope, content)
        SELECT 'delete', OLD.seq, char(57344 + id / 40960000 % 6400, 57344 + id / 6400 % 6400, 57344 + id % 6400),
               OLD.content
        FROM search_scopes WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '')
                             AND NOT EXISTS (SELECT 1 FROM search_pending WHERE seq = OLD.seq);
    INSERT INTO search_grams(search_grams, rowid, grams)
        SELECT 'delete', OLD.seq, oc_search_grams(id, OLD.content)
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
    INSERT INTO search_grams(search_grams, rowid, grams)
        SELECT 'delete', OLD.seq, oc_search_grams(id, OLD.content)
        FROM search_scopes WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '')
                             AND NOT EXISTS (SELECT 1 FROM search_pending WHERE seq = OLD.seq);
    DELETE FROM search_pending WHERE seq = OLD.seq;
    INSERT INTO search_pending(seq) VALUES (NEW.seq);
END;

-- the messages already in the trigram index (the waiting ones join both indexes together later),
-- in one statement, then merged into one segment (as 0008 does)
INSERT INTO search_grams(rowid, grams)
    SELECT m.seq, oc_search_grams(s.id, m.content)
    FROM messages m CROSS JOIN search_scopes s ON s.channel_id = m.channel_id AND s.thread_key = COALESCE(m.thread_id, '')
    WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE seq = m.seq)
    ORDER BY m.seq;
INSERT INTO search_grams(search_grams) VALUES ('optimize');
