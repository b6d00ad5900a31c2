-- Pins, replies and search (extended/reactions_pins_replies.md). Never edit this file after it has
-- merged: add a new migration instead.
--
-- Pins are the `pinned` column of `messages` and replies its `reply_to_id` column, so deleting a
-- message (or all messages of a channel or thread) takes its pin and its place in reply lists with
-- it. These two partial indexes serve the lists without a scan of history:
--   messages_pinned:   SELECT ... WHERE channel_id = ? AND thread_id IS ? AND pinned = 1 ORDER BY seq DESC
--                      (and the count of a channel's pins, for limits.pins_per_channel)
--   messages_by_reply: SELECT ... WHERE reply_to_id = ? AND channel_id = ? ... ORDER BY seq
CREATE INDEX messages_pinned ON messages(channel_id, thread_id, seq) WHERE pinned = 1;
CREATE INDEX messages_by_reply ON messages(reply_to_id, seq) WHERE reply_to_id IS NOT NULL;

-- Search: an FTS5 index of every message's `content` with the trigram tokenizer, which matches a
-- case-insensitive substring (what the original's `query in content` did) for queries of three or
-- more characters. Each row also carries its search scope (its channel, or its thread), so that a
-- search in one channel walks only that channel's matches: `scope : "<code>" AND content : "<q>"`.
--
-- A scope's code is three characters of the Unicode private use area (U+E000-U+F8FF, 6400 each)
-- spelling the scope's id in base 6400: one trigram, so its posting list is exactly that scope's
-- messages. store/reads.py `scope_code` computes the same in Python. Scope rows are never deleted
-- (the delete trigger needs them; a deleted channel's id is never reused).
CREATE TABLE search_scopes (
    id         INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL,
    thread_key TEXT NOT NULL,               -- thread_id, or '' for the channel itself
    UNIQUE (channel_id, thread_key)
);

-- Contentless: the text lives in `messages`; removing a row needs the values it was indexed with,
-- which the triggers below take from the old row. The triggers are the only writers, so the index
-- changes in the same transaction (and savepoint) as the message insert, edit or delete.
CREATE VIRTUAL TABLE messages_fts USING fts5(scope, content, content = '', tokenize = 'trigram');

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

-- the messages stored before this migration
INSERT INTO search_scopes(channel_id, thread_key)
    SELECT channel_id, COALESCE(thread_id, '') FROM messages GROUP BY 1, 2;
INSERT INTO messages_fts(rowid, scope, content)
    SELECT m.seq, char(57344 + s.id / 40960000 % 6400, 57344 + s.id / 6400 % 6400, 57344 + s.id % 6400), m.content
    FROM messages m JOIN search_scopes s ON s.channel_id = m.channel_id AND s.thread_key = COALESCE(m.thread_id, '');
