"""The data directory is private (hardening issue, defect 5: the SQLite file and its WAL were 0644 in
a 0755 folder, so any local user could read password hashes, hidden channels and the audit log)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import structlog.testing

from originchats.config import StorageSection
from originchats.store.db import DB_FILE
from tests.client import settle


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_data_directory_is_private(server, tmp_path):
    alice = await server.user("alice")
    await alice.send("message_new", channel="general", content="hi")
    await settle()
    data = Path(server.config.storage.data_dir)
    assert mode(data) == 0o700
    files = [data / DB_FILE, data / (DB_FILE + "-wal"), data / (DB_FILE + "-shm")]
    assert all(f.exists() for f in files)
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(data / "admin.sock") == 0o600


async def test_an_old_open_data_directory_is_tightened_and_reported(make_server, tmp_path):
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    con = sqlite3.connect(data / DB_FILE)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x)")
    con.close()
    (data / DB_FILE).chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        server = await make_server(storage=StorageSection(data_dir=str(data), synchronous="normal"))
        await server.user("alice")
    assert mode(data / DB_FILE) == 0o600
    events = {e["event"]: e for e in logs}
    assert events["file_permissions_tightened"]["path"] == str(data / DB_FILE)
    assert events["data_dir_open_to_others"]["path"] == str(data)
    assert events["data_dir_open_to_others"]["log_level"] == "warning"
