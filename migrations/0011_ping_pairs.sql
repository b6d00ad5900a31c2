-- pings_get's total without a walk through the reader's multi-target pings (never edit this file
-- after it has merged: add a new migration instead). docs/performance.md, "Issue 8", has the figures.
--
-- The total is the number of messages that ping the reader through any of their targets (the user,
-- and each of their roles). 0006 sums `ping_counts` over those targets, then takes off the messages
-- counted more than once: a message that reaches the reader through j of their targets is counted
-- j times and must count once. 0006 found those by reading every row of `pings_multi` of the reader's
-- targets (each message with several targets), a number that grows with the history (~870 rows, 0.8
-- ms, for one user at a million messages). Now the excess comes from counters kept by the triggers:
--
-- * `ping_pairs`: for each pair of targets (a < b) and channel, how many messages ping both. Summed
--   over the pairs of the reader's targets, a message reaching them through j targets counts j(j-1)/2
--   times: for j = 2 that is the one extra count to take off, exactly.
-- * a message with three or more targets (rare: a user and two of their roles in one message) counts
--   (j-1)(j-2)/2 more there than it should; `pings.many` marks its rows, and index `pings_many` finds
--   them (the reader's rows of such messages only).
--
-- Every statement that changes `pings` rows keeps these too: the message triggers below (0006's,
-- redefined to set `many` and the pairs in the same statements), and a deleted user or role takes
-- its pairs with its pings.
CREATE TABLE ping_pairs (
    a          TEXT NOT NULL,               -- a target, less than b
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

CREATE TRIGGER ping_pairs_insert AFTER INSERT ON messages WHEN json_array_length(NEW.mentions) > 1 BEGIN
    INSERT INTO ping_pairs(a, b, channel_id, n)
        SELECT DISTINCT x.value, y.value, NEW.channel_id, 1 FROM json_each(NEW.mentions) x, json_each(NEW.mentions) y
        WHERE x.value < y.value
        ON CONFLICT(a, b, channel_id) DO UPDATE SET n = n + 1;
END;

-- (0006's, with the pairs: the old ones of the rows that were there, the new ones of the new rows)
DROP TRIGGER pings_edit;
CREATE TRIGGER pings_edit AFTER UPDATE OF mentions ON messages BEGIN
    UPDATE ping_counts SET n = n - 1
        WHERE (target, channel_id) IN (SELECT target, channel_id FROM pings
                                       WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions)));
    UPDATE ping_pairs SET n = n - 1
        WHERE (a, b, channel_id) IN (SELECT x.target, y.target, x.channel_id FROM pings x, pings y
                                     WHERE (x.target, x.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND (y.target, y.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND x.target < y.target);
    DELETE FROM pings WHERE (target, seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions));
    INSERT OR IGNORE INTO pings(target, seq, channel_id, thread_key, multi, many)
        SELECT value, NEW.seq, NEW.channel_id, COALESCE(NEW.thread_id, ''), json_array_length(NEW.mentions) > 1,
               json_array_length(NEW.mentions) >= 3 AND (SELECT COUNT(DISTINCT value) FROM json_each(NEW.mentions)) >= 3
        FROM json_each(COALESCE(NEW.mentions, '[]'));
    INSERT INTO ping_counts(target, channel_id, n)
        SELECT DISTINCT value, NEW.channel_id, 1 FROM json_each(COALESCE(NEW.mentions, '[]')) WHERE true
        ON CONFLICT(target, channel_id) DO UPDATE SET n = n + 1;
    INSERT INTO ping_pairs(a, b, channel_id, n)
        SELECT DISTINCT x.value, y.value, NEW.channel_id, 1
        FROM json_each(COALESCE(NEW.mentions, '[]')) x, json_each(COALESCE(NEW.mentions, '[]')) y
        WHERE x.value < y.value
        ON CONFLICT(a, b, channel_id) DO UPDATE SET n = n + 1;
END;

-- (0006's pings_move and pings_message_delete stay; these follow them for the pairs, from the rows
-- of `pings`, which a deleted user's or role's targets no longer have)
CREATE TRIGGER ping_pairs_move AFTER UPDATE OF channel_id ON messages
    WHEN NEW.mentions IS NOT NULL AND NEW.channel_id IS NOT OLD.channel_id BEGIN
    UPDATE ping_pairs SET n = n - 1
        WHERE (a, b, channel_id) IN (SELECT x.value, y.value, OLD.channel_id FROM json_each(NEW.mentions) x,
                                     json_each(NEW.mentions) y WHERE x.value < y.value
                                       AND EXISTS (SELECT 1 FROM pings WHERE target = x.value AND seq = NEW.seq)
                                       AND EXISTS (SELECT 1 FROM pings WHERE target = y.value AND seq = NEW.seq));
    INSERT INTO ping_pairs(a, b, channel_id, n)
        SELECT DISTINCT x.value, y.value, NEW.channel_id, 1 FROM json_each(NEW.mentions) x, json_each(NEW.mentions) y
        WHERE x.value < y.value AND EXISTS (SELECT 1 FROM pings WHERE target = x.value AND seq = NEW.seq)
                                AND EXISTS (SELECT 1 FROM pings WHERE target = y.value AND seq = NEW.seq)
        ON CONFLICT(a, b, channel_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER ping_pairs_message_delete BEFORE DELETE ON messages WHEN OLD.mentions IS NOT NULL BEGIN
    UPDATE ping_pairs SET n = n - 1
        WHERE (a, b, channel_id) IN (SELECT x.target, y.target, x.channel_id FROM pings x, pings y
                                     WHERE (x.target, x.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND (y.target, y.seq) IN (SELECT value, OLD.seq FROM json_each(OLD.mentions))
                                       AND x.target < y.target);
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
    SELECT x.target, j.value, x.channel_id, COUNT(DISTINCT x.seq)
    FROM pings x CROSS JOIN messages m ON m.seq = x.seq CROSS JOIN json_each(m.mentions) j
    WHERE x.multi = 1 AND j.value > x.target AND EXISTS (SELECT 1 FROM pings y WHERE y.target = j.value AND y.seq = x.seq)
    GROUP BY 1, 2, 3;
