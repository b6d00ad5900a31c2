"""The attachment bytes on disk (docs/brief layout, originchats/datadir.py): one file per content
under `files/blobs/<2 hex>/<sha256>`, uploads in progress under `files/tmp/`.

The order that keeps "never a record without its file": an upload's temp file is fsynced, renamed
into `blobs/` (`place`), then its record is committed by the writer; a crash between the two
leaves a blob no record names, which `sweep` removes at the next start. Bytes are deleted only
after the commit that removed the last record naming them (`drop`, the runner of
`ops.DropBlobs`), and never while an upload of the same bytes is between `place` and its commit
(`pinned`): the lock makes "is it pinned or named?" and the unlink one step for the uploads.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import structlog
import trio

from ..datadir import blob_path, blobs_dir, uploads_tmp_dir
from ..store.db import DIR_MODE
from ..store.reader import Reader

log = structlog.get_logger("originchats.blobs")


@attrs.define(eq=False)
class BlobStore:
    data_dir: Path
    _pinned: dict[str, int] = attrs.Factory(dict)
    # upload bodies being read: in all, and per client address (`reading`)
    _reading: int = 0
    _reading_from: dict[str, int] = attrs.Factory(dict)
    _lock: trio.Lock = attrs.Factory(trio.Lock)

    def path(self, sha256: str) -> Path:
        return blob_path(self.data_dir, sha256)

    def tmp_dir(self) -> Path:
        tmp = uploads_tmp_dir(self.data_dir)
        tmp.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        return tmp

    @contextmanager
    def pinned(self, sha256: str) -> Iterator[None]:
        """While inside, `drop` keeps the blob `sha256` (an upload between `place` and its commit)."""
        self._pinned[sha256] = self._pinned.get(sha256, 0) + 1
        try:
            yield
        finally:
            left = self._pinned[sha256] - 1
            if left:
                self._pinned[sha256] = left
            else:
                del self._pinned[sha256]

    @contextmanager
    def reading(self, source: str, total: int, per_source: int) -> Iterator[bool]:
        """A slot for reading one upload body from `source` (an address key): yields False, taking
        nothing, when `total` bodies are being read, or `per_source` from that address."""
        if self._reading >= total or self._reading_from.get(source, 0) >= per_source:
            yield False
            return
        self._reading += 1
        self._reading_from[source] = self._reading_from.get(source, 0) + 1
        try:
            yield True
        finally:
            self._reading -= 1
            left = self._reading_from[source] - 1
            if left:
                self._reading_from[source] = left
            else:
                del self._reading_from[source]

    async def place(self, src: Path, sha256: str) -> None:
        """Move the finished upload `src` into place as the blob `sha256` (call inside `pinned`).
        Bytes already there (the same content uploaded before) are kept and `src` is removed."""
        target = self.path(sha256)
        async with self._lock:
            await trio.to_thread.run_sync(_place, src, target)

    async def drop(self, shas: tuple[str, ...], reader: Reader) -> None:
        """Delete the blobs of `shas` that no committed record names and no upload has pinned."""
        async with self._lock:
            gone = [s for s in shas if s not in self._pinned]
            if gone:
                named = await reader.run(_named, tuple(gone))
                gone = [s for s in gone if s not in named]
            for sha in gone:
                await trio.to_thread.run_sync(_unlink, self.path(sha))

    def sweep(self, con: sqlite3.Connection) -> tuple[int, int, int]:
        """At start, before anything is served: empty `tmp/`, delete the blobs no record names (an
        upload interrupted between its rename and its commit) and the records whose blob is missing
        (a file removed by hand). Returns (temp files, blobs, records) removed."""
        tmp_files = 0
        tmp = uploads_tmp_dir(self.data_dir)
        if tmp.is_dir():
            for f in tmp.iterdir():
                if f.is_file() or f.is_symlink():
                    f.unlink()
                    tmp_files += 1
        named = {r[0] for r in con.execute("SELECT DISTINCT sha256 FROM attachments")}
        orphans = 0
        root = blobs_dir(self.data_dir)
        on_disk = set()
        if root.is_dir():
            for sub in root.iterdir():
                if not sub.is_dir():
                    continue
                for f in sub.iterdir():
                    if f.name in named and sub.name == f.name[:2]:
                        on_disk.add(f.name)
                        continue
                    f.unlink()
                    orphans += 1
        missing = sorted(named - on_disk)
        records = 0
        if missing:
            with con:
                for sha in missing:
                    con.execute("DELETE FROM message_attachments WHERE attachment_id IN"
                                " (SELECT id FROM attachments WHERE sha256 = ?)", (sha,))
                    records += con.execute("DELETE FROM attachments WHERE sha256 = ?", (sha,)).rowcount
        if tmp_files or orphans or records:
            log.info("files_swept", temp_files=tmp_files, orphan_blobs=orphans, records_without_file=records)
        return tmp_files, orphans, records


def _place(src: Path, target: Path) -> None:
    if target.exists():
        src.unlink(missing_ok=True)
        return
    with open(src, "rb") as f:
        os.fsync(f.fileno())
    target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.replace(src, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _named(con: sqlite3.Connection, shas: tuple[str, ...]) -> set[str]:
    marks = ",".join("?" * len(shas))
    return {r[0] for r in con.execute(f"SELECT DISTINCT sha256 FROM attachments WHERE sha256 IN ({marks})", shas)}


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
