"""The plugin events a command's committed writes make (server/plugins.py queues them). Each
comes from what was stored: a write (a message created, edited, deleted, pinned; a timeout; a role
deleted) or the command's audit entry, whose action is the event's name (a ban, a channel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core import writes as w
from ..core.context import Context
from ..core.state import ServerState
from ..core.views import message_wire

Event = tuple[str, dict[str, Any], str | None]  # (name, data, the acting user's id)


def audited(state: Any, entry: w.AuditRecorded) -> dict[str, Any]:
    """The data of an event told by the audit entry of the command that caused it."""
    target = entry.target or ""
    details = entry.details if isinstance(entry.details, dict) else {}
    action = entry.action
    if action in ("user_ban", "user_unban", "user_roles_set"):
        data: dict[str, Any] = {"user_id": target, "username": state.username_of(target)}
        if action == "user_ban":
            data["reason"] = entry.reason
        if action == "user_roles_set":
            data["roles"] = details.get("roles")
        return data
    if action == "channel_create":
        ch = state.channel(target)
        return {"channel": ch.wire() if ch is not None else {"name": target}}
    if action == "channel_update":
        ch = state.channel(details.get("name", target))
        return {"old_name": target, "channel": ch.wire() if ch is not None else {"name": target}}
    if action == "channel_move":
        return {"channel": target, "position": details.get("position")}
    if action == "channel_delete":
        return {"channel_name": target}
    # role_create
    role = next((r for r in state.roles.values() if r.id == target), None)
    return {"role_id": target, "role_name": role.name if role is not None else None,
            "description": role.description if role is not None else None, "color": details.get("color")}


#: events told by a command's audit entry (its action has the event's name)
AUDITED = frozenset(("user_ban", "user_unban", "user_roles_set", "channel_create", "channel_update", "channel_move",
                     "channel_delete", "role_create"))


def events_of(state: ServerState, writes: tuple[w.Write, ...], ctx: Context, wanted: frozenset[str]) -> Iterator[Event]:
    """The events in `wanted` that `writes` (committed by the command of `ctx`) make."""
    conn = state.conns.get(ctx.conn_id)
    actor_id = conn.user_id if conn is not None else None
    actor = {"user_id": actor_id, "username": conn.username if conn is not None else None}
    for write in writes:
        kind = type(write)
        if kind is w.MessageCreated and "new_message" in wanted:
            m = write.message  # type: ignore[union-attr]
            ch = state.channel_by_id(m.channel_id)
            yield ("new_message", {
                "content": m.content, "channel": ch.name if ch is not None else None, "thread_id": m.thread_id,
                "user_id": m.user_id, "username": state.username_of(m.user_id),
                "message": message_wire(state, m)}, m.user_id)
        elif kind is w.MessageEdited and "message_edit" in wanted:
            yield ("message_edit", {"id": write.message_id, "content": write.content,  # type: ignore[union-attr]
                                    **actor}, actor_id)
        elif kind is w.MessageDeleted and "message_delete" in wanted:
            yield ("message_delete", {"id": write.message_id, **actor}, actor_id)  # type: ignore[union-attr]
        elif kind in (w.MessagePinned, w.MessageUnpinned):
            event = "message_pin" if kind is w.MessagePinned else "message_unpin"
            if event in wanted:
                yield (event, {"id": write.message_id, "pinned": kind is w.MessagePinned,  # type: ignore[union-attr]
                               **actor}, actor_id)
        elif kind is w.TimeoutSaved and "user_timeout" in wanted and write.until:  # type: ignore[union-attr]
            target = write.user_id  # type: ignore[union-attr]
            yield ("user_timeout", {"user_id": target, "username": state.username_of(target),
                                    "timeout": max(0, round((write.until - ctx.now) * 1000))},  # type: ignore[union-attr]
                   actor_id)
        elif kind is w.RoleDeleted and "role_delete" in wanted:
            yield ("role_delete", {"role_id": write.role_id, **actor}, actor_id)  # type: ignore[union-attr]
        elif kind is w.AuditRecorded and write.action in AUDITED and write.action in wanted:  # type: ignore[union-attr]
            yield (write.action, {**actor, **audited(state, write)}, actor_id)  # type: ignore[union-attr,arg-type]
