-- Unread counts without a page of history per entry (never edit this file after it has merged: add
-- a new migration instead). docs/performance.md, "Issue 8", has the figures.
--
-- 0006 counts a user's unread messages in a channel or thread as the messages after the mark's seq:
-- a count in the index range of the mark's 4096-seq block plus the kept counts of the later blocks
-- (store/unread_reads.py `count_after`). Each entry of `unreads_get` so reads its own leaf page of
-- `messages_by_channel`, spread over the whole file, which at a million messages is mostly not in
-- SQLite's page cache. Now a mark also keeps its position: `pos`, how many messages of its channel
-- or thread had a seq up to the mark's when it was set, and `removed`, the channel's or thread's
-- `message_totals.removed` then. `removed` counts every message that ever left the channel or thread
-- (deleted or moved) or that came into it other than by a new insert (moved in, seq changed), so
-- while a mark's `removed` is still the current one, no message at or before its seq has come or
-- gone since it was set (new messages always get a higher seq than every message there is), and
-- the unread count is `message_totals.n - pos`: two primary-key rows, no history. When it is not
-- (something was deleted since), the count is taken the 0006 way until the user's next mark.
ALTER TABLE message_totals ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE read_marks ADD COLUMN pos INTEGER;       -- NULL: not known (counted the 0006 way)
ALTER TABLE read_marks ADD COLUMN removed INTEGER;

DROP TRIGGER message_totals_delete;
CREATE TRIGGER message_totals_delete AFTER DELETE ON messages BEGIN
    UPDATE message_totals SET n = n - 1, removed = removed + 1
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '');
END;

DROP TRIGGER message_totals_move;
CREATE TRIGGER message_totals_move AFTER UPDATE OF channel_id, thread_id, seq ON messages BEGIN
    UPDATE message_totals SET n = n - 1, removed = removed + 1
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '');
    INSERT INTO message_totals(channel_id, thread_key, n, removed) VALUES (NEW.channel_id, COALESCE(NEW.thread_id, ''), 1, 1)
        ON CONFLICT(channel_id, thread_key) DO UPDATE SET n = n + 1, removed = removed + 1;
END;

-- the marks set before this migration: their positions now (block counts before the mark's block,
-- plus the index range of its block up to the mark)
UPDATE read_marks SET removed = 0, pos =
    (SELECT COALESCE(SUM(b.n), 0) FROM message_blocks b
     WHERE b.channel_id = read_marks.channel_id AND b.thread_key = read_marks.thread_key AND b.block < read_marks.seq >> 12)
  + (SELECT COUNT(*) FROM messages m
     WHERE m.channel_id = read_marks.channel_id AND m.thread_id IS NULLIF(read_marks.thread_key, '')
       AND m.seq >= (read_marks.seq >> 12) << 12 AND m.seq <= read_marks.seq);
