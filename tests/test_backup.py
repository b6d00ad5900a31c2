"""Backups (originchats/backup.py, restore.py): what a backup holds, how `restore` refuses a damaged
backup or a running server, the snapshot before migrations, and the `[backup]` schedule (on trio's
MockClock). The kill -9 and write-load cases with real processes are in test_backup_process.py."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import attrs
import pytest
import trio

from originchats import backup, cli
from originchats.backup import BackupError, take_backup
from originchats.config import BackupSection
from originchats.datadir import db_path
from originchats.restore import restore, verify
from originchats.store.migrate import MIGRATIONS_DIR, apply_migrations, available
from tests.clock import autojump_clock  # noqa: F401
from tests.conftest import Server, make_config
from tests.test_emojis import add, emoji_dir

async def history(client) -> list[str]:  # type: ignore[no-untyped-def]
    await client.send("messages_get", channel="general", limit=100)
    return [m["content"] for m in (await client.expect("messages_get"))["messages"]]


async def test_a_backup_restores_messages_and_emoji_files_into_a_new_data_dir(server, nursery, tmp_path):
    boss = await server.owner("boss")
    for i in range(3):
        await boss.send("message_new", channel="general", content=f"kept {i}")
        await boss.expect("message_new")
    emoji = await add(boss, "party")
    dest = tmp_path / "bk"
    data_dir = Path(server.config.storage.data_dir)
    manifest = await trio.to_thread.run_sync(lambda: take_backup(data_dir, dest, step_pages=1))
    assert f"files/emojis/{emoji['fileName']}" in manifest["files"]
    assert not any(".partial" in p.name for p in tmp_path.iterdir())
    assert not (data_dir / "snapshots").exists()  # a new database: nothing to migrate, no snapshot
    with pytest.raises(BackupError, match="already exists"):
        await trio.to_thread.run_sync(lambda: take_backup(data_dir, dest))
    with pytest.raises(BackupError, match="no database"):
        await trio.to_thread.run_sync(lambda: take_backup(tmp_path / "nothing", tmp_path / "bk2"))
    await boss.send("message_new", channel="general", content="after the backup")
    await boss.expect("message_new")

    other = make_config(tmp_path / "other")
    await trio.to_thread.run_sync(restore, dest, Path(other.storage.data_dir))
    restored = Server(nursery=nursery, config=other)
    await restored.start()
    boss2 = await restored.user("boss")
    assert sorted(await history(boss2)) == ["kept 0", "kept 1", "kept 2"]
    await boss2.send("emoji_get_all")
    listed = await boss2.expect("emoji_get_all")
    assert emoji["fileName"] in json.dumps(listed)
    assert (emoji_dir(restored) / emoji["fileName"]).read_bytes() == (emoji_dir(server) / emoji["fileName"]).read_bytes()
    await restored.shutdown()


async def test_restore_refuses_the_data_dir_of_a_running_server_and_changes_nothing(server, tmp_path):
    boss = await server.user("boss")
    await boss.send("message_new", channel="general", content="live")
    await boss.expect("message_new")
    data_dir = Path(server.config.storage.data_dir)
    await trio.to_thread.run_sync(lambda: take_backup(data_dir, tmp_path / "bk"))
    before = sorted(p.name for p in data_dir.iterdir())
    with pytest.raises(BackupError, match="a server is running"):
        await trio.to_thread.run_sync(restore, tmp_path / "bk", data_dir)
    assert sorted(p.name for p in data_dir.iterdir()) == before


@pytest.fixture
async def stopped_backup(server, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    boss = await server.user("boss")
    await boss.send("message_new", channel="general", content="x" * 2000)
    await boss.expect("message_new")
    await server.shutdown()
    dest = tmp_path / "bk"
    take_backup(Path(server.config.storage.data_dir), dest)
    return dest


def _restore_cli(src: Path, data_dir: Path, tmp_path: Path, capsys) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    config = tmp_path / "restore.toml"
    config.write_text(f'[storage]\ndata_dir = "{data_dir}"\n')
    code = cli.main(["restore", str(src), "--verify", "--config", str(config)])
    return code, capsys.readouterr().err


async def test_verify_refuses_a_truncated_backup(stopped_backup, tmp_path, capsys):
    db = stopped_backup / "originchats.sqlite3"
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    target = tmp_path / "target"
    code, err = _restore_cli(stopped_backup, target, tmp_path, capsys)
    assert code == 1
    assert "restore refused" in err and "originchats.sqlite3" in err and "truncated" in err
    assert not target.exists() or not any(target.iterdir())


async def test_verify_refuses_a_tampered_file_and_a_half_written_backup(stopped_backup, tmp_path, capsys):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    db = stopped_backup / "originchats.sqlite3"
    data = bytearray(db.read_bytes())
    data[-100] ^= 0xFF  # same size, other bytes
    db.write_bytes(bytes(data))
    code, err = _restore_cli(stopped_backup, target, tmp_path, capsys)
    assert code == 1 and "sha256" in err and "changed" in err
    (stopped_backup / "manifest.json").unlink()  # what a killed backup leaves: no manifest
    code, err = _restore_cli(stopped_backup, target, tmp_path, capsys)
    assert code == 1 and "not a complete backup" in err
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


async def test_verify_runs_integrity_check_even_when_the_manifest_was_rewritten(stopped_backup):
    db = stopped_backup / "originchats.sqlite3"
    con = sqlite3.connect(db)
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()[0]
    con.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size
    data[start + 8: start + 200] = b"\x00" * 192  # the table's b-tree page: cell pointers wiped
    db.write_bytes(bytes(data))
    manifest = json.loads((stopped_backup / "manifest.json").read_text())
    manifest["files"]["originchats.sqlite3"] = {"sha256": backup.sha256_file(db)[0], "size": len(data)}
    (stopped_backup / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="integrity_check|damaged"):
        verify(stopped_backup)


async def test_a_manifest_naming_a_path_outside_the_data_dir_is_refused(stopped_backup):
    manifest = json.loads((stopped_backup / "manifest.json").read_text())
    manifest["files"]["../escape"] = {"sha256": "0" * 64, "size": 0}
    (stopped_backup / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="outside the data directory"):
        verify(stopped_backup)


async def test_restore_sets_the_previous_contents_aside(stopped_backup, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / "originchats.sqlite3").write_text("old")
    (target / "originchats.sqlite3-wal").write_text("old wal")
    aside = restore(stopped_backup, target)
    assert aside is not None and (aside / "originchats.sqlite3").read_text() == "old"
    assert not (target / "originchats.sqlite3-wal").exists()  # a stale WAL never meets the restored file
    assert verify(stopped_backup)["files"]["originchats.sqlite3"]["sha256"] == \
        backup.sha256_file(target / "originchats.sqlite3")[0]


def _database_before_last_migration(data_dir: Path, tmp_path: Path) -> int:
    """A database at the schema before the newest migration; returns that version."""
    versions = [v for v, _ in available()]
    folder = tmp_path / "older"
    folder.mkdir()
    for version, path in available():
        if version < versions[-1]:
            shutil.copy(Path(str(MIGRATIONS_DIR)) / path.name, folder)
    data_dir.mkdir(mode=0o700, parents=True)
    con = sqlite3.connect(db_path(data_dir), isolation_level=None)
    apply_migrations(con, folder)
    con.close()
    return versions[-2]


async def test_a_snapshot_is_taken_before_migrating_and_kept_until_the_next_start(tmp_path, nursery, autojump_clock):
    config = make_config(tmp_path / "mig")
    data_dir = Path(config.storage.data_dir)
    old = _database_before_last_migration(data_dir, tmp_path)
    srv = Server(nursery=nursery, config=config)
    await srv.start()
    snapshots = list((data_dir / "snapshots").iterdir())
    assert [p.name.startswith(f"pre-migration-{old:04d}-to-") for p in snapshots] == [True]
    con = sqlite3.connect(snapshots[0])
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == old
    con.close()
    await srv.restart()  # the next successful start drops it
    await trio.sleep(1)
    assert list((data_dir / "snapshots").iterdir()) == []
    await srv.shutdown()


async def test_scheduled_backups_run_on_time_and_keep_the_newest(nursery, tmp_path, autojump_clock):
    config = make_config(tmp_path, backup=BackupSection(enabled=True, dir=str(tmp_path / "backups"),
                                                        interval_hours=2, keep=2))
    srv = Server(nursery=nursery, config=config)
    await srv.start()
    boss = await srv.user("boss")
    root = tmp_path / "backups"
    root.mkdir()
    left = root / ".originchats-20260101T000000Z.partial-999999999"  # by a server killed mid-backup
    left.mkdir()
    await trio.sleep(1.9 * 3600)
    assert list(root.iterdir()) == [left]
    for day in range(3):
        await boss.send("message_new", channel="general", content=f"day {day}")
        await boss.expect("message_new")
        await trio.sleep(2 * 3600)
    kept = backup.scheduled_backups(root)
    assert len(kept) == 2 and sorted(root.iterdir()) == kept
    newest = verify(kept[-1])
    con = sqlite3.connect(kept[-1] / "originchats.sqlite3")
    assert {r[0] for r in con.execute("SELECT content FROM messages")} == {"day 0", "day 1", "day 2"}
    con.close()
    assert newest["schema_version"] == available()[-1][0]
    await srv.shutdown()


def test_backup_config_is_checked():
    from originchats.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="backup.at") as info:
        parse_config({"backup": {"at": "25:00", "keep": 0}})
    assert "backup.keep" in str(info.value)
    assert parse_config({"backup": {"enabled": True, "at": "04:15"}}).backup == attrs.evolve(
        BackupSection(), enabled=True, at="04:15")


def test_the_daily_time_is_the_next_one_in_utc():
    import datetime as dt

    from originchats.server.backup_schedule import next_delay, seconds_until

    at = (3, 30)
    utc = dt.timezone.utc
    assert seconds_until(at, dt.datetime(2026, 11, 30, 3, 0, tzinfo=utc)) == 1800
    assert seconds_until(at, dt.datetime(2026, 11, 30, 3, 30, tzinfo=utc)) == 86400
    assert seconds_until(at, dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == 5400  # 02:00 UTC
    config = make_config(Path("/nowhere"), backup=BackupSection(enabled=True, at="03:30"))
    assert next_delay(config, dt.datetime(2026, 11, 30, 3, 29, 30, tzinfo=utc)) == 60  # never closer than a minute
    hourly = make_config(Path("/nowhere"), backup=BackupSection(enabled=True, interval_hours=6))
    assert next_delay(hourly, dt.datetime(2026, 11, 30, 3, 29, tzinfo=utc)) == 6 * 3600


async def test_a_stopped_backup_leaves_nothing(server, tmp_path):
    data_dir = Path(server.config.storage.data_dir)
    with pytest.raises(backup.Stopped):
        await trio.to_thread.run_sync(lambda: take_backup(data_dir, tmp_path / "bk", stop=lambda: True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


async def test_a_file_the_server_deletes_during_the_backup_is_still_in_it(server, tmp_path):
    """The files are taken as they were when the database snapshot began: an emoji deleted while
    the database is being copied (its record is in the copy) keeps its file in the backup, and the
    backup leaves no hard links behind."""
    boss = await server.owner("boss")
    emoji = await add(boss, "party")
    data_dir = Path(server.config.storage.data_dir)
    image = emoji_dir(server) / emoji["fileName"]
    original = image.read_bytes()
    deleted = []

    def meanwhile(done: int, total: int) -> None:  # called at each step of the database copy
        if not deleted:
            image.unlink()  # what the server does once an emoji_delete is committed
            deleted.append(done)

    dest = tmp_path / "bk"
    manifest = await trio.to_thread.run_sync(lambda: take_backup(data_dir, dest, step_pages=1, progress=meanwhile))
    assert deleted and not image.exists()
    rel = f"files/emojis/{emoji['fileName']}"
    assert rel in manifest["files"] and (dest / rel).read_bytes() == original
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".backup-links-")]
