"""The SQL of attachments (migrations/0012_attachments.sql): the writes of core/writes.py's
attachment facts, the references a new message makes, the load at start, and what
`originchats admin files` reads and purges. store/sql.py `WRITERS` takes `ATTACHMENT_WRITERS`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..core import writes as w
from ..core.attachments import Attachment

COLUMNS = ("id, sha256, name, mime_type, size, uploader_id, channel_id, created_at, expires_at, permanent,"
           " width, height, inline")


def record_from_row(row: tuple) -> Attachment:
    (aid, sha, name, mime, size, uploader, channel, created, expires, permanent, width, height, inline) = row
    return Attachment(id=aid, sha256=sha, name=name, mime_type=mime, size=size, uploader_id=uploader,
                      channel_id=channel, created_at=created, expires_at=expires, permanent=bool(permanent),
                      width=width, height=height, inline=bool(inline))


def load_attachments(con: sqlite3.Connection) -> list[Attachment]:
    return [record_from_row(r) for r in con.execute(f"SELECT {COLUMNS} FROM attachments ORDER BY created_at, id")]


def referenced_shas(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT DISTINCT sha256 FROM attachments")}


def _stored(con: sqlite3.Connection, fact: w.AttachmentStored) -> None:
    r = fact.record
    con.execute(
        f"INSERT INTO attachments({COLUMNS}) VALUES (:id, :sha, :name, :mime, :size, :uploader, :channel, :created,"
        " :expires, :permanent, :width, :height, :inline)",
        {"id": r.id, "sha": r.sha256, "name": r.name, "mime": r.mime_type, "size": r.size,
         "uploader": r.uploader_id, "channel": r.channel_id, "created": r.created_at, "expires": r.expires_at,
         "permanent": int(r.permanent), "width": r.width, "height": r.height, "inline": int(r.inline)})


def _removed(con: sqlite3.Connection, fact: w.AttachmentsRemoved) -> None:
    rows = [{"id": aid} for aid in fact.ids]
    con.executemany("DELETE FROM message_attachments WHERE attachment_id = :id", rows)  # ..._by_attachment
    con.executemany("DELETE FROM attachments WHERE id = :id", rows)


def reference(con: sqlite3.Connection, message_id: str, attachments: Any) -> None:
    """The references of a new message (its `attachments` info objects), with the message."""
    if not attachments:
        return
    ids = {a.get("id") for a in attachments if isinstance(a, dict) and isinstance(a.get("id"), str)}
    con.executemany("INSERT OR IGNORE INTO message_attachments(message_id, attachment_id)"
                    " SELECT :m, :a WHERE EXISTS (SELECT 1 FROM attachments WHERE id = :a)",
                    [{"m": message_id, "a": aid} for aid in sorted(ids)])


ATTACHMENT_WRITERS: dict[type, Callable[[sqlite3.Connection, Any], None]] = {
    w.AttachmentStored: _stored, w.AttachmentsRemoved: _removed,
}


# ---- the operator (`originchats admin files`) -------------------------------------------------


def disk_use(con: sqlite3.Connection) -> list[tuple[str, int, int, int]]:
    """(uploader id, uploads, bytes of their records, references from messages), most bytes first.
    Bytes count each record in full, even when its blob is shared."""
    return [tuple(r) for r in con.execute(
        "SELECT a.uploader_id, COUNT(*), SUM(a.size),"
        " (SELECT COUNT(*) FROM message_attachments r JOIN attachments b ON b.id = r.attachment_id"
        "  WHERE b.uploader_id = a.uploader_id)"
        " FROM attachments a GROUP BY a.uploader_id ORDER BY SUM(a.size) DESC, a.uploader_id")]
