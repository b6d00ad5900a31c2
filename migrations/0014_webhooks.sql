-- Webhooks (extended/webhooks.md, as fixed here). Never edit this file after it has merged: add a
-- new migration instead.
--
-- Only the SHA-256 of a webhook's token is stored (`token_hash`): the token itself is shown once,
-- by webhook_create and webhook_regenerate, and a post is matched by the hash of the token it
-- carries. `secret` is the optional GitHub secret, kept as given because X-Hub-Signature-256 is an
-- HMAC keyed by it. `channel_id` follows a renamed channel; a deleted channel leaves the record,
-- whose posts then answer 404 until it is deleted. `seq` keeps the creation order.
CREATE TABLE webhooks (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    channel_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    secret     TEXT,
    avatar     TEXT,
    created_by TEXT,
    created_at REAL NOT NULL
);
