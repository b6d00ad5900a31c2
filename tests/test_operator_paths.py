"""An operator command goes through one effect interpreter whether the server runs (the admin
socket) or not (the database of a stopped server): the same answers, the same stored result, and
a failed save answered the same way (issue 7, item 3)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from originchats import admin
from originchats.store.db import db_path
from tests.client import _Threads, settle

LOCAL = "USR:local_"
FAILED = {"ok": False, "message": "Failed to save changes"}


async def offline(server: Any, request: dict[str, Any]) -> dict[str, Any]:
    """`originchats admin` on a stopped server, in-process (what the CLI runs without a socket)."""
    return await _Threads.original(admin.run_offline, Path(server.config.storage.data_dir), request, (64, 1))


def stored(server: Any) -> dict[str, list[tuple]]:
    with contextlib.closing(sqlite3.connect(db_path(server.config.storage.data_dir))) as con:
        return {"users": con.execute("SELECT id, roles, deleted FROM users ORDER BY id").fetchall(),
                "audit": con.execute("SELECT category, action, actor_id, target, reason, details FROM audit_log"
                                     " ORDER BY rowid").fetchall(),
                "sessions": con.execute("SELECT user_id FROM sessions ORDER BY user_id").fetchall()}


async def test_operator_commands_answer_and_store_alike_online_and_offline(server, make_server):
    stopped = await make_server()
    for srv in (server, stopped):
        for name in ("alice", "bob"):
            await (await srv.user(name)).close()
    await settle()
    await stopped.shutdown()
    requests = [
        {"cmd": "grant-owner", "user": "alice"}, {"cmd": "grant-owner", "user": "alice"},
        {"cmd": "ban", "user": "bob", "reason": "spam"}, {"cmd": "ban", "user": "bob"},
        {"cmd": "list-users"}, {"cmd": "unban", "user": LOCAL + "bob"}, {"cmd": "unban", "user": "bob"},
        {"cmd": "reset-password", "user": "alice", "password": "fresh-pass"},
        {"cmd": "ban", "user": "zed"}, {"cmd": "reset-password", "user": "bob", "password": "x"},
        {"cmd": "no-such-command"}, {"cmd": "list-users"},
    ]
    for request in requests:
        assert await offline(stopped, request) == await server.admin(request), request
    await server.shutdown()
    assert stored(stopped) == stored(server)


def _fail_writes(server: Any) -> None:
    """Every INSERT, UPDATE and DELETE on the users and audit tables aborts, as a full disk would."""
    with contextlib.closing(sqlite3.connect(db_path(server.config.storage.data_dir))) as con:
        for table in ("users", "audit_log", "sessions"):
            for op in ("INSERT", "UPDATE", "DELETE"):
                con.execute(f"CREATE TRIGGER fail_{op}_{table} BEFORE {op} ON {table} "
                            "BEGIN SELECT RAISE(ABORT, 'injected: database or disk is full'); END")
        con.commit()


async def test_a_failed_save_on_a_stopped_server_is_answered_like_a_live_one(server):
    """Before, the offline path let the SQLite error escape (a traceback from the CLI)."""
    await (await server.user("alice")).close()
    await settle()
    await server.shutdown()
    before = stored(server)
    _fail_writes(server)
    # the save of the first is in the step itself, of the second in the continuation after hashing
    assert await offline(server, {"cmd": "ban", "user": "alice", "reason": "spam"}) == FAILED
    assert await offline(server, {"cmd": "reset-password", "user": "alice", "password": "fresh-pass"}) == FAILED
    assert stored(server) == before
