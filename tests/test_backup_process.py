"""Backups of a real server process (`python -m originchats serve`) with real SQLite files, taken with
the real `originchats backup` command: under write load, and with the server killed (`kill -9`)
in the middle of one. Whatever a client saw acknowledged before the backup began is in the
restored data directory, and the restored server serves it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import trio

from originchats.store.db import db_path
from tests.test_durability import ServerProcess, all_history, write_under_load


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "originchats", *args]


async def read_line(stream: trio.abc.ReceiveStream, buf: bytearray) -> str:
    with trio.fail_after(30):
        while b"\n" not in buf:
            data = await stream.receive_some(4096)
            assert data, f"the backup ended without a line: {bytes(buf)!r}"
            buf += data
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line.decode()


async def restore_and_read(src: Path, home: Path, nursery: trio.Nursery) -> tuple[set[str], set[str]]:
    """Restore `src` into a fresh data directory under `home`, start a server on it, and return
    (ids stored, ids a client reads in the history)."""
    home.mkdir(exist_ok=True)
    srv = ServerProcess(home, name="restored")
    result = await trio.run_process(command("restore", str(src), "--verify", "--config", str(srv.config_path)),
                                    capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert b"verified and restored" in result.stdout
    async with srv:
        reader = await srv.user(nursery, "reader")
        await reader.drain()
        history = await all_history(reader)
        stored = srv.stored_message_ids()
        await trio.aclose_forcefully(reader.stream)
    return stored, history


async def test_a_backup_under_write_load_restores_everything_acknowledged_before_it_began(tmp_path):
    seen: set[str] = set()
    sent = [0]
    dest = tmp_path / "backup"
    (tmp_path / "live").mkdir()
    async with ServerProcess(tmp_path / "live") as srv, trio.open_nursery() as nursery:
        clients = await write_under_load(srv, nursery, 3, 200, seen, sent)
        acknowledged = set(seen)  # every one was committed before the backup began
        result = await trio.run_process(command("backup", str(dest), "--config", str(srv.config_path),
                                                "--step-pages", "4"),
                                        capture_stdout=True, capture_stderr=True, check=False)
        during = len(seen) - len(acknowledged)
        for c in clients:
            await trio.aclose_forcefully(c.stream)
    assert result.returncode == 0, result.stderr.decode()
    assert during > 0, "no write was committed while the backup ran: it was not under load"
    async with trio.open_nursery() as nursery:
        stored, history = await restore_and_read(dest, tmp_path / "restored", nursery)
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged messages missing"
    assert acknowledged <= history


async def test_the_server_killed_during_a_backup_restarts_and_the_backup_restores(tmp_path):
    seen: set[str] = set()
    sent = [0]
    dest = tmp_path / "backup"
    async with ServerProcess(tmp_path, name="first") as srv, trio.open_nursery() as nursery:
        con = sqlite3.connect(db_path(srv.data_dir), timeout=10)
        with con:  # a few thousand pages, so that a copy one page per step takes a while
            con.execute("CREATE TABLE test_filler (b BLOB)")
            con.executemany("INSERT INTO test_filler VALUES (randomblob(400000))", [()] * 20)
        con.close()
        clients = await write_under_load(srv, nursery, 2, 100, seen, sent)
        acknowledged = set(seen)
        proc = await trio.lowlevel.open_process(
            command("backup", str(dest), "--config", str(srv.config_path), "--step-pages", "1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            buf = bytearray()
            first = await read_line(proc.stdout, buf)
            proc.send_signal(signal.SIGSTOP)  # frozen in the middle of the database copy
            done, total = map(int, first.split()[1].split("/"))
            assert done < total and proc.poll() is None, "the backup was over before the kill"
            srv.signal(signal.SIGKILL)
            assert await srv.wait_exit(10) == -signal.SIGKILL
            for c in clients:
                await trio.aclose_forcefully(c.stream)
            nursery.cancel_scope.cancel()
        except BaseException:
            proc.kill()
            raise

    async with ServerProcess(tmp_path, name="second") as srv, trio.open_nursery() as nursery:
        # the server starts on the data directory while the backup still holds its snapshot
        reader = await srv.user(nursery, "reader")
        await reader.drain()
        assert acknowledged <= await all_history(reader)
        await reader.send("message_new", channel="general", content="after the crash")
        await reader.expect("message_new")
        proc.send_signal(signal.SIGCONT)
        with trio.fail_after(60):
            while b"backup written" not in buf:
                data = await proc.stdout.receive_some(4096)
                if not data:
                    break
                buf += data
            assert await proc.wait() == 0, (await proc.stderr.receive_some(65536)).decode()
        await trio.aclose_forcefully(reader.stream)
        srv.signal(signal.SIGTERM)
        assert await srv.wait_exit(10) == 0

    async with trio.open_nursery() as nursery:
        stored, history = await restore_and_read(dest, tmp_path / "restored", nursery)
    assert acknowledged <= stored and acknowledged <= history


async def test_a_killed_backup_leaves_nothing_that_restore_would_take(tmp_path):
    dest = tmp_path / "backup"
    async with ServerProcess(tmp_path) as srv:
        con = sqlite3.connect(db_path(srv.data_dir), timeout=10)
        with con:
            con.execute("CREATE TABLE test_filler (b BLOB)")
            con.executemany("INSERT INTO test_filler VALUES (randomblob(400000))", [()] * 20)
        con.close()
        proc = await trio.lowlevel.open_process(
            command("backup", str(dest), "--config", str(srv.config_path), "--step-pages", "1"), stdout=subprocess.PIPE)
        await read_line(proc.stdout, bytearray())
        proc.kill()
        await proc.wait()
        partial = [p for p in tmp_path.iterdir() if ".partial-" in p.name]
        assert not dest.exists() and len(partial) == 1
        for src in (dest, partial[0]):
            result = await trio.run_process(command("restore", str(src), "--config", str(srv.config_path),
                                                    "--data-dir", str(tmp_path / "elsewhere")),
                                            capture_stdout=True, capture_stderr=True, check=False)
            assert result.returncode == 1 and b"restore refused" in result.stderr
        assert not (tmp_path / "elsewhere").exists() or not any((tmp_path / "elsewhere").iterdir())
