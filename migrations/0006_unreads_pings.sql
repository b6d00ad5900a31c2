-- Unread state and pings (extended/unreads_pings.md). Every count here comes from a counter kept by
-- triggers or from an index range; nothing reads a channel's history to count it. Everything is
-- keyed by (channel_id, thread_key), thread_key being the thread id or '' for the channel itself,
-- so threads use the same tables. Deleting a message, a channel (its messages are deleted row by
-- row), a user or a role removes the rows that point at it in the same statement, by the triggers
-- below: they are keyed on deletes from `messages`, so they compose with other features' triggers.

-- ---- totals ------------------------------------------------------------------------------------
-- How many messages each channel and each thread holds (`total_messages`, and the unread count of
-- someone who never read it). One row per (channel, thread), O(1) to read.
CREATE TABLE message_totals (
    channel_id TEXT NOT NULL,
    thread_key TEXT NOT NULL,               -- thread_id, or '' for the channel itself
    n          INTEGER NOT NULL,
    PRIMARY KEY (channel_id, thread_key)
) WITHOUT ROWID;

INSERT INTO message_totals(channel_id, thread_key, n)
    SELECT channel_id, COALESCE(thread_id, ''), COUNT(*) FROM messages GROUP BY 1, 2;

CREATE TRIGGER message_totals_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_totals(channel_id, thread_key, n) VALUES (NEW.channel_id, COALESCE(NEW.thread_id, ''), 1)
        ON CONFLICT(channel_id, thread_key) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER message_totals_delete AFTER DELETE ON messages BEGIN
    UPDATE message_totals SET n = n - 1
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '');
END;

CREATE TRIGGER message_totals_move AFTER UPDATE OF channel_id, thread_id ON messages BEGIN
    UPDATE message_totals SET n = n - 1
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '');
    INSERT INTO message_totals(channel_id, thread_key, n) VALUES (NEW.channel_id, COALESCE(NEW.thread_id, ''), 1)
        ON CONFLICT(channel_id, thread_key) DO UPDATE SET n = n + 1;
END;

-- ---- read marks --------------------------------------------------------------------------------
-- Each user's last-read message per channel or thread, with its `seq`. The unread count is the
-- number of messages after that seq: a count over `messages_by_channel` inside the mark's block of
-- `message_blocks` plus the kept counts of the later blocks (store/reads.py `count_after`), so it
-- costs what was posted since the mark, never the history before it.
CREATE TABLE read_marks (
    user_id    TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (user_id, channel_id, thread_key)
) WITHOUT ROWID;
-- the marks that point at one message (its deletion moves them back); a channel's marks
CREATE INDEX read_marks_by_message ON read_marks(channel_id, thread_key, seq);

-- A deleted message that someone had read up to: the mark moves back to the message before it in
-- the same channel/thread (the unread count stays the same), or goes when there is none (then
-- every message left is after it: the count is the total, as with no mark).
CREATE TRIGGER read_marks_message_delete AFTER DELETE ON messages BEGIN
    DELETE FROM read_marks
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '') AND seq = OLD.seq
          AND NOT EXISTS (SELECT 1 FROM messages WHERE channel_id = OLD.channel_id AND thread_id IS OLD.thread_id
                                                   AND seq < OLD.seq);
    UPDATE read_marks SET (message_id, seq) = (
            SELECT id, seq FROM messages WHERE channel_id = OLD.channel_id AND thread_id IS OLD.thread_id
                                           AND seq < OLD.seq ORDER BY seq DESC LIMIT 1)
        WHERE channel_id = OLD.channel_id AND thread_key = COALESCE(OLD.thread_id, '') AND seq = OLD.seq;
END;

CREATE TRIGGER read_marks_channel_delete AFTER DELETE ON channels BEGIN
    DELETE FROM read_marks WHERE channel_id = OLD.id;
    DELETE FROM message_totals WHERE channel_id = OLD.id;
    DELETE FROM ping_counts WHERE channel_id = OLD.id;  -- (a small table: targets x channels)
END;

-- ---- pings -------------------------------------------------------------------------------------
-- Who a message pings, as computed when it was posted or last edited (core/handlers/unreads.py
-- `ping_targets`): a JSON array of targets, 'u:<user id>' (a mention or a reply ping of a member who
-- could view the channel) or 'r:<role id>' (a role mention). Written in the message's own INSERT,
-- so a message and its pings are one statement; NULL when it pings nobody.
ALTER TABLE messages ADD COLUMN mentions TEXT;

-- One row per (target, message). `pings_get` reads each of the caller's targets newest first
-- through the primary key (target, seq), a page at a time; `seq` finds the message. A message's
-- rows are found from its own `mentions` (primary-key lookups), so no other index is needed to
-- delete or edit it. `multi`: the message has other targets too (only then can one message reach
-- a user twice, directly and through a role: `pings_multi` finds those few to count them once).
CREATE TABLE pings (
    target     TEXT NOT NULL,
    seq        INTEGER NOT NULL,             -- messages.seq
    channel_id TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    multi      INTEGER NOT NULL,             -- 1 when the message has more than one target
    PRIMARY KEY (target, seq)
) WITHOUT ROWID;
CREATE INDEX pings_multi ON pings(target, channel_id) WHERE multi = 1;

-- How many messages ping each target in each channel (threads included): `pings_get`'s `total`
-- is a sum of these over the caller's targets and readable channels, less the messages counted
-- twice (from `pings_multi`). Kept by the message triggers below, one set-based statement per
-- message (a trigger per pings row would cost more than the rows themselves).
CREATE TABLE ping_counts (
    target     TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (target, channel_id)
) WITHOUT ROWID;

CREATE TRIGGER pings_insert AFTER INSERT ON messages WHEN NEW.mentions IS NOT NULL BEGIN
    INSERT OR IGNORE INTO pings(target, seq, channel_id, thread_key, multi)
        SELECT value, NEW.seq, NEW.channel_id, COALESCE(NEW.thread_id, ''), json_array_length(NEW.mentions) > 1
        FROM json_each(NEW.mentions);
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT DISTINCT value, NEW.channel_id, 1 FROM json_each(NEW.mentions) WHERE true
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER pings_edit AFTER UPDATE OF mentions ON messages BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT target, channel_id FROM pings
                                       WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions)));
    DELETE FROM pings WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions));
    INSERT OR IGNORE INTO pings(target, seq, channel_id, thread_key, multi)
        SELECT value, NEW.seq, NEW.channel_id, COALESCE(NEW.thread_id, ''), json_array_length(NEW.mentions) > 1
        FROM json_each(COALESCE(NEW.mentions, '[]'));
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT DISTINCT value, NEW.channel_id, 1 FROM json_each(COALESCE(NEW.mentions, '[]')) WHERE true
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER pings_move AFTER UPDATE OF channel_id, thread_id ON messages WHEN NEW.mentions IS NOT NULL BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT target, channel_id FROM pings
                                       WHERE (target, seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions)));
    UPDATE pings SET channel_id = NEW.channel_id, thread_key = COALESCE(NEW.thread_id, '')
        WHERE (target, seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions));
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT target, NEW.channel_id, 1 FROM pings
        WHERE (target, seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER pings_message_delete AFTER DELETE ON messages WHEN OLD.mentions IS NOT NULL BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT target, channel_id FROM pings
                                       WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions)));
    DELETE FROM pings WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions));
END;

-- ---- deleted users and roles -------------------------------------------------------------------
-- A deleted account keeps its row (its name stays reserved): its marks and pings go.
CREATE TRIGGER unreads_user_deleted AFTER UPDATE OF deleted ON users WHEN NEW.deleted AND NOT OLD.deleted BEGIN
    DELETE FROM read_marks WHERE user_id = NEW.id;
    DELETE FROM pings WHERE target = 'u:' || NEW.id;
    DELETE FROM ping_counts WHERE target = 'u:' || NEW.id;
END;

CREATE TRIGGER pings_role_deleted AFTER DELETE ON roles BEGIN
    DELETE FROM pings WHERE target = 'r:' || OLD.id;
    DELETE FROM ping_counts WHERE target = 'r:' || OLD.id;
END;
