"""SQLite store: migrations (from empty, idempotent, atomic per file, newer schemas refused), the
connection pragmas (WAL), and the single grouped writer (batching, failure isolation, draining)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import structlog.testing
import trio
import trio.testing

from originchats.core import writes as w
from originchats.core.model import Message
from originchats.store import writer as writer_mod
from originchats.store.db import db_path, open_db
from originchats.store.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, available
from originchats.store.writer import Writer, WriteFailed


@pytest.fixture
def con(tmp_path):  # type: ignore[no-untyped-def]
    con = open_db(db_path(tmp_path / "data"), synchronous="NORMAL")
    yield con
    con.close()


def tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def versions(con: sqlite3.Connection) -> list[int]:
    return [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version")]


def schema(con: sqlite3.Connection) -> list[tuple]:
    return con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()


# ---- migrations -------------------------------------------------------------------------------


def test_migrations_from_empty_apply_every_file_in_order(con):
    expected = [v for v, _ in available()]
    assert expected[0] == 1 and expected == sorted(expected)
    assert apply_migrations(con) == expected
    assert versions(con) == expected
    assert {"users", "roles", "channels", "messages", "settings", "audit_log", "schema_version"} <= tables(con)


def test_rerun_does_nothing(con):
    apply_migrations(con)
    before = schema(con)
    assert apply_migrations(con) == []
    assert schema(con) == before


def copy_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    return folder


def test_broken_migration_rolls_back_and_names_its_file(con, tmp_path):
    folder = copy_migrations(tmp_path)
    good = versions_after = apply_migrations(con, folder)
    (folder / "9990_half_done.sql").write_text(
        "CREATE TABLE half_done (x INTEGER);\nINSERT INTO half_done VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n")
    with pytest.raises(MigrationError, match=r"9990_half_done\.sql: no such table: no_such_table"):
        apply_migrations(con, folder)
    assert "half_done" not in tables(con)  # the statements before the error were rolled back
    assert versions(con) == versions_after == good
    assert not con.in_transaction
    # fixed, it applies on the next start
    (folder / "9990_half_done.sql").write_text("CREATE TABLE half_done (x INTEGER);\n")
    assert apply_migrations(con, folder) == [9990]
    assert "half_done" in tables(con)


def test_a_failing_file_stops_the_later_ones(con, tmp_path):
    folder = copy_migrations(tmp_path)
    (folder / "9991_bad.sql").write_text("THIS IS NOT SQL;")
    (folder / "9992_fine.sql").write_text("CREATE TABLE fine (x INTEGER);")
    with pytest.raises(MigrationError, match=r"9991_bad\.sql"):
        apply_migrations(con, folder)
    assert "fine" not in tables(con) and 9992 not in versions(con)


def test_files_not_named_like_migrations_are_ignored(con, tmp_path):
    folder = copy_migrations(tmp_path)
    (folder / "README.md").write_text("notes")
    (folder / "12_short.sql").write_text("THIS IS NOT SQL;")
    assert apply_migrations(con, folder) == [v for v, _ in available()]


def test_a_database_from_a_newer_server_is_refused(con):
    apply_migrations(con)
    con.execute("INSERT INTO schema_version(version, applied_at) VALUES (9999, 'later')")
    with pytest.raises(MigrationError, match="schema version 9999, newer"):
        apply_migrations(con)


def test_missing_migrations_folder_is_a_clear_error(con, tmp_path):
    with pytest.raises(MigrationError, match="cannot read the migrations folder"):
        apply_migrations(con, tmp_path / "nowhere")


# ---- connections --------------------------------------------------------------------------------


def test_write_connection_pragmas(tmp_path):
    path = db_path(tmp_path / "data")
    for sync, level in (("FULL", 2), ("NORMAL", 1)):
        con = open_db(path, synchronous=sync)
        try:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert con.execute("PRAGMA synchronous").fetchone()[0] == level
            assert con.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert con.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
            assert con.isolation_level is None
        finally:
            con.close()


def test_read_only_connection_beside_the_writer(tmp_path):
    path = db_path(tmp_path / "odd #name?%20" / "data")  # characters that mean something in a URI
    con = open_db(path)
    ro = None
    try:
        apply_migrations(con)
        ro = open_db(path, readonly=True)
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO settings(key, value) VALUES ('k', '1')")
        assert ro.execute("SELECT count(*) FROM settings WHERE key = 'k'").fetchone()[0] == 0  # WAL: not blocked
        con.execute("COMMIT")
        assert ro.execute("SELECT value FROM settings WHERE key = 'k'").fetchone()[0] == "1"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.execute("INSERT INTO settings(key, value) VALUES ('x', '1')")
    finally:
        con.close()
        if ro is not None:
            ro.close()


def test_unknown_synchronous_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="synchronous"):
        open_db(db_path(tmp_path), synchronous="OFF; DROP TABLE users")


# ---- the writer -----------------------------------------------------------------------------------


@pytest.fixture
def migrated(con):  # type: ignore[no-untyped-def]
    apply_migrations(con)
    return con


def message(mid: str, content: str = "hi") -> w.MessageCreated:
    return w.MessageCreated(Message(id=mid, channel_id="c1", user_id="u1", content=content, timestamp=1.0))


def setting_value(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


async def test_concurrent_submits_are_grouped_into_few_batches(migrated, nursery):
    writer = Writer(migrated)
    await nursery.start(writer.run)
    async with trio.open_nursery() as senders:
        for i in range(300):
            senders.start_soon(writer.submit, [w.SettingSaved(f"k{i}", i)])
    assert writer.committed == 300
    assert writer.batches <= 10, writer.batches  # one commit serves many writes
    assert [setting_value(migrated, f"k{i}") for i in (0, 150, 299)] == ["0", "150", "299"]
    writer.close()


async def test_a_failing_write_does_not_fail_the_rest_of_its_batch(migrated, nursery):
    writer = Writer(migrated)
    results: dict[str, str] = {}

    async def submit(name: str, writes: list) -> None:  # type: ignore[type-arg]
        try:
            await writer.submit(writes)
            results[name] = "ok"
        except WriteFailed:
            results[name] = "failed"

    too_big = w.MessageCreated(Message(id="m3", channel_id="c1", user_id="u1", content="x", timestamp=2**70))
    plan = {
        "good1": [message("m1")],
        "duplicate": [message("m1")],  # sqlite3.IntegrityError
        "surrogate": [message("m2", "bad \ud800")],  # UnicodeEncodeError while binding
        "huge_int": [w.SettingSaved("n", 1), too_big],  # OverflowError while binding; the setting is undone
        "half": [message("m4"), message("m1")],  # the second write fails: the first is undone too
        "good2": [message("m5"), w.SettingSaved("s", "v")],
    }
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as senders:
            for name, writes in plan.items():
                senders.start_soon(submit, name, writes)
                await trio.testing.wait_all_tasks_blocked()  # queued in this order
            await nursery.start(writer.run)  # all of them are waiting: one batch
    assert writer.batches == 1
    assert results == {"good1": "ok", "duplicate": "failed", "surrogate": "failed", "huge_int": "failed",
                       "half": "failed", "good2": "ok"}
    ids = {r[0] for r in migrated.execute("SELECT id FROM messages")}
    assert ids == {"m1", "m5"}
    assert setting_value(migrated, "s") == '"v"' and setting_value(migrated, "n") is None
    assert writer.committed == 2
    failures = [e for e in logs if e["event"] == "write_failed"]
    assert len(failures) == 4
    assert all("\ud800" not in e["error"] for e in failures)  # a value SQLite refused is not logged
    # the writer lives on
    await writer.submit([message("m6")])
    assert writer.batches == 2
    writer.close()


async def test_close_drains_everything_queued(migrated, nursery, monkeypatch):
    original = writer_mod._apply_batch

    def slow(con, batch, *rest):  # type: ignore[no-untyped-def]
        time.sleep(0.01)  # a slow disk (in the worker thread)
        original(con, batch, *rest)

    monkeypatch.setattr(writer_mod, "_apply_batch", slow)
    writer = Writer(migrated, max_batch=7)
    done = trio.Event()

    async def run() -> None:
        await writer.run()
        done.set()

    nursery.start_soon(run)
    async with trio.open_nursery() as senders:
        for i in range(60):
            senders.start_soon(writer.submit, [message(f"d{i}")])
        await trio.testing.wait_all_tasks_blocked()
        writer.close()  # while most of them are still queued
    with trio.fail_after(10):
        await done.wait()
    assert migrated.execute("SELECT count(*) FROM messages").fetchone()[0] == 60
    assert writer.batches >= 60 // 7
    with pytest.raises(WriteFailed, match="shut down"):
        await writer.submit([message("late")])
