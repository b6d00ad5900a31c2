"""Edits an operator makes on the SQLite file while the server is stopped (e.g. a ban before
`user_ban` exists), followed by a fresh start on the same data directory."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import trio

from originchats.store.db import db_path
from tests.client import MemoryListener


def query(server: Any, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the server's database file (safe while it runs: WAL readers never block)."""
    with contextlib.closing(sqlite3.connect(db_path(server.config.storage.data_dir))) as con:
        return con.execute(sql, params).fetchall()


async def edit_offline(server: Any, sql: str, params: tuple = ()) -> None:
    """Stop the server, run one statement on its database, start it again."""
    await server.shutdown()
    with contextlib.closing(sqlite3.connect(db_path(server.config.storage.data_dir))) as con:
        with con:
            con.execute(sql, params)
    server.listener = MemoryListener()
    server.stop = trio.Event()
    server.stopped = trio.Event()
    await server.start()


async def ban_offline(server: Any, user_id: str) -> None:
    await edit_offline(server, "UPDATE users SET roles = ? WHERE id = ?", ('["banned", "user"]', user_id))
