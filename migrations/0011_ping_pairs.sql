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
-- * a message with exactly two distinct targets (a member and a role, two members...: nearly every
--   message with several) is counted in `ping_pairs`, per pair (a < b) and channel: summed over the
--   pairs of the reader's targets, that is the one extra count of each such message reaching them
--   twice, read from a few kept rows;
-- * a message with three or more (rare: several mentions and a reply or a role) has `pings.many` set
--   on its rows, and index `pings_many` finds the reader's rows of those: j of them for a message
--   means j - 1 extra counts. Such messages are not paired: a message naming k targets would
--   otherwise write k(k-1)/2 pair rows (~220,000 for the ~666 a 2000-character message may name).
--
-- Every statement that changes `pings` rows keeps these too: 0006's insert and edit triggers,
-- redefined below to set `many` (the edit one also the pairs), triggers beside 0006's for the pairs
-- of a new, moved or deleted message, and a deleted user or role takes its pairs with its pings.
CREATE TABLE ping_pairs (
    a          TEXT NOT NULL,               -- a target, less than b (of a message with exactly these two)
    b          TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (a, b, channel_id)
) WITHOUT ROWID;
CREATE INDEX ping_pairs_by_b ON ping_pairs(b);

ALTER TABLE pings ADD COLUMN many INTEGER NOT NULL DEFAULT 0;  -- 1: the message has 3+ distinct targets
CREATE INDEX pings_many ON pings(target, channel_id) WHERE many = 1;

DROP TRIGGER pings_insert;
CREATE TRIGGER pings_insert AFTER INSERT ON messages WHEN NEW.mentions IS NOT NULL BEGIN
    INSERT OR IGNORE INTO pings(target, seq, channel_id, thread_key, multi, many)
        SELECT value, NEW.seq, NEW.channel_id, COALESCE(NEW.thread_id, ''), json_array_length(NEW.mentions) > 1,
               json_array_length(NEW.mentions) >= 3 AND (SELECT COUNT(DISTINCT value) FROM json_each(NEW.mentions)) >= 3
        FROM json_each(NEW.mentions);
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT DISTINCT value, NEW.channel_id, 1 FROM json_each(NEW.mentions) WHERE true
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER ping_pairs_insert AFTER INSERT ON messages
    WHEN json_array_length(NEW.mentions) > 1 AND (SELECT COUNT(DISTINCT value) FROM json_each(NEW.mentions)) = 2 BEGIN
    INSERT INTO ping_pairs(a, b, channel_id, n)
        SELECT MIN(value), MAX(value), NEW.channel_id, 1 FROM json_each(NEW.mentions) WHERE true
        ON CONFLICT(a, b, channel_id) DO UPDATE SET n = n + 1;
END;

-- (0006's, with the pair of the rows that were there, and that of the new rows)
DROP TRIGGER pings_edit;
CREATE TRIGGER pings_edit AFTER UPDATE OF mentions ON messages BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT target, channel_id FROM pings
                                       WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions)));
    UPDATE ping_pairs SET n = n - 1
        WHERE (a, b, channel_id) IN (SELECT x.target, y.target, x.channel_id FROM pings x, pings y
                                     WHERE (x.target, x.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND (y.target, y.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND x.target < y.target AND x.many = 0);
    DELETE FROM pings WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions));
    INSERT OR IGNORE INTO pings(target, seq, channel_id, thread_key, multi, many)
        SELECT value, NEW.seq, NEW.channel_id, COALESCE(NEW.thread_id, ''), json_array_length(NEW.mentions) > 1,
               json_array_length(NEW.mentions) >= 3 AND (SELECT COUNT(DISTINCT value) FROM json_each(NEW.mentions)) >= 3
        FROM json_each(COALESCE(NEW.mentions, '[]'));
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT DISTINCT value, NEW.channel_id, 1 FROM json_each(COALESCE(NEW.mentions, '[]')) WHERE true
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
    INSERT INTO ping_pairs(a, b, channel_id, n)
        SELECT MIN(value), MAX(value), NEW.channel_id, 1 FROM json_each(COALESCE(NEW.mentions, '[]')) WHERE true
        HAVING COUNT(DISTINCT value) = 2
        ON CONFLICT(a, b, channel_id) DO UPDATE SET n = n + 1;
END;

-- (0006's pings_move and pings_message_delete stay; these follow them for the pairs, from the rows
-- of `pings` of a message with two targets, which a deleted user's or role's target no longer has)
CREATE TRIGGER ping_pairs_move AFTER UPDATE OF channel_id ON messages
    WHEN NEW.mentions IS NOT NULL AND NEW.channel_id IS NOT OLD.channel_id BEGIN
    UPDATE ping_pairs SET n = n - 1
        WHERE (a, b, channel_id) IN (SELECT x.target, y.target, OLD.channel_id FROM pings x, pings y
                                     WHERE (x.target, x.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
                                       AND (y.target, y.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
                                       AND x.target < y.target AND x.many = 0);
    INSERT INTO ping_pairs(a, b, channel_id, n)
        SELECT x.target, y.target, NEW.channel_id, 1 FROM pings x, pings y
        WHERE (x.target, x.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
          AND (y.target, y.seq) IN (SELECT value, NEW.seq FROM json_each(NEW.mentions))
          AND x.target < y.target AND x.many = 0
        ON CONFLICT(a, b, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER ping_pairs_message_delete BEFORE DELETE ON messages WHEN OLD.mentions IS NOT NULL BEGIN
    UPDATE ping_pairs SET n = n - 1
        WHERE (a, b, channel_id) IN (SELECT x.target, y.target, x.channel_id FROM pings x, pings y
                                     WHERE (x.target, x.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND (y.target, y.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND x.target < y.target AND x.many = 0);
END;

CREATE TRIGGER ping_pairs_user_deleted AFTER UPDATE OF deleted ON users WHEN NEW.deleted AND NOT OLD.deleted BEGIN
    DELETE FROM ping_pairs WHERE a = 'u:' || NEW.id;
    DELETE FROM ping_pairs WHERE b = 'u:' || NEW.id;
END;

CREATE TRIGGER ping_pairs_role_deleted AFTER DELETE ON roles BEGIN
    DELETE FROM ping_pairs WHERE a = 'r:' || OLD.id;
    DELETE FROM ping_pairs WHERE b = 'r:' || OLD.id;
END;

-- the pings stored before this migration
UPDATE pings SET many = 1
    WHERE multi = 1 AND (SELECT COUNT(DISTINCT value) FROM json_each((SELECT mentions FROM messages WHERE seq = pings.seq))) >= 3;
INSERT INTO ping_pairs(a, b, channel_id, n)
    SELECT x.target, y.target, x.channel_id, COUNT(*)
    FROM pings x CROSS JOIN messages m ON m.seq = x.seq CROSS JOIN json_each(m.mentions) j
    CROSS JOIN pings y ON y.target = j.value AND y.seq = x.seq
    WHERE x.multi = 1 AND x.many = 0 AND y.target > x.target
    GROUP BY 1, 2, 3;
