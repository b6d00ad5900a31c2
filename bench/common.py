"""Shared pieces: pre-filling the database before the server starts, logging clients in, statistics."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .wsclient import WS, open_ws

T = TypeVar("T")
PASSWORD = "bench-password"


# ---- statistics -----------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float | None:
    """The p-quantile (0..1) of `values` (nearest rank), or None when empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))]


def ms(ns_values: Sequence[int], p: float) -> float | None:
    v = pct(ns_values, p)
    return None if v is None else round(v / 1e6, 3)


def rnd(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


# ---- database pre-fill (server stopped) -------------------------------------------------------------


def open_store(data_dir: Path) -> sqlite3.Connection:
    """Create/migrate/seed the database exactly as the server would, and return a write connection."""
    from originchats.store import load
    from originchats.store.db import db_path, open_db
    from originchats.store.migrate import apply_migrations

    con = open_db(db_path(data_dir), synchronous="NORMAL")
    con.execute("PRAGMA synchronous=OFF")  # a disposable bulk load
    apply_migrations(con)
    load.seed_if_new(con)
    return con


def password_hash(argon2_params: dict[str, int] | None) -> str:
    import argon2

    p = argon2_params or {}
    hasher = argon2.PasswordHasher(memory_cost=p.get("argon2_memory_kib", 65536),
                                   time_cost=p.get("argon2_time_cost", 3), parallelism=1)
    return hasher.hash(PASSWORD)


def add_users(data_dir: Path, names: Iterable[str], argon2_params: dict[str, int] | None) -> list[str]:
    """Insert cracked accounts `USR:local_<name>` with the bench password (one hash shared by all:
    a real server would salt each, but verifying costs the same)."""
    from originchats.core.model import User
    from originchats.core.writes import UserSaved
    from originchats.store.sql import apply_write

    pw = password_hash(argon2_params)
    con = open_store(data_dir)
    out = []
    try:
        con.execute("BEGIN")
        now = time.time()
        for name in names:
            uid = "USR:local_" + name
            apply_write(con, UserSaved(User(id=uid, username=uid, nickname=name, password_hash=pw,
                                            roles=("user",), created_at=now)))
            out.append(name)
        con.execute("COMMIT")
    finally:
        con.close()
    return out


def general_channel_id(con: sqlite3.Connection) -> str:
    row = con.execute("SELECT id FROM channels WHERE name = 'general'").fetchone()
    return row[0]


def add_messages(data_dir: Path, count: int, user_id: str, chunk: int = 50_000) -> float:
    """Append `count` messages to `general` with plain INSERTs in big transactions (the same columns
    the server writes); returns the seconds it took."""
    from originchats.store.search_index import index_all

    if count <= 0:
        return 0.0
    t0 = time.monotonic()
    con = open_store(data_dir)
    try:
        cid = general_channel_id(con)
        con.execute("PRAGMA cache_size=-262144")
        base = time.time() - count
        done = 0
        while done < count:
            n = min(chunk, count - done)
            rows = [(str(uuid.uuid4()), cid, user_id, f"prefilled message number {done + i}", base + done + i)
                    for i in range(n)]
            con.execute("BEGIN")
            con.executemany("INSERT INTO messages(id, channel_id, thread_id, user_id, content, timestamp, edited, pinned)"
                            " VALUES (?, ?, NULL, ?, ?, ?, 0, 0)", rows)
            con.execute("COMMIT")
            done += n
        index_all(con)  # what the server's writer does for the messages it writes, and migration 0008
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    # written with synchronous=OFF: flush it now, or the kernel's write-back of hundreds of MB
    # would slow the server's fsyncs during the measurement that follows
    os.sync()
    return time.monotonic() - t0


def count_messages(data_dir: Path, ids: Iterable[str] | None = None) -> tuple[int, int]:
    """(messages stored, how many of `ids` are among them)."""
    from originchats.store.db import db_path

    con = sqlite3.connect(f"file:{db_path(data_dir)}?mode=ro", uri=True)
    try:
        total = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        found = 0
        if ids is not None:
            con.execute("CREATE TEMP TABLE want(id TEXT PRIMARY KEY)")
            con.executemany("INSERT OR IGNORE INTO want VALUES (?)", ((i,) for i in ids))
            found = con.execute("SELECT COUNT(*) FROM want JOIN messages USING (id)").fetchone()[0]
        return total, found
    finally:
        con.close()


# ---- clients ----------------------------------------------------------------------------------------


async def login(ws: WS, name: str, password: str = PASSWORD, timeout: float = 60.0) -> dict:
    """Cracked login; returns the `ready` packet (its `validator` is the session token)."""
    ws.send("login", username=name, password=password)
    first = await ws.recv(timeout)
    if first.get("cmd") != "auth_success":
        raise RuntimeError(f"login {name}: {first}")
    return await ws.expect("ready", timeout)


async def timed(ws: WS, cmd: str, fields: dict[str, Any], timeout: float = 60.0) -> tuple[int, dict]:
    """Send one command and wait for its own answer (by `listener`): (nanoseconds, the packet).
    Any other answer to it (an error) raises."""
    t0 = time.monotonic_ns()
    ws.send(cmd, listener="timed", **fields)
    while True:
        pkt = await ws.recv(timeout)
        if pkt.get("listener") == "timed":
            if pkt.get("cmd") != cmd:
                raise RuntimeError(f"{cmd}: {str(pkt)[:300]}")
            return time.monotonic_ns() - t0, pkt


async def connect_login(host: str, port: int, name: str, password: str = PASSWORD, source: str | None = None,
                        deflate: bool = False) -> WS:
    ws = await open_ws(host, port, source=source, deflate=deflate)
    await login(ws, name, password)
    return ws


async def in_batches(factories: Sequence[Callable[[], Awaitable[T]]], batch: int = 200) -> tuple[list[T], int]:
    """Run the coroutine factories at most `batch` at a time; returns (results, failures)."""
    results: list[T] = []
    failures = 0
    errors: list[str] = []
    sem = asyncio.Semaphore(batch)

    async def one(f: Callable[[], Awaitable[T]]) -> T | None:
        async with sem:
            try:
                return await f()
            except Exception as exc:  # counted as a failure; the first one is shown
                if not errors:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return None

    for r in await asyncio.gather(*(one(f) for f in factories)):
        if r is None:
            failures += 1
        else:
            results.append(r)
    if errors:
        import sys

        print(f"# {failures} failed, first: {errors[0]}", file=sys.stderr)
    return results, failures


async def broadcaster_and_observers(port: int, names: Sequence[str]) -> tuple[WS, list[WS]]:
    """Log `names` in (four at a time) on 127.0.0.1:`port`: the first is a broadcaster, which only
    counts what it receives, the others observe; returns once none receives anything more."""
    clients, failures = await in_batches(
        [lambda n=n: connect_login("127.0.0.1", port, n) for n in names], batch=4)
    if failures:
        raise RuntimeError("observers could not log in")
    broadcaster, observers = clients[0], clients[1:]
    broadcaster.counting()
    await quiet(clients)
    return broadcaster, observers


async def quiet(clients: Sequence[WS], settle: float = 0.3, limit: float = 30.0) -> None:
    """Wait until no client has received anything for `settle` seconds."""
    deadline = time.monotonic() + limit
    last = sum(c.bytes_in for c in clients)
    while time.monotonic() < deadline:
        await asyncio.sleep(settle)
        now = sum(c.bytes_in for c in clients)
        if now == last:
            return
        last = now


def emit(result: dict[str, Any]) -> str:
    line = json.dumps(result, separators=(",", ":"))
    print(line, flush=True)
    return line
