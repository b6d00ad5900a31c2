"""Helpers for the moderation tests: give members roles through the database (the role commands
belong to another module), and log everyone back in."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import trio

from originchats.store.db import db_path
from tests.client import Client, MemoryListener

LOCAL = "USR:local_"


def db(server: Any) -> sqlite3.Connection:
    return sqlite3.connect(db_path(server.config.storage.data_dir))


async def stop(server: Any) -> None:
    await server.shutdown()


async def start(server: Any) -> None:
    server.listener = MemoryListener()
    server.stop = trio.Event()
    server.stopped = trio.Event()
    await server.start()


async def set_roles(server: Any, roles: dict[str, list[str]]) -> None:
    """Stop the server, store the role lists of the named local users, start it again."""
    await stop(server)
    con = db(server)
    try:
        for name, role_list in roles.items():
            cur = con.execute("UPDATE users SET roles = ? WHERE id = ?", (json.dumps(role_list), LOCAL + name))
            assert cur.rowcount == 1, name
        con.commit()
    finally:
        con.close()
    await start(server)


async def members(server: Any, roles: dict[str, list[str]]) -> dict[str, Client]:
    """Register the users, give them `roles`, and return them connected and drained (in order);
    banned ones are not logged in."""
    for name in roles:
        client = await server.user(name)
        await client.close()
    await set_roles(server, roles)
    clients = {}
    for name, role_list in roles.items():
        if "banned" not in role_list:
            clients[name] = await server.user(name)
    for client in clients.values():
        await client.drain()
    return clients


async def audit_rows(server: Any) -> list[tuple]:
    """(action, actor_id, target, reason, details) of every stored audit entry, oldest first."""
    def read() -> list[tuple]:
        con = db(server)
        try:
            return con.execute("SELECT action, actor_id, target, reason, details FROM audit_log"
                               " ORDER BY time, rowid").fetchall()
        finally:
            con.close()

    return await trio.to_thread.run_sync(read)
