-- Attachments (extended/attachments.md; never edit this file after it has merged: add a new
-- migration instead). The bytes live on disk under files/blobs/<2 hex>/<sha256>, one file per
-- content; each upload has its own record here, so two users uploading the same bytes share the
-- file and nothing else. A blob file is deleted only once no record names its sha256 (the writer's
-- commit comes first); a blob no record names at start-up is an interrupted upload and is swept.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,          -- the blob's content hash (hex)
    name TEXT NOT NULL,            -- the uploader's file name, shown only, never a path
    mime_type TEXT NOT NULL,       -- the sniffed type, the one served
    size INTEGER NOT NULL,         -- bytes stored
    uploader_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,      -- the channel named at upload
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,      -- at and after this, the upload is gone everywhere
    permanent INTEGER NOT NULL DEFAULT 0,
    width INTEGER,
    height INTEGER,
    inline INTEGER NOT NULL DEFAULT 0  -- served inline (image, video, audio, PDF of a sniffed type)
);
CREATE INDEX attachments_by_uploader ON attachments(uploader_id, created_at);
CREATE INDEX attachments_by_blob ON attachments(sha256);
CREATE INDEX attachments_by_expiry ON attachments(expires_at);

-- Which messages reference which uploads: written with the message (store/sql.py), gone with it
-- (the trigger below, whatever deletes the message: message_delete, a channel or thread delete).
CREATE TABLE message_attachments (
    message_id TEXT NOT NULL,
    attachment_id TEXT NOT NULL,
    PRIMARY KEY (message_id, attachment_id)
) WITHOUT ROWID;
CREATE INDEX message_attachments_by_attachment ON message_attachments(attachment_id);

CREATE TRIGGER message_attachments_release AFTER DELETE ON messages WHEN OLD.attachments IS NOT NULL
BEGIN
    DELETE FROM message_attachments WHERE message_id = old.id;
END;
