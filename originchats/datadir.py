"""What a data directory holds, by name: the SQLite database, the admin socket and the files
(`files/blobs/<2 hex>/<sha256>` for attachment bytes, `files/tmp/` for uploads in progress). Imported by the
server, the store and the `originchats admin` CLI alike (it imports nothing of theirs)."""

from __future__ import annotations

from pathlib import Path

DB_FILE = "originchats.sqlite3"
SOCKET_NAME = "admin.sock"
FILES_DIR = "files"


def db_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / DB_FILE


def socket_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SOCKET_NAME


def blobs_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILES_DIR / "blobs"


def uploads_tmp_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / FILES_DIR / "tmp"


def blob_path(data_dir: str | Path, sha256: str) -> Path:
    """Where the bytes of `sha256` (64 lower-case hex digits, never a client's text) are kept."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return blobs_dir(data_dir) / sha256[:2] / sha256


# ---- files (issue 9): uploads, custom emoji and server assets ----------------------------------

EMOJIS_DIR = "emojis"  # files/emojis/<file name of an emoji record> (server/files.py)
ASSETS_DIR = "assets"  # files/assets/<file name of a server_assets record>


def files_path(data_dir: str | Path, purpose: str) -> Path:
    """The folder of one kind of stored file: `purpose` is EMOJIS_DIR or ASSETS_DIR."""
    assert purpose in (EMOJIS_DIR, ASSETS_DIR), purpose
    return Path(data_dir) / FILES_DIR / purpose
