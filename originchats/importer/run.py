"""`originchats import`: the groups in order, each in one transaction with its done marker.

While an import is unfinished the store holds `import.running`, and the server refuses to start
on it (store/load.py `refuse_unfinished_import`): a half-import is never served. A crash or Ctrl-C
loses at most the group in progress (its transaction is never committed); running the same
command again skips the groups already done and finishes. A finished import run again changes
nothing. A store with data of its own is refused unless `--merge`, which adds what is missing and
keeps what is there. `--dry-run` imports into a scratch database in a temporary folder, copies
no file, prints the counts and the problems, and leaves the store alone."""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..config import Config
from ..core.settings import ContentLimits
from ..core.writes import SettingSaved
from ..datadir import db_path
from ..store import load
from ..store.db import open_db
from ..store.migrate import apply_migrations
from ..store.recheck import RECHECK_VERSION, recheck_records
from ..store.recheck import SETTING as RECHECK_SETTING
from .accounts import import_accounts, import_files
from .job import DONE_PREFIX, RUNNING, Job
from .messages import import_messages, import_polls, import_threads, read_polls
from .others import import_audit, import_push, import_unreads, import_webhooks
from .progress import Progress
from .records import Ids
from .source import Report, read_document

#: SQLite's page cache of the import's connection (KiB): the message id index takes random UUIDs,
#: and with SQLite's default 2 MiB every insert into a large history read its pages from the OS again
CACHE_KIB = 128 * 1024
REPORT_FILE = "import-report.txt"  # in the data directory, after each real run


def _groups(polls: list) -> list[tuple[str, Callable[[Job], dict[str, int]]]]:
    return [("accounts", import_accounts), ("files", import_files), ("threads", import_threads),
            ("messages", lambda job: import_messages(job, polls)), ("polls", lambda job: import_polls(job, polls)),
            ("webhooks", import_webhooks), ("push", import_push), ("unreads", import_unreads),
            ("audit", import_audit)]


GROUP_NAMES = ("accounts", "files", "threads", "messages", "polls", "webhooks", "push", "unreads", "audit")


def content_limits(config: Config) -> ContentLimits:
    from ..server.app import project

    return project(ContentLimits, config.limits)


class Refused(Exception):
    pass


def run_import(root: Path, config: Config, *, source_config: Path | None = None, dry_run: bool = False,
               merge: bool = False, out: TextIO | None = None, progress: Progress | None = None) -> int:
    out = out if out is not None else sys.stdout
    progress = progress if progress is not None else Progress()
    root = root.absolute()
    if not root.is_dir():
        print(f"originchats: {root} is not a folder (give the original server's db/ folder)", file=sys.stderr)
        return 2
    report = Report(root)
    if source_config is None and (root.parent / "config.json").is_file():
        source_config = root.parent / "config.json"
    cfg = read_document(report, source_config, dict) if source_config is not None else {}
    if source_config is None:
        report.notes.append("no config.json of the original given: the server's name and icon are not imported")
    elif cfg:
        rest = sorted(k for k in cfg if k != "server")
        if rest:
            report.notes.append(f"config.json: only server.name/icon/banner are imported; {', '.join(rest)}:"
                                " set what you need in config.toml (docs/import.md)")
    data_dir = Path(config.storage.data_dir)
    if dry_run:
        return _dry_run(root, config, report, cfg, merge, out, progress)
    con = open_db(db_path(data_dir), synchronous=config.storage.synchronous.upper())
    con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    try:
        apply_migrations(con)
        job = Job(con, report, root, data_dir, merge, time.time(), progress, cfg, limits=content_limits(config))
        try:
            todo = _plan(job)
        except Refused as exc:
            print(f"originchats: {exc}", file=sys.stderr)
            return 1
        if todo is None:
            print(f"{root} is already imported into {db_path(data_dir)}: nothing changed", file=out)
            return 0
        try:
            _run_groups(job, todo)
        except (sqlite3.Error, OSError, UnicodeError) as exc:  # the group's transaction was rolled back
            print(f"originchats: the import stopped: {exc}; nothing of the group in progress was kept, the groups"
                  " before it were (run the same command again once the cause is fixed)", file=sys.stderr)
            print(summary(report), end="", file=out)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted: the group in progress was rolled back; run the same command again to finish"
                  " (the server refuses this store until then)", file=sys.stderr)
            return 130
        _finish(job)
    finally:
        con.close()
    text = summary(report)
    (data_dir / REPORT_FILE).write_text(text, encoding="utf-8")
    print(text, end="", file=out)
    print(f"report written to {data_dir / REPORT_FILE}", file=out)
    return 0


def _plan(job: Job) -> list[str] | None:
    """The groups still to import (None: the import is finished, nothing to do); raises Refused when
    the store is not this import's to fill."""
    settings = load.load_settings(job.con)
    running = settings.get(RUNNING)
    source = str(job.root)
    done = {g for g in GROUP_NAMES if (settings.get(DONE_PREFIX + g) or {}).get("source") == source}
    if running and running.get("source") != source and not job.merge:
        raise Refused(f"an import of {running.get('source')} into this store is unfinished: run it again to"
                      " finish it first")
    if job.merge:
        return list(GROUP_NAMES)
    if running:
        return [g for g in GROUP_NAMES if g not in done]
    if done == set(GROUP_NAMES):
        return None
    users = job.one("SELECT COUNT(*) FROM users")
    messages = job.one("SELECT COUNT(*) FROM messages")
    if users or messages or job.one("SELECT COUNT(*) FROM threads"):
        raise Refused(f"the store already has data ({users} users, {messages} messages): give --merge to add"
                      " the import to it (what is in the store wins), or import into an empty data directory")
    return list(GROUP_NAMES)


def _run_groups(job: Job, todo: list[str]) -> None:
    _transaction(job.con, lambda: job.write(SettingSaved(RUNNING, {"source": str(job.root), "started": job.now})))
    polls: list = []
    for name, fn in _groups(polls):
        refresh_ids(job)
        if name == "messages" or name == "polls":
            if not polls:
                polls.extend(read_polls(job))
        if name not in todo:
            continue
        done: dict[str, int] = {}

        def step(name: str = name, fn: Callable[[Job], dict[str, int]] = fn) -> None:
            done.update(fn(job))
            job.mark_done(name, done)

        _transaction(job.con, step)
        for what, n in done.items():
            job.report.counts[what] = job.report.counts.get(what, 0) + n
        job.progress.note(f"{name}: committed ({', '.join(f'{k} {v}' for k, v in done.items())})")


def _finish(job: Job) -> None:
    """Channels, roles and audit entries within the content limits (message embeds were checked as
    they were read), and the start-up recheck marked done so it leaves the poll embeds alone."""
    def body() -> None:
        fixed = recheck_records(job.con, job.limits)
        if fixed:
            job.report.notes.append(f"{fixed} channel, role or audit record(s) cut to the content limits"
                                    " (the server log names them)")
        job.write(SettingSaved(RECHECK_SETTING, RECHECK_VERSION))
        job.write(SettingSaved(RUNNING, False))

    _transaction(job.con, body)


def _transaction(con: sqlite3.Connection, body: Callable[[], Any]) -> None:
    con.execute("BEGIN IMMEDIATE")
    try:
        body()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def refresh_ids(job: Job) -> None:
    """Our ids of the source's users, channels (by name, as channels.json lists them) and threads."""
    quiet = Report(job.root)  # the groups report the problems of these files themselves
    names = [d.get("name") for d in read_document(quiet, job.root / "channels.json", list) if isinstance(d, dict)]
    stored = {c.name: c.id for c in load.load_channels(job.con)}
    threads_dir = job.root / "threads"
    sources = {p.stem for p in threads_dir.glob("*.json")} if threads_dir.is_dir() else set()
    users = [u for u in load.load_users(job.con) if not u.deleted]
    job.ids = Ids(users={u.username.casefold(): u.id for u in users}, user_ids=frozenset(u.id for u in users),
                  channels={n: stored[n] for n in names if isinstance(n, str) and n in stored},
                  threads={t.id: t.channel_id for t in load.load_threads(job.con) if t.id in sources})


def _dry_run(root: Path, config: Config, report: Report, cfg: dict, merge: bool, out: TextIO,
             progress: Progress) -> int:
    data_dir = Path(config.storage.data_dir)
    verdict = "the store would be filled"
    path = db_path(data_dir)
    if path.is_file():
        con = open_db(path, readonly=True)
        try:
            users = con.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            messages = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        except sqlite3.Error:
            users = messages = 0
        finally:
            con.close()
        if (users or messages) and not merge:
            verdict = f"the store already has data ({users} users, {messages} messages): it would be refused without --merge"
    with tempfile.TemporaryDirectory(prefix="originchats-import-") as scratch:
        con = open_db(Path(scratch) / "dry-run.sqlite3", synchronous="NORMAL")
        try:
            apply_migrations(con)
            job = Job(con, report, root, None, False, time.time(), progress, cfg, limits=content_limits(config))
            _run_groups(job, list(GROUP_NAMES))
            _finish(job)
        finally:
            con.close()
    print(summary(report, title=f"dry run of importing {root} (nothing written; {verdict})"), end="", file=out)
    return 0


def summary(report: Report, *, title: str = "") -> str:
    lines = [title or f"imported {report.root}"]
    lines += [f"  {what}: {n}" for what, n in report.counts.items()]
    lines += [f"note: {n}" for n in report.notes]
    lines.append(f"{len(report.problems)} problem(s):" if report.problems else "no problems")
    lines += [f"  {p.text()}" for p in report.problems]
    return "\n".join(lines) + "\n"


def dump_report(report: Report) -> str:
    """The report as JSON (tests, tools)."""
    return json.dumps({"counts": report.counts, "notes": report.notes,
                       "problems": [{"path": p.path, "line": p.line, "where": p.where, "reason": p.reason}
                                    for p in report.problems]}, ensure_ascii=False, indent=1)
