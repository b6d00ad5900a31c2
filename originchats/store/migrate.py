"""Apply `migrations/NNNN_*.sql` in order, each in its own transaction with its schema_version row.

The folder is found with importlib.resources: package data in a wheel or the binary, the top-level
`migrations/` in a checkout (originchats/resources.py)."""

from __future__ import annotations

import re
import sqlite3
from importlib.resources.abc import Traversable

from ..resources import data_file
from . import grams

MIGRATIONS_DIR: Traversable = data_file("migrations")
_NAME = re.compile(r"^(\d{4})_[\w-]+\.sql$")


class MigrationError(Exception):
    pass


def available(folder: Traversable = MIGRATIONS_DIR) -> list[tuple[int, Traversable]]:
    found = []
    try:
        paths = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise MigrationError(f"cannot read the migrations folder {folder}: {exc.strerror}") from None
    for path in paths:
        m = _NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    return found


def apply_migrations(con: sqlite3.Connection, folder: Traversable = MIGRATIONS_DIR) -> list[int]:
    """Returns the versions applied now (empty when the schema was already current). Registers on
    `con` the functions the schema's triggers call (store/grams.py)."""
    grams.register(con)
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in con.execute("SELECT version FROM schema_version")}
    known = available(folder)
    newest = max((v for v, _ in known), default=0)
    if done and max(done) > newest:
        # a newer server migrated this database: running on it could corrupt it
        raise MigrationError(f"the database has schema version {max(done)}, newer than this server knows "
                             f"({newest}); upgrade originchats")
    applied = []
    for version, path in known:
        if version in done:
            continue
        script = path.read_text(encoding="utf-8")
        try:
            con.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                f"INSERT INTO schema_version(version, applied_at) VALUES ({version}, datetime('now'));\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise MigrationError(f"{path.name}: {exc}") from exc
        applied.append(version)
    return applied
