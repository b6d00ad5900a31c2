"""`originchats backup DEST` and `originchats restore SRC --verify` (the work is in backup.py and
restore.py). Both take `--config` (required, as for `serve`) and `--data-dir` (overrides
`storage.data_dir`). Exit codes: 0 done, 1 refused or failed (the reason on stderr), 2 a bad
configuration."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from .backup import BackupError, take_backup
from .config import Config, ConfigError, load_config


def add_parsers(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("backup", help="copy the database and files to DEST, while the server runs or not")
    b.add_argument("dest", help="a new folder for the backup")
    b.add_argument("--config", required=True, help="path to the TOML configuration")
    b.add_argument("--data-dir", help="data directory (overrides storage.data_dir)")
    b.add_argument("--step-pages", type=int, help="database pages copied per step (default: backup.step_pages)")
    b.set_defaults(func=run_backup)
    r = sub.add_parser("restore", help="check a backup, then make it the data directory's contents")
    r.add_argument("src", help="a folder written by `originchats backup`")
    r.add_argument("--config", required=True, help="path to the TOML configuration")
    r.add_argument("--data-dir", help="data directory (overrides storage.data_dir)")
    r.add_argument("--verify", action="store_true",
                   help="check the checksums and PRAGMA integrity_check first (always done; nothing is "
                        "replaced unless every check passes)")
    r.add_argument("--dry-run", action="store_true", help="only check the backup; change nothing")
    r.set_defaults(func=run_restore)


def _config(args: argparse.Namespace) -> tuple[Config, Path] | None:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"originchats: {exc}", file=sys.stderr)
        return None
    return config, Path(args.data_dir or config.storage.data_dir)


class _Progress:
    """Prints the database copy's progress: at the first step, then every tenth."""

    def __init__(self) -> None:
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if self.shown < 0 or tenth > self.shown:
            self.shown = max(tenth, 0)
            print(f"database: {done}/{total} pages copied", flush=True)


def run_backup(args: argparse.Namespace) -> int:
    found = _config(args)
    if found is None:
        return 2
    config, data_dir = found
    step = args.step_pages if args.step_pages is not None else config.backup.step_pages
    if step < 1:
        print("originchats: --step-pages must be at least 1", file=sys.stderr)
        return 2
    try:
        manifest = take_backup(data_dir, Path(args.dest), step_pages=step, progress=_Progress())
    except (BackupError, OSError, sqlite3.Error) as exc:
        print(f"originchats: backup failed: {exc}", file=sys.stderr)
        return 1
    files = manifest["files"]
    print(f"backup written to {args.dest}: the database (schema {manifest['schema_version']}) and "
          f"{len(files) - 1} other file(s), {sum(e['size'] for e in files.values())} bytes, "
          f"checksums in manifest.json", flush=True)
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from .restore import restore, verify

    found = _config(args)
    if found is None:
        return 2
    _, data_dir = found
    src = Path(args.src)
    try:
        if args.dry_run:
            manifest = verify(src)
            print(f"{src}: verified ({len(manifest['files'])} files, checksums and integrity_check ok, "
                  f"taken {manifest.get('created_at')}); nothing changed")
            return 0
        aside = restore(src, data_dir)
    except (BackupError, OSError, sqlite3.Error) as exc:
        print(f"originchats: restore refused: {exc}", file=sys.stderr)
        return 1
    print(f"{src}: verified and restored into {data_dir}")
    if aside is not None:
        print(f"the previous contents are in {aside}; delete them once the restored server works")
    return 0
