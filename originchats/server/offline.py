"""The offline admin path: an operator command applied to the database of a stopped server.

It is the live path with another sink: the same operator bridge (server/operator.py) and effect
interpreter (server/interpreter.py) run the same pure handler, so a command answers and stores
exactly what it would through the admin socket. What differs is where effects land
(`OfflineSink`): each `Persist` is committed directly in one SQLite transaction (a failure is
rolled back, the step taken back and answered as live), operations run on the same connection
through the server's own runner table (server/ops.py; the password hash with the configured
argon2id cost), and a stopped server has no socket to send to or close.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import argon2
import attrs
import structlog
import trio

from ..core.context import Context
from ..core.ops import Op
from ..core.settings import Settings
from ..core.state import ServerState
from ..core.writes import Write
from ..store import load
from ..store.db import db_path, open_db
from ..store.migrate import apply_migrations
from ..store.reader import Reader
from ..store.writer import WriteFailed, commit_now, describe
from .ids import fresh_ids
from .interpreter import Committed, Interpreter, Undo
from .operator import OperatorBridge
from .blobs import BlobStore
from .ops import OpRunner

log = structlog.get_logger("originchats.admin")


@attrs.define(eq=False)
class OfflineState:
    state: ServerState


@attrs.define(eq=False)
class OfflineSink:
    con: sqlite3.Connection
    ops: OpRunner

    def send(self, conns: tuple[int, ...], packet: dict[str, Any]) -> str | None:
        return None  # no socket is open on a stopped server

    def reply(self, conn_id: int, packet: dict[str, Any], listener: str | None, text: str | None) -> None:
        pass  # only the operator (server/operator.py) is answered

    def close(self, conns: tuple[int, ...], code: int, reason: str) -> None:
        pass

    def channels_changed(self, before: ServerState, after: ServerState) -> None:
        pass

    def push(self, effect: Any) -> None:
        pass  # a stopped server pushes nothing

    def rejected(self, conn_id: int, count: bool, fields: dict[str, Any]) -> None:
        pass  # the answer says it

    def limited(self, conn_id: int) -> None:
        pass

    async def commit(self, writes: tuple[Write, ...], then: Committed, undo: Undo | None, last: bool = False) -> None:
        try:
            commit_now(self.con, writes)
        except Exception as exc:  # noqa: BLE001 - as the writer: any failure fails this entry alone
            log.error("write_failed", error=describe(exc), kinds=[type(f).__name__ for f in writes])
            if undo is not None:
                undo()
            then(WriteFailed(describe(exc)))
            raise WriteFailed(describe(exc)) from exc
        then(None)

    async def fetch(self, op: Op) -> Any:
        return await self.ops.run(op)


def context(conn_id: int) -> Context:
    new_id, new_token = fresh_ids()
    return Context(conn_id=conn_id, now=time.time(), new_id=new_id, new_token=new_token)


async def run_offline(data_dir: Path, request: dict[str, Any], argon2_params: tuple[int, int]) -> dict[str, Any]:
    """Apply the operator command `request` to the database in `data_dir`; its answer. A password is
    hashed with `argon2_params` (memory KiB, passes: the configured cost)."""
    con = open_db(db_path(data_dir))
    runner = OpRunner(reader=Reader(con), rotur_url="", blobs=BlobStore(Path(data_dir)),
                      hasher=argon2.PasswordHasher(memory_cost=argon2_params[0], time_cost=argon2_params[1],
                                                   parallelism=1))
    try:
        apply_migrations(con)
        load.seed_if_new(con)
        owner = OfflineState(load.load_state(con, Settings()))
        interpreter = Interpreter(owner, OfflineSink(con, runner))
        return await OperatorBridge(interpreter, context).run(request)
    finally:
        with trio.CancelScope(shield=True):
            await runner.aclose()
        con.close()
