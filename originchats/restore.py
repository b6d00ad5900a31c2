"""`originchats restore SRC`: check a backup (originchats/backup.py), then put it in place of the data
directory's contents.

Nothing is replaced before every check passed: the manifest is well formed and names only paths
inside the backup, every file it lists is there with its size and sha256, the database passes
`PRAGMA integrity_check` and its schema is one this server knows. The files are then copied into
a staging folder inside the data directory (hashed again while copied), the current contents are
moved aside into `pre-restore-<time>/` (kept: the operator deletes them once the restored server
works), and the staged ones are renamed into place. A running server's data directory is refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import socket
import sqlite3
from pathlib import Path, PurePosixPath

from . import datadir
from .backup import (BACKUPS_DIR, FORMAT, FORMAT_VERSION, MANIFEST, PRE_RESTORE_PREFIX, RESTORE_STAGING_PREFIX,
                     SNAPSHOTS_DIR, BackupError, copy_hashed, fsync_dir, sha256_file)


def server_running(data_dir: Path) -> bool:
    """Whether a server holds `data_dir`: its admin socket (`admin.sock`, made at start, removed at
    exit) accepts a connection. A socket left by a killed server refuses it."""
    path = datadir.socket_path(data_dir)
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _safe_relative(name: object) -> PurePosixPath | None:
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return None
    rel = PurePosixPath(name)
    if rel.is_absolute() or any(part in ("", ".", "..") for part in rel.parts):
        return None
    if rel.parts[0] in (datadir.SOCKET_NAME, SNAPSHOTS_DIR, BACKUPS_DIR) or rel.parts[0].startswith(
            (PRE_RESTORE_PREFIX, RESTORE_STAGING_PREFIX)):
        return None
    return rel


def read_manifest(src: Path) -> dict:
    path = Path(src) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path}: missing; {src} is not a complete backup (was it interrupted?)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BackupError(f"{path}: unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not an originchats backup manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"{path}: backup format version {manifest.get('version')!r}; this server reads "
                          f"{FORMAT_VERSION}")
    files = manifest.get("files")
    if not isinstance(files, dict) or datadir.DB_FILE not in files:
        raise BackupError(f"{path}: lists no database")
    for name, entry in files.items():
        if _safe_relative(name) is None:
            raise BackupError(f"{path}: refusing the path {name!r} (outside the data directory)")
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("size"), int)):
            raise BackupError(f"{path}: the entry of {name!r} has no sha256 and size")
    return manifest


def verify(src: Path) -> dict:
    """Check the backup in `src` entirely; returns its manifest or raises BackupError listing
    what is wrong."""
    from .store.migrate import available

    src = Path(src)
    manifest = read_manifest(src)
    problems = []
    for name, entry in sorted(manifest["files"].items()):
        path = src / name
        if path.is_symlink() or not path.is_file():
            problems.append(f"{name}: missing")
            continue
        sha, size = sha256_file(path)
        if size != entry["size"]:
            problems.append(f"{name}: {size} bytes, the manifest says {entry['size']} (truncated?)")
        elif sha != entry["sha256"]:
            problems.append(f"{name}: sha256 {sha[:16]}…, the manifest says {entry['sha256'][:16]}… (changed)")
    if problems:
        raise BackupError(f"{src}: the backup does not match its manifest:\n  " + "\n  ".join(problems))
    db = src / datadir.DB_FILE
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
            version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{db}: the database is damaged: {exc}") from None
    if rows != ["ok"]:
        raise BackupError(f"{db}: PRAGMA integrity_check failed:\n  " + "\n  ".join(rows[:20]))
    newest = max((v for v, _ in available()), default=0)
    if version > newest:
        raise BackupError(f"{db}: schema version {version}, newer than this server knows ({newest}); "
                          "restore it with a newer originchats")
    return manifest


def restore(src: Path, data_dir: Path, *, now: dt.datetime | None = None) -> Path | None:
    """Verify `src`, then make it the contents of `data_dir`. Returns the folder the previous
    contents were moved to (None when there were none)."""
    src, data_dir = Path(src), Path(data_dir)
    if server_running(data_dir):
        raise BackupError(f"a server is running on {data_dir} (its admin socket answers); stop it first")
    manifest = verify(src)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = data_dir / f"{RESTORE_STAGING_PREFIX}{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700)
    try:
        for name, entry in manifest["files"].items():
            sha, size = copy_hashed(src / name, staging / name)
            if (sha, size) != (entry["sha256"], entry["size"]):
                raise BackupError(f"{src / name}: changed while it was being restored")
        for folder in sorted({(staging / n).parent for n in manifest["files"]}, reverse=True):
            fsync_dir(folder)
        if server_running(data_dir):
            raise BackupError(f"a server started on {data_dir} meanwhile; nothing was replaced")
        aside = _move_aside(data_dir, staging, now or dt.datetime.now(dt.timezone.utc))
        for entry_path in staging.iterdir():
            os.rename(entry_path, data_dir / entry_path.name)
        fsync_dir(data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return aside


def _move_aside(data_dir: Path, staging: Path, now: dt.datetime) -> Path | None:
    """Move what the data directory holds (but the backups, snapshots and earlier set-aside
    contents) into `pre-restore-<time>/`; the database's -wal and -shm go with it."""
    keep = {staging.name, SNAPSHOTS_DIR, BACKUPS_DIR, datadir.SOCKET_NAME}
    moving = [p for p in data_dir.iterdir() if p.name not in keep and not p.name.startswith(PRE_RESTORE_PREFIX)]
    if not moving:
        return None
    aside = data_dir / f"{PRE_RESTORE_PREFIX}{now.astimezone(dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    n = 0
    while aside.exists():
        n += 1
        aside = aside.with_name(aside.name.split("~")[0] + f"~{n}")
    aside.mkdir(mode=0o700)
    for p in moving:
        os.rename(p, aside / p.name)
    datadir.socket_path(data_dir).unlink(missing_ok=True)  # a killed server's stale socket
    return aside
