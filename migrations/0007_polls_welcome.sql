-- Polls (extended/polls.md). A poll is a message with one `type: "poll"` embed plus these rows.
-- Everything is keyed by the poll's message and by (channel_id, thread_id), so threads slot in.
-- The welcome message (config `[welcome]`) is an ordinary message and needs no table.
--
-- Index used by each read (store/polls.py):
--   poll by id                       polls PRIMARY KEY
--   poll by message id               polls UNIQUE(message_id)  (also the delete trigger below)
--   counts of a poll's options       poll_options PRIMARY KEY (poll_id, position)
--   a voter's own votes              poll_votes UNIQUE(poll_id, user_id, option_id)
--   voters of an ended poll          poll_votes_by_poll (poll_id, seq)
--   the next poll to expire          polls_expiring (partial: open polls with an expiry)
-- A vote never scans: it inserts or deletes rows of one (poll, user) and the triggers move the
-- per-option counters kept in poll_options.

CREATE TABLE polls (
    id                TEXT PRIMARY KEY,
    message_id        TEXT NOT NULL UNIQUE,
    channel_id        TEXT NOT NULL,
    thread_id         TEXT,
    question          TEXT NOT NULL,
    options           TEXT NOT NULL,          -- JSON: [{"id", "text", "emoji"?}, ...] in display order
    allow_multiselect INTEGER NOT NULL,
    expires_at        REAL,                   -- Unix seconds; NULL: never expires
    created_by        TEXT NOT NULL,          -- user id
    created_at        REAL NOT NULL,
    ended             INTEGER NOT NULL DEFAULT 0,
    ended_at          REAL                    -- set when ended (by poll_end, or at expires_at)
);
CREATE INDEX polls_expiring ON polls(expires_at) WHERE ended = 0 AND expires_at IS NOT NULL;

CREATE TABLE poll_options (
    poll_id   TEXT NOT NULL,
    position  INTEGER NOT NULL,
    option_id TEXT NOT NULL,
    votes     INTEGER NOT NULL DEFAULT 0,     -- kept by the poll_votes triggers
    PRIMARY KEY (poll_id, position),
    UNIQUE (poll_id, option_id)
) WITHOUT ROWID;

CREATE TABLE poll_votes (
    seq       INTEGER PRIMARY KEY,            -- vote order (voters are listed in it)
    poll_id   TEXT NOT NULL,
    option_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    voted_at  REAL NOT NULL,
    UNIQUE (poll_id, user_id, option_id)
);
CREATE INDEX poll_votes_by_poll ON poll_votes(poll_id, seq);

CREATE TRIGGER poll_votes_count_insert AFTER INSERT ON poll_votes BEGIN
    UPDATE poll_options SET votes = votes + 1 WHERE poll_id = NEW.poll_id AND option_id = NEW.option_id;
END;

CREATE TRIGGER poll_votes_count_delete AFTER DELETE ON poll_votes BEGIN
    UPDATE poll_options SET votes = votes - 1 WHERE poll_id = OLD.poll_id AND option_id = OLD.option_id;
END;

-- A poll lives and dies with its message: deleting the message (message_delete, a channel or
-- thread deletion, anything that deletes from `messages`) deletes the poll, its options and its
-- votes in the same transaction.
CREATE TRIGGER polls_message_deleted AFTER DELETE ON messages BEGIN
    DELETE FROM polls WHERE message_id = OLD.id;
END;

CREATE TRIGGER polls_deleted AFTER DELETE ON polls BEGIN
    DELETE FROM poll_options WHERE poll_id = OLD.id;
    DELETE FROM poll_votes WHERE poll_id = OLD.id;
END;
