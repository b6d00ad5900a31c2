-- Custom emoji (extended/emojis.md) and server assets set by server_update. Never edit this file
-- after it has merged: add a new migration instead.
--
-- `emojis.id` is AUTOINCREMENT: SQLite keeps the largest id ever inserted in `sqlite_sequence`,
-- so a deleted emoji's id is never given to a new one (an old reaction `originChats://host/emojis/5`
-- can never show another image). The core assigns ids (state `emoji_next`, loaded from
-- sqlite_sequence) and inserts them explicitly; an explicit id also moves the sequence forward.
-- `file_name` is made by the server (random hex and the detected format's extension, a new one
-- for each image), never by a client; the file is `<data dir>/files/emojis/<file_name>`.
CREATE TABLE emojis (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    file_name  TEXT NOT NULL UNIQUE,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    created_by TEXT,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX emojis_name ON emojis(name COLLATE NOCASE);

-- The icon and banner images sent to server_update: `<data dir>/files/assets/<file_name>`.
CREATE TABLE server_assets (
    name      TEXT PRIMARY KEY CHECK (name IN ('icon', 'banner')),
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL
);
