"""The plugin events a command's committed writes make (server/plugins.py queues them). Each
comes from what was stored: a write (a message created, edited; a timeout; a role deleted; an
account deleted by its owner) or the command's audit entry, whose action is the event's name (a
ban, a channel, a role, a self-assigned role); a delete or a pin takes its channel from its audit
entry. The table of events and their data is in docs/plugins.md (the contract: extended/plugins.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core import writes as w
from ..core.context import Context
from ..core.model import User
from ..core.state import ServerState
from ..core.views import color_of, message_wire

Event = tuple[str, dict[str, Any], str | None]  # (name, data, the acting user's id)


def presence(state: ServerState, user: User) -> dict[str, Any]:
    """`user_join`/`user_connect`/`user_disconnect`'s data. The stored record the original adds as
    `user` is left out: it holds the password hash."""
    return {"username": user.username, "user_id": user.id, "roles": list(user.roles), "color": color_of(state, user)}


def _role(state: Any, role_id: str) -> dict[str, Any]:
    role = next((r for r in state.roles.values() if r.id == role_id), None)
    if role is None:
        return {"role_id": role_id, "role_name": None, "description": None, "color": None}
    return {"role_id": role_id, "role_name": role.name, "description": role.description, "color": role.color}


def audited(state: Any, entry: w.AuditRecorded) -> dict[str, Any]:
    """The data of an event told by the audit entry of the command that caused it."""
    target = entry.target or ""
    details = entry.details if isinstance(entry.details, dict) else {}
    action = entry.action
    if action in ("user_ban", "user_unban", "user_roles_set", "self_role_add", "self_role_remove"):
        data: dict[str, Any] = {"user_id": target, "username": state.username_of(target)}
        if action == "user_ban":
            data["reason"] = entry.reason
        if action == "user_roles_set":
            data["roles"] = details.get("roles")
        if action.startswith("self_role"):
            data["role_name"] = details.get("role")
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
    return _role(state, target)  # role_create, role_update (also what role_set records)


#: events told by a command's audit entry (its action has the event's name)
AUDITED = frozenset(("user_ban", "user_unban", "user_roles_set", "self_role_add", "self_role_remove",
                     "channel_create", "channel_update", "channel_move", "channel_delete", "role_create",
                     "role_update"))


def _where(entry: w.AuditRecorded | None) -> dict[str, Any]:
    """The channel (and thread) a delete's or a pin's audit entry names."""
    details = entry.details if entry is not None and isinstance(entry.details, dict) else {}
    return {"channel": details.get("channel"), **({"thread_id": details["thread_id"]} if "thread_id" in details else {})}


def events_of(state: ServerState, writes: tuple[w.Write, ...], ctx: Context, wanted: frozenset[str]) -> Iterator[Event]:
    """The events in `wanted` that `writes` (committed by the command of `ctx`) make."""
    conn = state.conns.get(ctx.conn_id)
    actor_id = conn.user_id if conn is not None else None
    actor = {"user_id": actor_id, "username": conn.username if conn is not None else None}
    audits = {(e.action, e.target): e for e in writes if type(e) is w.AuditRecorded}
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
            ch = state.channel_by_id(write.channel_id or "")  # type: ignore[union-attr]
            yield ("message_edit", {"channel": ch.name if ch is not None else None,
                                    "thread_id": write.thread_id,  # type: ignore[union-attr]
                                    "id": write.message_id, "content": write.content,  # type: ignore[union-attr]
                                    **actor}, actor_id)
        elif kind is w.MessageDeleted and "message_delete" in wanted:
            mid = write.message_id  # type: ignore[union-attr]
            yield ("message_delete", {**_where(audits.get(("message_delete", mid))), "id": mid, **actor}, actor_id)
        elif kind in (w.MessagePinned, w.MessageUnpinned):
            event = "message_pin" if kind is w.MessagePinned else "message_unpin"
            if event in wanted:
                mid = write.message_id  # type: ignore[union-attr]
                yield (event, {"channel": _where(audits.get((event, mid)))["channel"], "id": mid,
                               "pinned": kind is w.MessagePinned, **actor}, actor_id)
        elif kind is w.TimeoutSaved and "user_timeout" in wanted and write.until:  # type: ignore[union-attr]
            target = write.user_id  # type: ignore[union-attr]
            yield ("user_timeout", {"user_id": target, "username": state.username_of(target),
                                    "timeout": max(0, round((write.until - ctx.now) * 1000))},  # type: ignore[union-attr]
                   actor_id)
        elif kind is w.RoleDeleted and "role_delete" in wanted:
            yield ("role_delete", {"role_id": write.role_id, "role_name": write.name or None,  # type: ignore[union-attr]
                                   **actor}, actor_id)
        elif kind is w.UserSaved and "user_leave" in wanted:
            user = write.user  # type: ignore[union-attr]
            # `user_leave`: a member deleting their own account (`user_delete` of oneself is audited)
            if user.deleted and user.id == actor_id and ("user_delete", user.id) not in audits:
                yield ("user_leave", {"username": user.username, "user_id": user.id}, actor_id)
        elif kind is w.AuditRecorded and write.action in AUDITED and write.action in wanted:  # type: ignore[union-attr]
            yield (write.action, {**actor, **audited(state, write)}, actor_id)  # type: ignore[union-attr,arg-type]
