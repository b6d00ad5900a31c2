-- Web push subscriptions (extended/push.md). Never edit this file after it has merged: add a new
-- migration instead.
--
-- One row per browser subscription. `endpoint` is the push service's URL the browser gave; it is
-- unique: a browser that subscribes again (or for another account on the same device) replaces
-- its row. `last_used` is refreshed at each subscribe and at each push the service accepted.
-- Rows whose push service answers 404 or 410 are deleted.
CREATE TABLE push_subscriptions (
    endpoint   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used  REAL NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);
