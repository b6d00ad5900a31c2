"""What a data directory holds, by name: the SQLite database and the admin socket. Imported by the
server, the store and the `originchats admin` CLI alike (it imports nothing of theirs)."""

from __future__ import annotations

from pathlib import Path

DB_FILE = "originchats.sqlite3"
SOCKET_NAME = "admin.sock"


def db_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / DB_FILE


def socket_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SOCKET_NAME
