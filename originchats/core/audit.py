"""Building audit-log entries (extended/moderation_log.md). Every moderation and administration
handler appends one `AuditRecorded` write to the `Persist` of its change, so the entry commits
together with the change it describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import Context
from .ops import Cutoffs
from .writes import AuditRecorded

DAY = 86400.0

#: category of each audited action (retention is configured per category)
CATEGORIES = ("user_moderation", "role_management", "channel_management", "message_moderation",
              "server_management")


def audit(ctx: Context, actor_id: str | None, category: str, action: str, *, target: str | None = None,
          reason: str | None = None, details: Any = None) -> AuditRecorded:
    assert category in CATEGORIES, category
    return AuditRecorded(id=ctx.new_id, time=ctx.now, category=category, action=action, actor_id=actor_id,
                         target=target, reason=reason, details=details)


def retention_cutoffs(days: Mapping[str, int], now: float) -> tuple[Cutoffs, float | None]:
    """Per category, the time at or before which its entries have expired, and the cutoff of any
    other category: `modlog.retention.<category>`, else `.default` (config/sections.py holds the defaults and
    always passes a `default`); with no `default` at all, uncategorised entries are kept."""
    default = days.get("default")
    cutoffs = tuple((c, now - days[c] * DAY if c in days else None if default is None else now - default * DAY)
                    for c in CATEGORIES)
    return cutoffs, None if default is None else now - default * DAY
