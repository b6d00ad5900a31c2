"""`originchats check --config FILE [--data-dir DIR]`: is this configuration and data directory fit
to start a server on? It changes nothing and starts nothing.

One line per check, `ok`, `warn` or `FAIL` first. Exit code: 0 no FAIL (warnings allowed), 1 a FAIL,
2 the configuration itself is invalid, TLS files included (as `serve` would exit). Other parts add their checks to
`EXTRA_CHECKS` (e.g. that the TLS files can be read)."""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from . import datadir
from .config import Config, ConfigError, load_config

OK, WARN, FAIL = "ok", "warn", "FAIL"
Line = tuple[str, str]
#: Below this much free space on the data directory's file system, starting is a FAIL.
MIN_FREE_BYTES = 64 * 1024 * 1024
#: fn(config, data_dir) -> lines; more checks from other parts (TLS files, ...).
EXTRA_CHECKS: list[Callable[[Config, Path], list[Line]]] = []


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("check", help="validate the configuration and the data directory without starting")
    c.add_argument("--config", required=True, help="path to the TOML configuration")
    c.add_argument("--data-dir", help="data directory (overrides storage.data_dir)")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{FAIL:4}  config: {exc}")
        return 2
    from .server.tls import Tls

    try:  # the certificate and key are read as `serve` reads them: a wrong path is a configuration error
        tls = Tls.from_config(config.tls)
    except ConfigError as exc:
        print(f"{FAIL:4}  config: {args.config}: {exc}")
        return 2
    print(f"{OK:4}  config: {args.config} is valid" + (" (TLS certificate and key readable)" if tls else ""))
    data_dir = Path(args.data_dir or config.storage.data_dir)
    lines = check_data_dir(data_dir) + check_disk(data_dir) + check_database(data_dir) + check_backup(config)
    for extra in EXTRA_CHECKS:
        lines += extra(config, data_dir)
    for level, text in lines:
        print(f"{level:4}  {text}")
    failed = sum(1 for level, _ in lines if level == FAIL)
    if failed:
        print(f"{failed} problem(s): fix them before starting the server", file=sys.stderr)
    return 1 if failed else 0


def _existing(path: Path) -> Path:
    """`path` or its nearest existing parent."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_dir(data_dir: Path) -> list[Line]:
    if not data_dir.exists():
        parent = _existing(data_dir)
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return [(OK, f"data dir: {data_dir} does not exist yet; the first start creates it (mode 0700)")]
        return [(FAIL, f"data dir: {data_dir} does not exist and {parent} is not writable to create it")]
    if not data_dir.is_dir():
        return [(FAIL, f"data dir: {data_dir} is not a directory")]
    lines: list[Line] = []
    st = data_dir.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        lines.append((WARN, f"data dir: {data_dir} belongs to uid {st.st_uid}, not to this account "
                            f"({os.getuid()}); run the check as the server's user"))
    if not os.access(data_dir, os.W_OK | os.X_OK):
        lines.append((FAIL, f"data dir: {data_dir} is not writable by this account"))
    elif stat.S_IMODE(st.st_mode) & 0o077:
        lines.append((WARN, f"data dir: {data_dir} has mode {stat.S_IMODE(st.st_mode):04o}; other local users can "
                            f"see what it holds: chmod 700 it"))
    else:
        lines.append((OK, f"data dir: {data_dir} (mode {stat.S_IMODE(st.st_mode):04o}, writable)"))
    db = datadir.db_path(data_dir)
    if db.exists():
        mode = stat.S_IMODE(db.stat().st_mode)
        if not os.access(db, os.R_OK | os.W_OK):
            lines.append((FAIL, f"database: {db} is not readable and writable by this account"))
        elif mode & 0o077:
            lines.append((WARN, f"database: {db} has mode {mode:04o}; the server tightens it to 0600 at start"))
    return lines


def check_disk(data_dir: Path) -> list[Line]:
    where = _existing(data_dir)
    free = shutil.disk_usage(where).free
    db = datadir.db_path(data_dir)
    used = sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())
    text = f"disk: {free / 2**20:.0f} MiB free on {where}"
    if free < MIN_FREE_BYTES:
        return [(FAIL, f"{text}; at least {MIN_FREE_BYTES // 2**20} MiB are needed")]
    if free < 2 * used:
        return [(WARN, f"{text}; the database takes {used / 2**20:.0f} MiB: a backup or a migration snapshot "
                       "needs as much again")]
    return [(OK, text)]


def check_database(data_dir: Path) -> list[Line]:
    from .restore import server_running
    from .store.migrate import available

    db = datadir.db_path(data_dir)
    newest = max((v for v, _ in available()), default=0)
    if not db.exists() or db.stat().st_size == 0:
        return [(OK, f"database: none yet; the first start creates it at schema {newest}")]
    try:
        version, tables = _schema(db)
    except sqlite3.Error as exc:
        return [(FAIL, f"database: {db} cannot be read: {exc}")]
    running = server_running(data_dir)
    lines: list[Line] = [(OK, f"server: running on {data_dir} (its admin socket answers)")] if running else []
    if version > newest:
        lines.append((FAIL, f"database: schema {version} is newer than this server knows ({newest}): "
                            "upgrade originchats, or restore a backup made by this version"))
    elif version == newest:
        lines.append((OK, f"database: schema {version}, current"))
    elif version == 0 and tables:
        lines.append((FAIL, f"database: {db} has tables but no schema_version: not an originchats database"))
    else:
        todo = [v for v, _ in available() if v > version]
        lines.append((OK, f"database: schema {version}; the next start applies migration(s) "
                          f"{', '.join(str(v) for v in todo)} after a snapshot in "
                          f"{data_dir / 'snapshots'}"))
    return lines


def _schema(db: Path) -> tuple[int, int]:
    """(schema version, tables) read without writing; a WAL database whose -shm is gone needs a
    read-write open, which writes nothing either."""
    for mode in ("ro", "rw"):
        try:
            con = sqlite3.connect(f"{db.resolve().as_uri()}?mode={mode}", uri=True)
            try:
                tables = con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                has = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone()
                version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0] if has else 0
                return version or 0, tables
            finally:
                con.close()
        except sqlite3.OperationalError:
            if mode == "rw":
                raise
    raise AssertionError("unreachable")


def check_backup(config: Config) -> list[Line]:
    if not config.backup.enabled:
        return []
    from .server.backup_schedule import backup_root

    root = backup_root(config)
    parent = root if root.exists() else _existing(root)
    if not (parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)):
        return [(FAIL, f"backup: {root} is not a writable folder")]
    every = (f"every {config.backup.interval_hours:g} h" if config.backup.interval_hours > 0
             else f"daily at {config.backup.at} UTC")
    return [(OK, f"backup: {every} into {root}, keeping {config.backup.keep}")]
