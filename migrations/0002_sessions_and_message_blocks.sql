-- Session tokens: `ready.validator` is a bearer token for a cheap reconnect
-- (`{"cmd":"login","username":…,"token":…}`, docs/compatibility.md "Sessions").
-- Only the SHA-256 of a token is stored; the token itself is never written anywhere.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,            -- hex SHA-256 of the token
    user_id    TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id, created_at);

-- How many messages of a channel (or thread) fall in each block of 4096 consecutive `seq` values,
-- kept by triggers. `messages_around` needs the absolute index of a message in its channel
-- (core.md): counting the older rows one by one costs O(history) (~30 ms at 1 M messages); with
-- these counts it is a sum over at most history/4096 blocks plus a count inside one block.
CREATE TABLE message_blocks (
    channel_id TEXT NOT NULL,
    thread_key TEXT NOT NULL,               -- thread_id, or '' for the channel itself
    block      INTEGER NOT NULL,            -- seq >> 12
    n          INTEGER NOT NULL,
    PRIMARY KEY (channel_id, thread_key, block)
) WITHOUT ROWID;

INSERT INTO message_blocks(channel_id, thread_key, block, n)
    SELECT channel_id, COALESCE(thread_id, ''), seq >> 12, COUNT(*) FROM messages GROUP BY 1, 2, 3;

CREATE TRIGGER message_blocks_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_blocks(channel_id, thread_key, block, n)
        VALUES (NEW.channel_id, COALESCE(NEW.thread_id, ''), NEW.seq >> 12, 1)
        ON CONFLICT(channel_id, thread_key, block) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER message_blocks_delete AFTER DELETE ON messages BEGIN
    UPDATE message_blocks SET n = n - 1
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '') AND block = OLD.seq >> 12;
END;

CREATE TRIGGER message_blocks_move AFTER UPDATE OF channel_id, thread_id, seq ON messages BEGIN
    UPDATE message_blocks SET n = n - 1
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '') AND block = OLD.seq >> 12;
    INSERT INTO message_blocks(channel_id, thread_key, block, n)
        VALUES (NEW.channel_id, COALESCE(NEW.thread_id, ''), NEW.seq >> 12, 1)
        ON CONFLICT(channel_id, thread_key, block) DO UPDATE SET n = n + 1;
END;
