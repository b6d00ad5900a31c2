"""Backups of a data directory, taken while the server runs (`originchats backup DEST`, the `[backup]`
schedule) and checked before a restore (originchats/restore.py).

A backup is a folder: `originchats.sqlite3` (a copy made through SQLite's online backup API, in
rollback-journal mode so it is one self-contained file), every other file of the data directory
that the server keeps (attachment blobs, emoji and asset images, the operator's server-assets, the
VAPID keys, plugins), and `manifest.json` with the size and sha256 of each. It is written under a
temporary name beside DEST and renamed to DEST only when complete, so a backup killed half-way is
never mistaken for a whole one.

The database copy holds one read transaction from start to end: it is a snapshot of everything
committed before the backup began, and nothing after. In WAL mode a reader never blocks the writer;
the copy goes `step_pages` pages at a time (sqlite3 `backup(pages=...)`), so the database file is
read in bounded steps.

Before a start applies migrations, a copy of the database is kept in `<data dir>/snapshots/` until
the next successful start (`snapshot_before_migrations`, `drop_snapshots`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from . import __version__, datadir

MANIFEST = "manifest.json"
#: the hard links of a backup in progress, in the data directory (skipped by backups: a "." name)
LINKS_PREFIX = ".backup-links-"
FORMAT = "originchats-backup"
FORMAT_VERSION = 1
SNAPSHOTS_DIR = "snapshots"
BACKUPS_DIR = "backups"  # the default `[backup] dir`, inside the data directory
PRE_RESTORE_PREFIX = "pre-restore-"
RESTORE_STAGING_PREFIX = ".restore-"
#: Top-level entries of a data directory that are never copied into a backup: the database (copied
#: through SQLite), the admin socket, and the folders of backups, snapshots and restores.
_SKIP_TOP = {datadir.DB_FILE, datadir.DB_FILE + "-wal", datadir.DB_FILE + "-shm", datadir.DB_FILE + "-journal",
             datadir.SOCKET_NAME, SNAPSHOTS_DIR, BACKUPS_DIR}
_CHUNK = 1 << 20

Progress = Callable[[int, int], None]  # (pages copied, pages in all)


class Stopped(Exception):
    """The backup was asked to stop (the server is shutting down); nothing was kept."""


class BackupError(Exception):
    """A backup cannot be taken, or a backup is not fit to restore (the message says why)."""


def sha256_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def copy_hashed(src: Path, dst: Path) -> tuple[str, int]:
    """Copy `src` to `dst` (fsynced, mode 0600) and return the sha256 and size of what was written."""
    h, size = hashlib.sha256(), 0
    dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(src, "rb") as f, os.fdopen(fd, "wb") as out:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return h.hexdigest(), size


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_database(src: Path, dst: Path, *, step_pages: int, progress: Progress | None = None,
                  stop: Callable[[], bool] | None = None, at_snapshot: Callable[[], None] | None = None) -> int:
    """Copy the live database `src` to the new file `dst` through the online backup API; returns
    the copy's schema version. `src` may be written by a running server meanwhile. When `stop()`
    turns true, the copy ends at the next step with `Stopped`."""
    if not src.is_file():
        raise BackupError(f"no database at {src}")
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None,
                             check_same_thread=False)
    target = None
    try:
        source.execute("PRAGMA busy_timeout=5000")
        # One read transaction for the whole copy: every step reads the same snapshot, so a commit by
        # the server meanwhile neither restarts the copy nor gets half into it.
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if at_snapshot is not None:  # the copy's snapshot is fixed from here on
            at_snapshot()
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        target = sqlite3.connect(dst, isolation_level=None, check_same_thread=False)

        def report(_status: int, remaining: int, total: int) -> None:
            if stop is not None and stop():
                raise Stopped("the backup was stopped")
            if progress is not None:
                progress(total - remaining, total)

        source.backup(target, pages=step_pages, progress=report)
        source.execute("COMMIT")
        target.execute("PRAGMA journal_mode=DELETE")  # one file, whatever mode the source was in
        return schema_version(target)
    finally:
        if target is not None:
            target.close()
        source.close()


def schema_version(con: sqlite3.Connection) -> int:
    try:
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError:
        return 0  # no schema_version table: a database no server has opened yet
    return row[0] or 0


def data_files(data_dir: Path, *, exclude: tuple[Path, ...] = ()) -> Iterator[Path]:
    """The files of `data_dir` a backup carries besides the database, as paths relative to it: no
    uploads in progress (`files/tmp`), no temporary files (names starting with "."), nothing but
    regular files, and nothing under `exclude` (e.g. a backup folder inside the data directory)."""
    skip = {p.resolve() for p in exclude}
    tmp = datadir.uploads_tmp_dir(data_dir).resolve()
    for root, dirs, files in os.walk(data_dir):
        here = Path(root)
        top = here == data_dir
        keep = []
        for d in sorted(dirs):
            full = (here / d).resolve()
            if d.startswith(".") or (top and (d in _SKIP_TOP or d.startswith(PRE_RESTORE_PREFIX))) \
                    or full == tmp or full in skip:
                continue
            keep.append(d)
        dirs[:] = keep  # os.walk does not follow symlinked folders by default
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or (top and name in _SKIP_TOP) or path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(data_dir)


def take_backup(data_dir: Path, dest: Path, *, step_pages: int = 1024, progress: Progress | None = None,
                exclude: tuple[Path, ...] = (), stop: Callable[[], bool] | None = None) -> dict:
    """Write a complete backup of `data_dir` to `dest` (which must not exist yet, or be an empty
    folder) and return its manifest. Nothing under `exclude` is copied."""
    data_dir, dest = Path(data_dir), Path(dest)
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise BackupError(f"{dest} already exists; choose a new folder for the backup")
    if not datadir.db_path(data_dir).is_file():
        raise BackupError(f"no database at {datadir.db_path(data_dir)} (is the data directory right?)")
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    links = data_dir / f"{LINKS_PREFIX}{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(mode=0o700)
    try:
        started = dt.datetime.now(dt.timezone.utc)
        for stale in data_dir.glob(f"{LINKS_PREFIX}*"):  # left by a killed backup
            if not _alive(stale.name.rsplit("-", 1)[-1]):
                shutil.rmtree(stale, ignore_errors=True)
        pinned: dict[Path, Path] = {}  # relative path -> where to copy it from
        version = copy_database(datadir.db_path(data_dir), work / datadir.DB_FILE, step_pages=step_pages,
                                progress=progress, stop=stop,
                                at_snapshot=lambda: pinned.update(_pin(data_dir, links, (dest, work, *exclude))))
        entries = {datadir.DB_FILE: _entry(*sha256_file(work / datadir.DB_FILE))}
        # The files as they were when the database's snapshot was taken (`_pin`): one the server
        # deletes meanwhile (an emoji removed after the snapshot, say) is still copied, so no record
        # of the copy is left without its file. A file that cannot be hard-linked is copied live.
        for rel, source in pinned.items():
            if stop is not None and stop():
                raise Stopped("the backup was stopped")
            try:
                entries[rel.as_posix()] = _entry(*copy_hashed(source, work / rel))
            except FileNotFoundError:
                continue
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "created_at": started.isoformat(timespec="seconds"),
                    "originchats": __version__, "schema_version": version, "database": datadir.DB_FILE,
                    "files": entries}
        with open(work / MANIFEST, "x", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        for folder in sorted({(work / rel).parent for rel in entries}, reverse=True):
            fsync_dir(folder)
        if dest.exists():
            dest.rmdir()
        os.rename(work, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(links, ignore_errors=True)
    return manifest


def _pin(data_dir: Path, links: Path, exclude: tuple[Path, ...]) -> dict[Path, Path]:
    """Hard-link every data file into `links` (inside the data directory: same file system, and a
    name starting with "." that backups skip), so that the files keep the contents they had when
    the database snapshot began whatever the server deletes meanwhile; relative path -> the file to
    copy (the link, or the live file where a link could not be made)."""
    pinned: dict[Path, Path] = {}
    for rel in data_files(data_dir, exclude=exclude):
        target = links / rel
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.link(data_dir / rel, target)
            pinned[rel] = target
        except FileNotFoundError:
            continue  # deleted just now, with its record: the snapshot holds neither
        except OSError:
            pinned[rel] = data_dir / rel
    return pinned


def _entry(sha: str, size: int) -> dict:
    return {"sha256": sha, "size": size}


# ---- migrations: a snapshot before, dropped after the next successful start -------------------

def _pending(con: sqlite3.Connection) -> tuple[int, int] | None:
    from .store.migrate import available

    if schema_version(con) == 0:
        return None  # a new database: nothing to lose
    done = {row[0] for row in con.execute("SELECT version FROM schema_version")}
    todo = [v for v, _ in available() if v not in done]
    return (max(done), max(todo)) if todo else None


def snapshot_before_migrations(data_dir: Path) -> Path | None:
    """When the database in `data_dir` has migrations to apply, copy it (whole, before the server
    serves anything) to `snapshots/pre-migration-<from>-to-<to>-<time>.sqlite3` and return its path."""
    path = datadir.db_path(data_dir)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout=5000")
        pending = _pending(con)
    finally:
        con.close()
    if pending is None:
        return None
    folder = Path(data_dir) / SNAPSHOTS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    final = folder / f"pre-migration-{pending[0]:04d}-to-{pending[1]:04d}-{stamp}.sqlite3"
    work = folder / f".{final.name}.partial"
    work.unlink(missing_ok=True)
    try:
        copy_database(path, work, step_pages=-1)
        with open(work, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(work, final)
        fsync_dir(folder)
    except BaseException:
        work.unlink(missing_ok=True)
        raise
    return final


def drop_snapshots(data_dir: Path, keep: Path | None) -> list[Path]:
    """At a successful start: delete the migration snapshots, except `keep` (this start's own)."""
    folder = Path(data_dir) / SNAPSHOTS_DIR
    dropped = []
    if folder.is_dir():
        for f in folder.iterdir():
            if f.name.startswith((".pre-migration-", "pre-migration-")) and (keep is None or f != keep):
                f.unlink(missing_ok=True)
                dropped.append(f)
    return dropped


# ---- scheduled backups: names and retention -----------------------------------------------------

def parse_at(text: str) -> tuple[int, int]:
    """"HH:MM" (24-hour, UTC) -> (hour, minute); ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and 1 <= len(hours) <= 2):
        raise ValueError(f"not a HH:MM time: {text!r}")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"not a HH:MM time: {text!r}")
    return h, m



_NAME = re.compile(r"^originchats-(\d{8}T\d{6}Z)(?:-(\d+))?$")


def new_backup_path(root: Path, now: dt.datetime) -> Path:
    stamp = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path, n = root / f"originchats-{stamp}", 0
    while path.exists():
        n += 1
        path = root / f"originchats-{stamp}-{n}"
    return path


def scheduled_backups(root: Path) -> list[Path]:
    """The complete scheduled backups in `root`, oldest first."""
    found = []
    if root.is_dir():
        for p in root.iterdir():
            m = _NAME.match(p.name)
            if m and (p / MANIFEST).is_file():
                found.append(((m.group(1), int(m.group(2) or 0)), p))
    return [p for _, p in sorted(found)]


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest scheduled backups, and half-written ones left by a killed
    server; returns what was deleted."""
    done = scheduled_backups(root)
    gone = done[:max(0, len(done) - keep)]
    if root.is_dir():
        gone += [p for p in root.iterdir()
                 if p.name.startswith(".originchats-") and ".partial-" in p.name and p.is_dir()
                 and not _alive(p.name.rsplit("-", 1)[-1])]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def _alive(pid: str) -> bool:
    """Whether the process `pid` (the writer of a partial backup) still runs."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return int(pid) != os.getpid()  # ours: left by a failed attempt of this process
