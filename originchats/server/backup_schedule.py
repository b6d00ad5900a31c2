"""The `[backup]` schedule: the running server takes a backup (originchats/backup.py, the same as
`originchats backup`) daily at `at` (UTC), or every `interval_hours`, and keeps the `keep` newest.
The copy runs in a worker thread; the writer goes on committing meanwhile. A failed backup is
logged and retried at the next time; it never stops the server. Also: the migration snapshots are
dropped once the server has started."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog
import trio

from .. import backup
from ..config import Config

log = structlog.get_logger("originchats.backup")
#: Never two scheduled backups closer than this (a clock stepped back, an `at` reached twice).
MIN_GAP_SECONDS = 60.0


def backup_root(config: Config) -> Path:
    """`[backup] dir`, or `<data dir>/backups` when it is empty; a relative dir is read from the
    working directory, like `storage.data_dir`."""
    return Path(config.backup.dir) if config.backup.dir else Path(config.storage.data_dir) / backup.BACKUPS_DIR


def seconds_until(at: tuple[int, int], now: dt.datetime) -> float:
    """Seconds from `now` to the next `at` (UTC) after it."""
    now = now.astimezone(dt.timezone.utc)
    target = now.replace(hour=at[0], minute=at[1], second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return (target - now).total_seconds()


def next_delay(config: Config, now: dt.datetime) -> float:
    b = config.backup
    if b.interval_hours > 0:
        return b.interval_hours * 3600.0
    return max(MIN_GAP_SECONDS, seconds_until(backup.parse_at(b.at), now))


def run_once(config: Config, now: dt.datetime, stop: threading.Event | None = None) -> tuple[Path, dict, list[Path]]:
    """Blocking: one scheduled backup and the pruning after it; ends early (`backup.Stopped`, the
    half-written copy removed) once `stop` is set."""
    root = backup_root(config)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = backup.new_backup_path(root, now)
    manifest = backup.take_backup(Path(config.storage.data_dir), dest, step_pages=config.backup.step_pages,
                                   exclude=(root,), stop=stop.is_set if stop is not None else None)
    return dest, manifest, backup.prune(root, config.backup.keep)


async def scheduled_backups(config: Config, *, wall: Callable[[], float] = time.time) -> None:
    """Run forever (until cancelled with the server's services): sleep to the next time, back up."""
    while True:
        now = dt.datetime.fromtimestamp(wall(), dt.timezone.utc)
        await trio.sleep(next_delay(config, now))
        now = dt.datetime.fromtimestamp(wall(), dt.timezone.utc)
        stop = threading.Event()
        try:
            # abandoned on cancel (a server shutting down does not wait for a long copy): the thread
            # sees `stop` at its next step and removes what it wrote
            dest, manifest, pruned = await trio.to_thread.run_sync(run_once, config, now, stop,
                                                                   abandon_on_cancel=True)
        except trio.Cancelled:
            stop.set()
            log.info("backup_stopped", reason="the server is shutting down")
            raise
        except (OSError, sqlite3.Error, backup.BackupError) as exc:
            log.error("backup_failed", error=str(exc))
            continue
        log.info("backup_done", path=str(dest), files=len(manifest["files"]),
                 bytes=sum(e["size"] for e in manifest["files"].values()), pruned=len(pruned))


async def drop_snapshots_after_start(data_dir: Path, keep: Path | None) -> None:
    """The server has started: the snapshots of earlier migrations are no longer needed."""
    try:
        dropped = await trio.to_thread.run_sync(backup.drop_snapshots, data_dir, keep)
    except OSError as exc:
        log.warning("snapshots_not_dropped", error=str(exc))
        return
    if dropped:
        log.info("migration_snapshots_dropped", count=len(dropped))
