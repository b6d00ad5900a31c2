"""Builders of the moderation, role and operator packets: one function per server packet, as in
core/packets.py, which re-exports them all (code uses them as `packets.<name>`)."""

from __future__ import annotations

from typing import Any


Packet = dict[str, Any]
Json = Any  # a value already in wire form


# ---- moderation -------------------------------------------------------------------------------


def user_ban(user: str, banned: bool) -> Packet:
    return {"cmd": "user_ban", "user": user, "banned": banned}


def user_unban(user: str, unbanned: bool) -> Packet:
    return {"cmd": "user_unban", "user": user, "unbanned": unbanned}


def users_banned_list(users: list[str]) -> Packet:
    return {"cmd": "users_banned_list", "users": users}


def user_timeout(user: Json, timeout: int) -> Packet:
    return {"cmd": "user_timeout", "user": user, "timeout": timeout}


def rate_limit_reset(user: str) -> Packet:
    return {"cmd": "rate_limit_reset", "user": user, "val": f"Rate limit reset for user {user}"}


def user_leave(username: str) -> Packet:
    """To everyone: the account is gone."""
    return {"cmd": "user_leave", "username": username}


def user_leave_reply(user: str, *, kicked: bool) -> Packet:
    """To the caller: it left (deleted its own account), or it kicked `user`."""
    return {"cmd": "user_leave", "user": user, "val": "User kicked" if kicked else "User left server"}


def user_delete(user: str) -> Packet:
    return {"cmd": "user_delete", "user": user, "deleted": True}


def server_update(*, name: str, icon: str, banner: str) -> Packet:
    return {"cmd": "server_update", "name": name, "icon": icon, "banner": banner}


def plugins_list(plugins: dict[str, Any]) -> Packet:
    return {"cmd": "plugins_list", "plugins": plugins}


def plugins_reload(name: str | None = None) -> Packet:
    val = "All plugins reloaded successfully" if name is None else f"Plugin '{name}' reloaded successfully"
    return {"cmd": "plugins_reload", "val": val}


def modlog_get(*, entries: list[Json], total: int, offset: int, limit: int) -> Packet:
    return {"cmd": "modlog_get", "entries": entries, "total": total, "offset": offset, "limit": limit}


def modlog_summary(*, action_counts: Json, category_totals: Json, total: int) -> Packet:
    return {"cmd": "modlog_summary", "action_counts": action_counts, "category_totals": category_totals,
            "total": total}


# ---- roles ------------------------------------------------------------------------------------


def roles_list(roles: Json) -> Packet:
    return {"cmd": "roles_list", "roles": roles}


def user_roles_get(user: str, roles: list[str], color: str | None, *, broadcast: bool = False) -> Packet:
    """The reply to `user_roles_get`; with `broadcast`, the push after a change (`"global": true`)."""
    if broadcast:
        return {"cmd": "user_roles_get", "user": user, "roles": roles, "color": color, "global": True}
    return {"cmd": "user_roles_get", "user": user, "roles": roles, "color": color}


def role_permissions_get(id: str, name: str, permissions: Json) -> Packet:
    return {"cmd": "role_permissions_get", "id": id, "name": name, "permissions": permissions}


def self_roles_list(roles: list[Json]) -> Packet:
    return {"cmd": "self_roles_list", "roles": roles}


def role_create(id: str, name: str) -> Packet:
    return {"cmd": "role_create", "id": id, "name": name}


def role_update(id: str, name: str) -> Packet:
    return {"cmd": "role_update", "id": id, "name": name, "updated": True}


def role_set(id: str, name: str) -> Packet:
    return {"cmd": "role_set", "id": id, "name": name, "updated": True}


def role_permissions_set(id: str, name: str, permissions: list[str]) -> Packet:
    return {"cmd": "role_permissions_set", "id": id, "name": name, "permissions": permissions, "updated": True}


def role_reorder(roles: Json) -> Packet:
    return {"cmd": "role_reorder", "roles": roles}


def role_delete(id: str, name: str) -> Packet:
    return {"cmd": "role_delete", "id": id, "name": name, "deleted": True}


def self_role_add(role: str, roles: list[str]) -> Packet:
    return {"cmd": "self_role_add", "role": role, "success": True, "roles": roles}


def self_role_remove(role: str, roles: list[str]) -> Packet:
    return {"cmd": "self_role_remove", "role": role, "success": True, "roles": roles}


# ---- operator results (the admin socket's answers, not wire packets) --------------------------


def operator_ok(message: str, lines: list[str] | None = None) -> Packet:
    if lines is None:
        return {"ok": True, "message": message}
    return {"ok": True, "message": message, "lines": lines}


def operator_error(message: str) -> Packet:
    return {"ok": False, "message": message}
