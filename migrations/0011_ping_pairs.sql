-- pings_get's total without a walk through the reader's multi-target pings (never edit this file
-- after it has merged: add a new migration instead). docs/performance.md, "Issue 8", has the figures.
--
-- The total is the number of messages that ping the reader through any of their targets (the user,
-- and each of their roles). 0006 sums `ping_counts` over those targets, then takes off the messages
-- counted more than once: a message that reaches the reader through j of their targets is counted
-- j times and must count once. 0006 found those by reading every row of `pings_multi` of the reader's
-- targets (each message with several targets), a number that grows with the history (~870 rows, 0.8
-- ms, for one user at a million messages). Now:
--
-- * a message naming exactly two different targets a < b (a member and a role, two members...:
--   nearly every message with several) is counted in a pair row of `ping_counts`: target a, and
--   `channel_id` the channel, char(31), then b. Summed over the pairs of the reader's targets, that
--   is the one extra count of each such message reaching them twice, from a few kept rows. The pair
--   row sits next to a's own row of that channel, which the same insert updates anyway: a table of
--   their own cost ~90 us more at each commit of a message with mentions on a one-million-message
--   file (measured; temporary storage, the statement journal, by all signs), these rows ~20 us;
-- * a message naming three or more (rare: several mentions and a reply or a role) has `pings.many`
--   set on its rows, and index `pings_many` finds the reader's rows of those: j of them for a
--   message means j - 1 extra counts. Such messages are not paired: a message naming k targets
--   would otherwise write k(k-1)/2 pair rows (~220,000 for the ~666 a 2000-character message may
--   name). (A `mentions` array of two equal targets pings once: neither.)
--
-- The sums of 0006 (`channel_id IN` the reader's channels) never meet a pair row. Every statement
-- that changes `pings` rows keeps the pairs too: 0006's insert and edit triggers, redefined below to
-- set `many` (the edit one also the pairs), triggers beside 0006's for the pair of a new, moved or
-- deleted message, and a deleted user, role or channel takes its pair rows.
ALTER TABLE pings ADD COLUMN many INTEGER NOT NULL DEFAULT 0;  -- 1: the message's `mentions` has 3+ entries
CREATE INDEX pings_many ON pings(target, channel_id) WHERE many = 1;

DROP TRIGGER pings_insert;
CREATE TRIGGER pings_insert AFTER INSERT ON messages WHEN NEW.mentions IS NOT NULL BEGIN
    INSERT OR IGNORE INTO pings(target, seq, channel_id, thread_key, multi, many)
        SELECT value, NEW.seq, NEW.channel_id, COALESCE(NEW.thread_id, ''), json_array_length(NEW.mentions) > 1,
               json_array_length(NEW.mentions) >= 3
        FROM json_each(NEW.mentions);
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT DISTINCT value, NEW.channel_id, 1 FROM json_each(NEW.mentions) WHERE true
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER ping_pairs_insert AFTER INSERT ON messages
    WHEN json_array_length(NEW.mentions) = 2 AND NEW.mentions ->> 0 IS NOT NEW.mentions ->> 1 BEGIN
    INSERT INTO ping_counts(target, channel_id, n)
        VALUES (min(NEW.mentions ->> 0, NEW.mentions ->> 1),
                NEW.channel_id || char(31) || max(NEW.mentions ->> 0, NEW.mentions ->> 1), 1)
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

-- (0006's, with the pair of the rows that were there, and that of the new rows)
DROP TRIGGER pings_edit;
CREATE TRIGGER pings_edit AFTER UPDATE OF mentions ON messages BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT target, channel_id FROM pings
                                       WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions)));
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT x.target, x.channel_id || char(31) || y.target FROM pings x, pings y
                                       WHERE (x.target, x.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                         AND (y.target, y.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                         AND x.target < y.target AND x.many = 0);
    DELETE FROM pings WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions));
    INSERT OR IGNORE INTO pings(target, seq, channel_id, thread_key, multi, many)
        SELECT value, NEW.seq, NEW.channel_id, COALESCE(NEW.thread_id, ''), json_array_length(NEW.mentions) > 1,
               json_array_length(NEW.mentions) >= 3
        FROM json_each(COALESCE(NEW.mentions, '[]'));
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT DISTINCT value, NEW.channel_id, 1 FROM json_each(COALESCE(NEW.mentions, '[]')) WHERE true
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT min(NEW.mentions ->> 0, NEW.mentions ->> 1),
               NEW.channel_id || char(31) || max(NEW.mentions ->> 0, NEW.mentions ->> 1), 1
        WHERE json_array_length(NEW.mentions) = 2 AND NEW.mentions ->> 0 IS NOT NEW.mentions ->> 1
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

-- (0006's pings_move and pings_message_delete stay; these follow them for the pair, from the rows of
-- `pings` of a message naming two targets, which a deleted user's or role's target no longer has)
CREATE TRIGGER ping_pairs_move AFTER UPDATE OF channel_id ON messages
    WHEN NEW.mentions IS NOT NULL AND NEW.channel_id IS NOT OLD.channel_id BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT x.target, OLD.channel_id || char(31) || y.target FROM pings x, pings y
                                       WHERE (x.target, x.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
                                         AND (y.target, y.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
                                         AND x.target < y.target AND x.many = 0);
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT x.target, NEW.channel_id || char(31) || y.target, 1 FROM pings x, pings y
        WHERE (x.target, x.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
          AND (y.target, y.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
          AND x.target < y.target AND x.many = 0
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER ping_pairs_message_delete BEFORE DELETE ON messages WHEN OLD.mentions IS NOT NULL BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT x.target, x.channel_id || char(31) || y.target FROM pings x, pings y
                                       WHERE (x.target, x.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                         AND (y.target, y.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                         AND x.target < y.target AND x.many = 0);
END;

-- (0006 deletes the rows whose target is the user, role or channel; these, the pair rows naming it
-- second or its channel: a scan of `ping_counts`, a small table, on a rare event)
CREATE TRIGGER ping_pairs_user_deleted AFTER UPDATE OF deleted ON users WHEN NEW.deleted AND NOT OLD.deleted BEGIN
    DELETE FROM ping_counts WHERE instr(channel_id, char(31)) > 0
                              AND substr(channel_id, instr(channel_id, char(31)) + 1) = 'u:' || NEW.id;
END;

CREATE TRIGGER ping_pairs_role_deleted AFTER DELETE ON roles BEGIN
    DELETE FROM ping_counts WHERE instr(channel_id, char(31)) > 0
                              AND substr(channel_id, instr(channel_id, char(31)) + 1) = 'r:' || OLD.id;
END;

CREATE TRIGGER ping_pairs_channel_deleted AFTER DELETE ON channels BEGIN
    DELETE FROM ping_counts WHERE instr(channel_id, char(31)) > 0
                              AND substr(channel_id, 1, instr(channel_id, char(31)) - 1) = OLD.id;
END;

-- the pings stored before this migration
UPDATE pings SET many = 1
    WHERE multi = 1 AND json_array_length((SELECT mentions FROM messages WHERE seq = pings.seq)) >= 3;
INSERT INTO ping_counts(target, channel_id, n)
    SELECT x.target, x.channel_id || char(31) || y.target, COUNT(*)
    FROM pings x CROSS JOIN messages m ON m.seq = x.seq CROSS JOIN json_each(m.mentions) j
    CROSS JOIN pings y ON y.target = j.value AND y.seq = x.seq
    WHERE x.multi = 1 AND x.many = 0 AND y.target > x.target
    GROUP BY 1, 2;
