"""The SQL of custom emoji and server assets (migrations/0013): the writes of core/writes.py's
`EmojiSaved`, `EmojiDeleted`, `ServerAssetSaved`, and what start-up loads. store/sql.py `WRITERS`
takes its entries from `EMOJI_WRITERS` here."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..core import writes as w
from ..core.emoji_records import Emoji


def _emoji_saved(con: sqlite3.Connection, fact: w.EmojiSaved) -> None:
    e = fact.emoji
    con.execute(
        "INSERT INTO emojis(id, name, file_name, width, height, created_by, created_at)"
        " VALUES (:id, :name, :file, :w, :h, :by, :at)"
        " ON CONFLICT(id) DO UPDATE SET name = excluded.name, file_name = excluded.file_name,"
        " width = excluded.width, height = excluded.height",
        {"id": e.id, "name": e.name, "file": e.file_name, "w": e.width, "h": e.height, "by": e.created_by,
         "at": e.created_at})


def _emoji_deleted(con: sqlite3.Connection, fact: w.EmojiDeleted) -> None:
    con.execute("DELETE FROM emojis WHERE id = ?", (fact.emoji_id,))


def _asset_saved(con: sqlite3.Connection, fact: w.ServerAssetSaved) -> None:
    con.execute("INSERT INTO server_assets(name, file_name, mime_type) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET file_name = excluded.file_name, mime_type = excluded.mime_type",
                (fact.name, fact.file_name, fact.mime_type))


def _asset_deleted(con: sqlite3.Connection, fact: w.ServerAssetDeleted) -> None:
    con.execute("DELETE FROM server_assets WHERE name = ?", (fact.name,))


EMOJI_WRITERS: dict[type, Callable[[sqlite3.Connection, Any], None]] = {
    w.EmojiSaved: _emoji_saved, w.EmojiDeleted: _emoji_deleted, w.ServerAssetSaved: _asset_saved,
    w.ServerAssetDeleted: _asset_deleted,
}


# ---- start-up ---------------------------------------------------------------------------------


def load_emojis(con: sqlite3.Connection) -> dict[int, Emoji]:
    return {r[0]: Emoji(id=r[0], name=r[1], file_name=r[2], width=r[3], height=r[4], created_by=r[5],
                        created_at=r[6])
            for r in con.execute("SELECT id, name, file_name, width, height, created_by, created_at"
                                 " FROM emojis ORDER BY id")}


def next_emoji_id(con: sqlite3.Connection) -> int:
    """One past the largest id ever stored, deleted ones included (the AUTOINCREMENT sequence)."""
    row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'emojis'").fetchone()
    return 0 if row is None else int(row[0]) + 1


def load_assets(con: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    return {name: (file_name, mime) for name, file_name, mime in
            con.execute("SELECT name, file_name, mime_type FROM server_assets")}
