-- A cheaper search index (replaces the index of 0005_pins_search.sql; never edit this file after it
-- has merged: add a new migration instead).
--
-- * `detail = none`: the index keeps which messages hold each trigram, not where. A query becomes
--   the AND of a few of its trigrams, and each candidate is checked with the original's substring
--   test (store/reads.py `search`). About a fifth of the bytes per message, and less to merge.
-- * `columnsize = 0`: no per-row sizes (ranking needs them; search orders by seq).
-- * The text is still not stored in the index (contentless, as in 0005): removing a row needs the
--   values it was indexed with, which the triggers take from the old row. The triggers are the
--   only writers, so the index changes in the same transaction (and savepoint) as the message
--   insert, edit and delete, channel and thread deletion included.
-- * Each row still carries its scope's code (0005), which a search in a small channel or thread
--   asks for beside the trigrams.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE messages_fts USING fts5(scope, content, content = '', tokenize = 'trigram',
                                             detail = none, columnsize = 0);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO search_scopes(channel_id, thread_key)
        SELECT NEW.channel_id, COALESCE(NEW.thread_id, '')
        WHERE NOT EXISTS (SELECT 1 FROM search_scopes
                          WHERE channel_id = NEW.channel_id AND thread_key = COALESCE(NEW.thread_id, ''));
    INSERT INTO messages_fts(rowid, scope, content)
        SELECT NEW.seq, char(57344 + id / 40960000 % 6400, 57344 + id / 6400 % 6400, 57344 + id % 6400), NEW.content
        FROM search_scopes WHERE channel_id = NEW.channel_id AND thread_key = COALESCE(NEW.thread_id, '');
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, scope, content)
        SELECT 'delete', OLD.seq, char(57344 + id / 40960000 % 6400, 57344 + id / 6400 % 6400, 57344 + id % 6400),
               OLD.content
        FROM search_scopes WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '');
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, channel_id, thread_id, seq ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, scope, content)
        SELECT 'delete', OLD.seq, char(57344 + id / 40960000 % 6400, 57344 + id / 6400 % 6400, 57344 + id % 6400),
               OLD.content
        FROM search_scopes WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '');
    INSERT INTO search_scopes(channel_id, thread_key)
        SELECT NEW.channel_id, COALESCE(NEW.thread_id, '')
        WHERE NOT EXISTS (SELECT 1 FROM search_scopes
                          WHERE channel_id = NEW.channel_id AND thread_key = COALESCE(NEW.thread_id, ''));
    INSERT INTO messages_fts(rowid, scope, content)
        SELECT NEW.seq, char(57344 + id / 40960000 % 6400, 57344 + id / 6400 % 6400, 57344 + id % 6400), NEW.content
        FROM search_scopes WHERE channel_id = NEW.channel_id AND thread_key = COALESCE(NEW.thread_id, '');
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
