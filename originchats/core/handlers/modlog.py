"""The audit log readers: modlog_get and modlog_summary (extended/moderation_log.md). Retention
(`audit.retention_cutoffs`) is shared with the shell's periodic prune.

Entries live in SQLite (`audit_log`, written by `audit(...)` inside the Persist of each change), so
both commands validate, then `Fetch` a query; the continuation re-checks access and shapes the
entries. Expired entries are never returned, even before the prune has deleted them.

Changed relative to the original: `modlog_summary` counts every entry (the original counted only
the newest 10 000 in `action_counts`), and entries are never rewritten as a whole file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

from .. import packets, texts
from ..audit import retention_cutoffs
from ..context import Context
from ..effects import Fetch, Reply, Step
from ..errors import ProtocolError
from ..model import Perm, User
from ..ops import ModlogQuery, ModlogSummary
from ..permissions import has_perm
from ..registry import command
from ..request import Request, wrong_type
from ..state import ServerState
from .common import me

FILTERS = (("category", "category"), ("actor", "actor"), ("target", "target"), ("action", "action"))


def may_read(state: ServerState, user: User) -> bool:
    return has_perm(state.roles, user, Perm.VIEW_AUDIT_LOG) or has_perm(state.roles, user, Perm.MANAGE_USERS)


def _require_access(state: ServerState, ctx: Context) -> None:
    if not may_read(state, me(state, ctx)):
        raise ProtocolError(texts.MODLOG_ACCESS_DENIED)


def _int_field(req: Request, key: str, default: int) -> int | None:
    value = req.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _after(value: Any) -> float | None:
    """The `after` filter: a number or a numeric string; falsy means no filter."""
    if not value:
        return None
    if isinstance(value, bool):
        raise ProtocolError(texts.MODLOG_AFTER)
    if isinstance(value, (int, float)):
        after = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            after = float(value.strip())
        except ValueError:
            raise ProtocolError(texts.MODLOG_AFTER) from None
    else:
        raise ProtocolError(texts.MODLOG_AFTER)
    if not math.isfinite(after):
        raise ProtocolError(texts.MODLOG_AFTER)
    return after


@command("modlog_get")
def handle_modlog_get(state: ServerState, ctx: Context, req: Request) -> Step:
    _require_access(state, ctx)
    limit = _int_field(req, "limit", 100)
    if limit is None or not 1 <= limit <= 200:
        raise ProtocolError(texts.MODLOG_LIMIT)
    offset = _int_field(req, "offset", 0)
    if offset is None or offset < 0:
        raise ProtocolError(texts.MODLOG_OFFSET)
    filters: list[tuple[str, object]] = []
    after = _after(req.get("after"))
    for key, name in FILTERS:
        value = req.get(key)
        if not value:
            continue  # falsy filters are ignored
        if not isinstance(value, str):
            raise wrong_type(key, "string", value)
        filters.append((name, value))
    if after is not None:
        filters.append(("after", after))
    cutoffs, default = retention_cutoffs(state.settings.modlog_retention_days, ctx.now)
    op = ModlogQuery(filters=tuple(filters), limit=limit, offset=offset, cutoffs=cutoffs, default_cutoff=default)
    return Step(state, (Fetch(op, partial(_listed, limit=limit, offset=offset)),))


def _listed(state: ServerState, ctx: Context, req: Request, result: tuple[list[dict], int], *,
            limit: int, offset: int) -> Step:
    _require_access(state, ctx)  # the read took a moment: judge on the current roles
    rows, total = result
    entries = [entry_wire(state, row) for row in rows]
    return Step(state, (Reply(packets.modlog_get(entries=entries, total=total, offset=offset, limit=limit)),))


@command("modlog_summary")
def handle_modlog_summary(state: ServerState, ctx: Context, req: Request) -> Step:
    _require_access(state, ctx)
    cutoffs, default = retention_cutoffs(state.settings.modlog_retention_days, ctx.now)
    return Step(state, (Fetch(ModlogSummary(cutoffs=cutoffs, default_cutoff=default), _summarised),))


def _summarised(state: ServerState, ctx: Context, req: Request, counts: list[tuple[str, str, int]]) -> Step:
    _require_access(state, ctx)
    ordered = sorted(counts, key=lambda c: (-c[2], c[0], c[1]))
    action_counts = {f"{cat}.{action}": n for cat, action, n in ordered}
    totals: dict[str, int] = {}
    for cat, _, n in ordered:
        totals[cat] = totals.get(cat, 0) + n
    category_totals = dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))
    return Step(state, (Reply(packets.modlog_summary(action_counts=action_counts, category_totals=category_totals,
                                                     total=sum(totals.values()))),))


# ---- entry shape ------------------------------------------------------------------------------


def _name_of(state: ServerState, key: str | None) -> str | None:
    """A display name for an actor or target: a user, a role, a channel (by id or name)."""
    if key is None:
        return None
    user = state.users.get(key)
    if user is not None:
        return user.username
    for role in state.roles.values():
        if role.id == key:
            return role.name
    channel = state.channel_by_id(key) or state.channel(key)
    if channel is not None:
        return channel.name
    return None


def entry_wire(state: ServerState, row: Mapping[str, Any]) -> dict[str, Any]:
    """moderation_log.md's entry: id, action, category, actor_id/name, target_id/name, details,
    timestamp. A recorded reason is shown as `details.reason`, as `/ban` does."""
    details = row.get("details")
    if details is None:
        details = {}
    if row.get("reason") and isinstance(details, dict) and "reason" not in details:
        details = {**details, "reason": row["reason"]}
    return {
        "id": row["id"], "action": row["action"], "category": row["category"],
        "actor_id": row["actor_id"], "actor_name": _name_of(state, row["actor_id"]),
        "target_id": row["target"], "target_name": _name_of(state, row["target"]),
        "details": details, "timestamp": row["time"],
    }
