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


# ---- files (issue 9): uploads, custom emoji and server assets ----------------------------------

FILES_DIR = "files"
EMOJIS_DIR = "emojis"  # files/emojis/<file name of an emoji record> (server/files.py)
ASSETS_DIR = "assets"  # files/assets/<file name of a server_assets record>


def files_path(data_dir: str | Path, purpose: str) -> Path:
    """The folder of one kind of stored file: `purpose` is EMOJIS_DIR or ASSETS_DIR."""
    assert purpose in (EMOJIS_DIR, ASSETS_DIR), purpose
    return Path(data_dir) / FILES_DIR / purpose
