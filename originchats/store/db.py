"""Opening SQLite connections with the pragmas every connection needs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_FILE = "originchats.sqlite3"


def db_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / DB_FILE


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
        path.parent.mkdir(parents=True, exist_ok=True)
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
    return con
