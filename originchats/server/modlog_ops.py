"""The audit log in the shell: the reads behind `modlog_get` / `modlog_summary` (registered as
`EXTRA_OPS` runners) and the periodic prune of expired entries.

Reads run on the reader connection off the trio thread. The prune is an ordinary write
(`AuditPruned`) through the single writer: once at start-up, then every `PRUNE_INTERVAL`.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import structlog
import trio

from ..core import ops
from ..core.audit import retention_cutoffs
from ..core.writes import AuditPruned
from ..store.sql import retention_clause
from ..store.writer import WriteFailed
from .ops import EXTRA_OPS, OpRunner

log = structlog.get_logger("originchats.modlog")
PRUNE_INTERVAL = 86400.0
_COLUMNS = {"category": "category", "actor": "actor_id", "target": "target", "action": "action"}


def query(con: sqlite3.Connection, op: ops.ModlogQuery) -> tuple[list[dict[str, Any]], int]:
    params: dict[str, Any] = {"limit": op.limit, "offset": op.offset}
    where = [retention_clause(op.cutoffs, op.default_cutoff, params)]
    for i, (key, value) in enumerate(op.filters):
        if key == "after":
            where.append(f"time > :f{i}")
        else:
            where.append(f"{_COLUMNS[key]} = :f{i}")
        params[f"f{i}"] = value
    clause = " AND ".join(where)
    total = con.execute(f"SELECT COUNT(*) FROM audit_log WHERE {clause}", params).fetchone()[0]
    rows = con.execute(
        "SELECT id, time, category, action, actor_id, target, reason, details FROM audit_log"
        f" WHERE {clause} ORDER BY time DESC, rowid DESC LIMIT :limit OFFSET :offset", params).fetchall()
    keys = ("id", "time", "category", "action", "actor_id", "target", "reason", "details")
    out = []
    for row in rows:
        entry = dict(zip(keys, row))
        entry["details"] = None if entry["details"] is None else json.loads(entry["details"])
        out.append(entry)
    return out, total


def summary(con: sqlite3.Connection, op: ops.ModlogSummary) -> list[tuple[str, str, int]]:
    params: dict[str, Any] = {}
    clause = retention_clause(op.cutoffs, op.default_cutoff, params)
    return [tuple(r) for r in con.execute(
        f"SELECT category, action, COUNT(*) FROM audit_log WHERE {clause} GROUP BY category, action", params)]


async def _run_query(runner: OpRunner, op: ops.ModlogQuery) -> Any:
    return await runner.reader.run(query, op)


async def _run_summary(runner: OpRunner, op: ops.ModlogSummary) -> Any:
    return await runner.reader.run(summary, op)


EXTRA_OPS[ops.ModlogQuery] = _run_query
EXTRA_OPS[ops.ModlogSummary] = _run_summary


async def prune_once(hub: Any) -> None:
    """Delete the entries that have outlived their category's retention (`modlog.retention`)."""
    cutoffs, default = retention_cutoffs(hub.state.settings.modlog_retention_days, hub.now())
    try:
        await hub.writer.submit((AuditPruned(cutoffs, default),))
    except WriteFailed as exc:
        log.error("audit_prune_failed", error=str(exc))


async def prune_periodically(hub: Any, interval: float = PRUNE_INTERVAL) -> None:
    while True:
        await prune_once(hub)
        await trio.sleep(interval)
