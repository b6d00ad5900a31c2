-- Threads of forum channels (extended/threads.md). A thread's messages are ordinary rows of
-- `messages` with its id in `thread_id`; their reads use messages_by_channel
-- (channel_id, thread_id, seq), as a channel's do. The newest message of each thread is not
-- stored here: the loader reads it through that same index (MAX(seq) of the thread).
CREATE TABLE threads (
    id           TEXT PRIMARY KEY,          -- made by the server (a UUID); only ever a key
    channel_id   TEXT NOT NULL,             -- the parent forum
    name         TEXT NOT NULL,
    created_by   TEXT NOT NULL,             -- a user id (the wire shows the username)
    created_at   REAL NOT NULL,
    locked       INTEGER NOT NULL DEFAULT 0,
    archived     INTEGER NOT NULL DEFAULT 0,
    participants TEXT NOT NULL              -- JSON array of user ids, in joining order
);
CREATE INDEX threads_by_channel ON threads(channel_id);

-- Deleting a forum removes its threads in the same transaction (its messages, thread messages
-- included, are deleted by the channel's own write). Features keyed by thread can hang their
-- clean-up on deletes from `threads`.
CREATE TRIGGER threads_of_deleted_channel AFTER DELETE ON channels BEGIN
    DELETE FROM threads WHERE channel_id = OLD.id;
END;
