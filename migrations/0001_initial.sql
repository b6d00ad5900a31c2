-- originchats initial schema. Never edit this file after it has merged: add 0002_… instead.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    nickname      TEXT,
    password_hash TEXT,
    roles         TEXT NOT NULL,            -- JSON array of role names, in the user's order
    status        TEXT NOT NULL DEFAULT 'online',
    status_text   TEXT NOT NULL DEFAULT '',
    pfp_url       TEXT,
    created_at    REAL NOT NULL,
    deleted       INTEGER NOT NULL DEFAULT 0  -- kept so a deleted name/id cannot be reclaimed
);

-- Roles keep their creation order through rowid (roles_list is in creation order).
CREATE TABLE roles (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT,
    color           TEXT,
    hoisted         INTEGER NOT NULL DEFAULT 0,
    permissions     TEXT NOT NULL,          -- JSON: a list of names, or an object
    self_assignable INTEGER NOT NULL DEFAULT 0,
    category        TEXT,
    position        INTEGER NOT NULL DEFAULT 0
);

-- Channels have a stable id; the wire name can change without touching messages.
CREATE TABLE channels (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    position  INTEGER NOT NULL,
    type      TEXT NOT NULL,
    data      TEXT NOT NULL                 -- JSON: description, display_name, size, permissions, extra
);

CREATE TABLE messages (
    seq           INTEGER PRIMARY KEY,      -- append order within the whole server
    id            TEXT NOT NULL UNIQUE,
    channel_id    TEXT NOT NULL,
    thread_id     TEXT,
    user_id       TEXT NOT NULL,
    content       TEXT NOT NULL,
    timestamp     REAL NOT NULL,
    reply_to_id   TEXT,
    reply_to_user TEXT,
    ping          INTEGER,
    embeds        TEXT,
    attachments   TEXT,
    edited        INTEGER NOT NULL DEFAULT 0,
    pinned        INTEGER NOT NULL DEFAULT 0,
    type          TEXT,
    interaction   TEXT,
    webhook       TEXT
);
CREATE INDEX messages_by_channel ON messages(channel_id, thread_id, seq);

CREATE TABLE reactions (
    seq        INTEGER PRIMARY KEY,         -- first-use order of emojis and of users
    message_id TEXT NOT NULL,
    emoji      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    UNIQUE (message_id, emoji, user_id)
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                     -- JSON
);

CREATE TABLE audit_log (
    id        TEXT PRIMARY KEY,
    time      REAL NOT NULL,
    category  TEXT NOT NULL,
    action    TEXT NOT NULL,
    actor_id  TEXT,
    target    TEXT,
    reason    TEXT,
    details   TEXT                          -- JSON
);
CREATE INDEX audit_log_by_time ON audit_log(time);
CREATE INDEX audit_log_by_category ON audit_log(category, time);
