"""What every import group works with, and the files it copies into the data directory."""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import attrs

from ..core.settings import ContentLimits
from ..core.writes import SettingSaved
from ..store import load, sql
from .progress import Progress
from .records import Ids
from .source import Report

#: settings keys of the import's own state (written with `SettingSaved`, like every setting)
RUNNING = load.IMPORT_RUNNING  # {"source": …, "started": …} while an import is unfinished; then null
DONE_PREFIX = "import.done."  # + group name: {"source": …, "counts": {…}} once the group is committed


@attrs.define
class Job:
    con: sqlite3.Connection
    report: Report
    root: Path                        # the original's db/ folder
    data_dir: Path | None             # None: a dry run, no file is copied
    merge: bool                       # records already in the store win over the imported ones
    now: float
    progress: Progress
    source_config: dict[str, Any] = attrs.Factory(dict)
    ids: Ids = attrs.Factory(Ids)
    limits: ContentLimits = attrs.Factory(ContentLimits)  # `[limits]` of the config: embeds, stored JSON

    def write(self, fact: Any) -> None:
        sql.apply_write(self.con, fact)

    def one(self, query: str, *params: Any) -> Any:
        row = self.con.execute(query, params).fetchone()
        return None if row is None else row[0]

    def kept(self, table: str, record_id: str, what: str) -> bool:
        """Whether the store already has the record `record_id` of `table` (a table name of ours,
        never input); if so it is kept as it is, and counted in the report as `what`."""
        if not self.one(f"SELECT 1 FROM {table} WHERE id = ?", record_id):
            return False
        self.report.count(f"{what} already in the store (kept)")
        return True

    def mark_done(self, group: str, counts: dict[str, int]) -> None:
        self.write(SettingSaved(DONE_PREFIX + group, {"source": str(self.root), "counts": counts}))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_file(src: Path, target: Path) -> None:
    """`src` to `target` through a temporary file, fsynced, then renamed: a crash leaves the old file
    or the whole new one (an existing file of the same name is replaced by the same bytes)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = target.parent / f".{secrets.token_hex(8)}.part"
    try:
        with src.open("rb") as f, temp.open("wb") as out:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
