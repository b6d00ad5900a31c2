"""Opening SQLite connections with the pragmas every connection needs."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import structlog

from ..datadir import DB_FILE, db_path  # noqa: F401  (re-exported: the store's callers use them)
from . import grams

log = structlog.get_logger("originchats.store")
#: The database holds password hashes, session-token hashes, hidden channels and the audit log:
#: only the server's own user may read it. SQLite gives the -wal and -shm files the mode of the
#: database file, so setting it on the database covers them too.
FILE_MODE = 0o600
DIR_MODE = 0o700


def open_db(path: str | Path, *, readonly: bool = False, synchronous: str = "FULL") -> sqlite3.Connection:
    """A connection usable from trio's worker threads (one owner at a time, see writer/reader).

    `isolation_level=None`: we write BEGIN/COMMIT ourselves. WAL lets readers run beside the writer.
    """
    path = Path(path)
    if readonly:
        # as_uri() percent-encodes the path: a data_dir with "?", "#" or "%" in it stays a path
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                              check_same_thread=False)
    else:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for f in private_files(path):
            log.warning("file_permissions_tightened", path=str(f), mode="0600")
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA busy_timeout=5000")
    if not readonly:
        if synchronous not in ("FULL", "NORMAL"):
            con.close()
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a file system without shared memory: readers would block the writer
            con.close()
            raise sqlite3.OperationalError(f"{path}: cannot switch to WAL mode (journal_mode is {mode})")
        con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute("PRAGMA foreign_keys=ON")
    grams.register(con)  # the search index's triggers call it (migrations/0009_search_grams.sql)
    return con


def private_files(path: Path) -> list[Path]:
    """Create the database file 0600 if it is missing; tighten it (and its -wal/-shm) to 0600 where
    group or others may read it (a data directory made by an older version). Returns what changed."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))  # empty: SQLite takes it as new
        return []
    changed = []
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(f.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            f.chmod(FILE_MODE)
            changed.append(f)
    return changed


def open_to_others(data_dir: str | Path) -> bool:
    """True when users other than the owner may list or enter the data directory."""
    try:
        return bool(stat.S_IMODE(Path(data_dir).stat().st_mode) & 0o077)
    except FileNotFoundError:
        return False
