"""Role management: roles_list, role_create, role_update, role_set, role_reorder, role_delete and
role_permissions_set/get (core.md §6). The privilege rules they apply are in handlers/role_rules.py.
"""

from __future__ import annotations


from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..budget import check_json
from ..effects import Persist, Reply, Step
from ..errors import ProtocolError
from ..model import SYSTEM_ROLES, Perm, Role, User
from ..registry import command
from ..request import Request, opt_bool, opt_str, wrong_type
from ..state import ServerState
from ..writes import RoleDeleted, RoleSaved, UserSaved
from ..names import check_role_name
from .role_rules import (NOT_SELF_ASSIGNABLE, check_grants, check_hierarchy, check_rename, check_role_rank,
                         check_role_record, check_self_assignable, commit_role, find_role, managed_target,
                         parse_permissions, role_changes_then, role_key, roles_packet)
from .common import me, require_perm


# ---- reading ----------------------------------------------------------------------------------


@command("roles_list")
def handle_roles_list(state: ServerState, ctx: Context, req: Request) -> Step:
    return Step(state, (Reply(roles_packet(state)),))


@command("role_permissions_get")
def handle_role_permissions_get(state: ServerState, ctx: Context, req: Request) -> Step:
    role = find_role(state, *role_key(req))
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    return Step(state, (Reply(packets.role_permissions_get(role.id, role.name, role.wire()["permissions"])),))


# ---- creating and editing ---------------------------------------------------------------------


@command("role_create")
def handle_role_create(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    if not req.get("name"):
        raise ProtocolError(texts.ROLE_NAME_REQUIRED)
    name = check_role_name(req.get("name"))
    self_assignable = opt_bool(req, "self_assignable")
    if self_assignable and name in NOT_SELF_ASSIGNABLE:
        raise ProtocolError(texts.role_not_self_assignable(name))
    if name in state.roles:
        raise ProtocolError(texts.ROLE_EXISTS)
    limits = state.settings.content
    if len(state.roles) >= limits.max_roles:
        raise ProtocolError(texts.role_limit(limits.max_roles))
    check_role_rank(state, actor, name)
    raw_permissions = req.get("permissions")
    permissions = parse_permissions(state, raw_permissions) if raw_permissions else ()
    check_grants(state, actor, permissions)
    hoisted = opt_bool(req, "hoisted")
    # below every existing role (the original used the role count, which may duplicate a position)
    position = max((r.position for r in state.roles.values()), default=-1) + 1
    role = Role(id=ctx.new_id, name=name, description=opt_str(req, "description") or None,
                color=opt_str(req, "color") or None, hoisted=bool(hoisted), permissions=permissions,
                self_assignable=bool(self_assignable),
                category=opt_str(req, "category") if req.has("category") else None, position=position)
    check_role_record(state, role)
    after = state.with_role(role)
    entry = audit(ctx, actor.id, "role_management", "role_create", target=role.id,
                  details={"color": req.get("color"), "permissions": raw_permissions})
    reply = packets.role_create(role.id, role.name)
    return Step(after, (Persist((RoleSaved(role), entry), role_changes_then(state, after, (), reply)),))


@command("role_update")
def handle_role_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    role = managed_target(state, actor, req)
    changes: dict[str, Any] = {}
    if req.get("id") and req.get("name"):  # with both, `name` is the new name
        changes["name"] = check_rename(state, actor, role, req.get("name"))
    if req.get("description") is not None:
        changes["description"] = opt_str(req, "description")
    if req.has("color"):
        changes["color"] = opt_str(req, "color")
    if req.get("hoisted") is not None:
        changes["hoisted"] = opt_bool(req, "hoisted")
    if req.get("self_assignable") is not None:
        changes["self_assignable"] = opt_bool(req, "self_assignable")
    if req.get("permissions") is not None:
        changes["permissions"] = parse_permissions(state, req.get("permissions"))
        check_grants(state, actor, changes["permissions"], already=role.permissions)
    if req.has("category"):
        changes["category"] = opt_str(req, "category")
    new = attrs.evolve(role, **changes)
    check_self_assignable(new)
    return commit_role(state, ctx, actor, role, new, action="role_update",
                        details={"color": req.get("color"), "permissions": req.get("permissions")},
                        reply=packets.role_update(new.id, new.name))


@command("role_set")
def handle_role_set(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    rid, name = role_key(req)
    role = find_role(state, rid, name)
    check_hierarchy(state, actor, role, rid or name)
    data = req.get("data")
    if not isinstance(data, dict) or not data:
        raise ProtocolError(texts.ROLE_DATA_REQUIRED)
    check_json(data, "data", state.settings.content, extra_depth=1)  # audit-logged as sent
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    sub = Request(req.cmd, data)
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = check_rename(state, actor, role, data["name"])
    for key in ("description", "color", "category"):
        if key in data:
            changes[key] = opt_str(sub, key)
    for key in ("hoisted", "self_assignable"):
        if data.get(key) is not None:
            changes[key] = opt_bool(sub, key)
    if data.get("permissions") is not None:
        changes["permissions"] = parse_permissions(state, data["permissions"], "data.permissions")
        check_grants(state, actor, changes["permissions"], already=role.permissions)
    if "position" in data:
        position = data["position"]
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise wrong_type("data.position", "non-negative integer", position)
        check_role_rank(state, actor, role.name, position=position)
        changes["position"] = position
    new = attrs.evolve(role, **changes)
    check_self_assignable(new)
    return commit_role(state, ctx, actor, role, new, action="role_update", details=data,
                        reply=packets.role_set(new.id, new.name))


@command("role_permissions_set")
def handle_role_permissions_set(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    role = managed_target(state, actor, req)
    permissions = req.get("permissions")
    if not isinstance(permissions, list):
        raise ProtocolError(texts.PERMISSIONS_NOT_A_LIST)
    parsed = parse_permissions(state, permissions)
    check_grants(state, actor, parsed, already=role.permissions)
    new = attrs.evolve(role, permissions=parsed)
    return commit_role(state, ctx, actor, role, new, action="role_permissions_set",
                        details={"permissions": list(parsed)},
                        reply=packets.role_permissions_set(new.id, new.name, list(parsed)))


@command("role_reorder")
def handle_role_reorder(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    wanted = req.get("roles")
    if not isinstance(wanted, list) or not wanted:
        raise ProtocolError(texts.ROLES_ARRAY_REQUIRED)
    order: list[Role] = []
    for key in wanted:
        role = state.role_by_name_or_id(key)
        if role is None or any(r.id == role.id for r in order):
            raise ProtocolError(texts.REORDER_FAILED)  # checked before anything changes
        order.append(role)
    moved = [(role, index) for index, role in enumerate(order) if role.position != index]
    for role, index in moved:
        check_role_rank(state, actor, role.name, position=index)
    after = state
    writes: list = []
    for role, index in moved:
        new = attrs.evolve(role, position=index)
        after = after.with_role(new)
        writes.append(RoleSaved(new))
    writes.append(audit(ctx, actor.id, "role_management", "role_reorder", details={"roles": wanted}))
    reply = packets.role_reorder(wanted)
    return Step(after, (Persist(tuple(writes), role_changes_then(state, after, (), reply)),))


@command("role_delete")
def handle_role_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    rid, name = role_key(req)
    role = find_role(state, rid, name)
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    check_hierarchy(state, actor, role, role.name)
    if role.name in SYSTEM_ROLES:
        raise ProtocolError(texts.CANNOT_DELETE_SYSTEM_ROLE)
    for ch in state.channels:
        if any(e in (role.name, "!" + role.name) for entries in ch.permissions.values() for e in entries):
            raise ProtocolError(texts.role_used_in_channel(ch.name))
    after = attrs.evolve(state, roles={n: r for n, r in state.roles.items() if r.id != role.id})
    writes: list = [RoleDeleted(role.id, role.name)]
    users: list[User] = []
    for user in list(after.users.values()):
        if role.name in user.roles:
            user = attrs.evolve(user, roles=tuple(r for r in user.roles if r != role.name))
            after = after.with_user(user)
            writes.append(UserSaved(user))
            users.append(user)
    writes.append(audit(ctx, actor.id, "role_management", "role_delete", target=role.id, details={}))
    reply = packets.role_delete(role.id, role.name)
    return Step(after, (Persist(tuple(writes), role_changes_then(state, after, users, reply)),))

