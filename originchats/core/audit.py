"""Building audit-log entries (extended/moderation_log.md). Every moderation and administration
handler appends one `AuditRecorded` write to the `Persist` of its change, so the entry commits
together with the change it describes."""

from __future__ import annotations

from typing import Any

from .context import Context
from .writes import AuditRecorded

#: category of each audited action (retention is configured per category)
CATEGORIES = ("user_moderation", "role_management", "channel_management", "message_moderation",
              "server_management")


def audit(ctx: Context, actor_id: str | None, category: str, action: str, *, target: str | None = None,
          reason: str | None = None, details: Any = None) -> AuditRecorded:
    assert category in CATEGORIES, category
    return AuditRecorded(id=ctx.new_id, time=ctx.now, category=category, action=action, actor_id=actor_id,
                         target=target, reason=reason, details=details)
