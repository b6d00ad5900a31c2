"""The periodic prune of expired audit-log entries (the reads behind `modlog_get` and
`modlog_summary` are in store/reads.py).

The prune is an ordinary write (`AuditPruned`) through the single writer: once at start-up, then
every `PRUNE_INTERVAL`.
"""

from __future__ import annotations

from typing import Any

import structlog
import trio

from ..core.audit import retention_cutoffs
from ..core.writes import AuditPruned
from ..store.writer import WriteFailed

log = structlog.get_logger("originchats.modlog")
PRUNE_INTERVAL = 86400.0


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
