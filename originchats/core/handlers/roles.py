"""Roles: roles_list, role_create, role_update, role_set, role_reorder, role_delete,
role_permissions_set/get (core.md §6), user_roles_get/set (core.md §5) and the self-assignable
roles self_role_add/remove and self_roles_list (extended/moderation_log.md).

Privilege rules (the owner — the literal role `owner` — is exempt from all of them):

* **rank** (core/permissions.py): a role's rank is its `position` (0 = highest); the names `owner`
  and `banned` always rank above every position; a user's rank is the best among their roles.
* Nobody acts on a role whose rank is equal to or above their own (update, set, permissions,
  reorder, delete, give or take away), nor on a user whose rank is equal to or above their own
  (themselves included), nor moves a role to a position at or above their own.
* Nobody grants a permission they do not hold: a permission added to a role, and every
  permission of a role given to a user, must be one the actor holds (objects.md §5.1, so
  `administrator` holders hold all).
* System roles (`owner`, `admin`, `user`) cannot be deleted or renamed; `owner`, `admin`,
  `moderator`, `user` and `banned` are never self-assignable.

Renaming a role renames it everywhere: users' role lists, channel permission lists (`x` and `!x`)
and other roles' `mention_roles`. Deleting a role strips it from every user, and is refused while a
channel's permission lists mention it. Replies carry the role's real name where the original sent
`"name": null`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..budget import check_json, check_record
from ..effects import ChannelsChanged, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import SYSTEM_ROLES, Perm, Role, User
from ..permissions import has_perm, is_owner, outranks, role_rank, user_rank
from ..registry import command
from ..request import Request, opt_bool, opt_str, required_str, wrong_type
from ..state import ServerState
from ..views import all_authed, color_of, others
from ..writes import ChannelSaved, RoleDeleted, RoleSaved, UserSaved
from ..names import check_role_name
from .common import find_member, me, named, require_perm, target_user

#: Roles that can never be self-assignable.
NOT_SELF_ASSIGNABLE = frozenset({"owner", "admin", "moderator", "user", "banned"})


# ---- ranks and checks -------------------------------------------------------------------------


def check_role_rank(state: ServerState, actor: User, name: str, *, position: int | None = None) -> None:
    """Refuse a non-owner acting on role `name` (or moving one to `position`) at or above them."""
    if is_owner(actor):
        return
    mine = user_rank(state.roles, actor)
    if role_rank(state.roles, name) <= mine or (position is not None and position <= mine):
        raise ProtocolError(texts.ROLES_AT_OR_ABOVE)


def check_grants(state: ServerState, actor: User, permissions: Any, *, already: Any = ()) -> None:
    """Refuse a non-owner granting a permission (not in `already`) that they do not hold."""
    if is_owner(actor) or not isinstance(permissions, (list, tuple)):
        return  # the object form grants no permission
    held_before = set(already) if isinstance(already, (list, tuple)) else set()
    for perm in permissions:
        if perm not in held_before and not has_perm(state.roles, actor, perm):
            raise ProtocolError(texts.cannot_grant(perm))


def parse_permissions(state: ServerState, value: Any, key: str = "permissions") -> tuple[str, ...] | dict[str, Any]:
    """A list of permission names (duplicates dropped) or the object form (objects.md §4.1). The
    value as sent (it is also audit-logged) must pass `check_json`."""
    check_json(value, key, state.settings.content)
    if isinstance(value, list):
        if not all(isinstance(p, str) for p in value):
            raise ProtocolError(texts.expected_string_array(key))
        return tuple(dict.fromkeys(value))
    if isinstance(value, dict):
        return dict(value)
    raise wrong_type(key, "array or object", value)


def _key(req: Request) -> tuple[str | None, str | None]:
    rid, name = opt_str(req, "id"), opt_str(req, "name")
    if not rid and not name:
        raise ProtocolError(texts.ROLE_KEY_REQUIRED)
    return rid or None, name or None


def _find(state: ServerState, rid: str | None, name: str | None) -> Role | None:
    """By `id` when given, else by `name`."""
    if rid:
        return next((r for r in state.roles.values() if r.id == rid), None)
    return state.roles.get(name or "")


def _hierarchy(state: ServerState, actor: User, role: Role | None, shown: str | None) -> None:
    """HIER(role) of core.md §0: `No roles found`, `Role '<x>' not found`, then the rank check."""
    if is_owner(actor):
        return
    if not actor.roles:
        raise ProtocolError(texts.NO_ROLES)
    if role is None:
        raise ProtocolError(texts.role_named_not_found(shown))
    check_role_rank(state, actor, role.name)


def _managed_target(state: ServerState, actor: User, req: Request) -> Role:
    """`id`/`name` → the role, with HIER before `Role not found` (role_update, role_permissions_set)."""
    rid, name = _key(req)
    role = _find(state, rid, name)
    _hierarchy(state, actor, role, rid or name)
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    return role


# ---- packets ----------------------------------------------------------------------------------


def roles_packet(state: ServerState) -> dict[str, Any]:
    return packets.roles_list({name: role.wire() for name, role in state.roles.items()})


def user_roles_packet(state: ServerState, user: User, *, broadcast: bool = False) -> dict[str, Any]:
    return packets.user_roles_get(user.username, list(user.roles), color_of(state, user), broadcast=broadcast)


def _role_changes_then(before: ServerState, after: ServerState, users: Iterable[User], reply: dict) -> tuple:
    """roles_list to ALL, each changed user's new role list to ALL, then the reply (core.md §0:
    handler broadcasts before the caller's reply); the channel lists that changed follow, coalesced
    per tick with those of other changes (handlers/channels.py)."""
    everyone = all_authed(after)
    out: list = [Send(everyone, roles_packet(after))]
    for user in users:
        if not user.deleted:
            out.append(Send(everyone, user_roles_packet(after, user, broadcast=True)))
    out.append(Reply(reply))
    out.append(ChannelsChanged(before, after))  # the channel lists that changed, once per tick
    return tuple(out)


# ---- renaming and saving ----------------------------------------------------------------------


def _rename_entry(entry: str, old: str, new: str) -> str:
    if entry == old:
        return new
    if entry == "!" + old:
        return "!" + new
    return entry


def _renamed_mentions(perms: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    rule = perms.get("mention_roles")
    if rule == old:
        return {**perms, "mention_roles": new}
    if isinstance(rule, list) and old in rule:
        renamed = [new if r == old else r for r in rule]
        if all(isinstance(r, str) for r in renamed):  # repeats collapse: a rename never grows a role much
            renamed = list(dict.fromkeys(renamed))
        return {**perms, "mention_roles": renamed}
    return perms


def _save_role(state: ServerState, old: Role, new: Role) -> tuple[ServerState, list, list[User]]:
    """Store `new` in place of `old`; on a rename, follow it in users, channels and other roles."""
    state = state.with_role(new, old_name=old.name)
    writes: list = [RoleSaved(new)]
    changed_users: list[User] = []
    if new.name == old.name:
        return state, writes, changed_users
    a, b = old.name, new.name
    for user in list(state.users.values()):
        if a in user.roles:
            user = attrs.evolve(user, roles=tuple(dict.fromkeys(b if r == a else r for r in user.roles)))
            state = state.with_user(user)
            writes.append(UserSaved(user))
            changed_users.append(user)
    for ch in state.channels:
        perms = {k: tuple(dict.fromkeys(_rename_entry(e, a, b) for e in v)) if (a in v or "!" + a in v) else v
                 for k, v in ch.permissions.items()}
        if perms != ch.permissions:
            ch = attrs.evolve(ch, permissions=perms)
            state = state.with_channel(ch)
            writes.append(ChannelSaved(ch))
    for role in list(state.roles.values()):
        if isinstance(role.permissions, dict):
            perms = _renamed_mentions(role.permissions, a, b)
            if perms is not role.permissions:
                role = attrs.evolve(role, permissions=perms)
                state = state.with_role(role)
                writes.append(RoleSaved(role))
    return state, writes, changed_users


def _check_rename(state: ServerState, actor: User, role: Role, new_name: Any) -> str:
    name = check_role_name(new_name)
    if name == role.name:
        return name
    if role.name in SYSTEM_ROLES:
        raise ProtocolError(texts.CANNOT_RENAME_SYSTEM_ROLE)
    if name in state.roles:
        raise ProtocolError(texts.ROLE_EXISTS)
    check_role_rank(state, actor, name)  # only owners may create `owner`/`banned`
    return name


def _check_self_assignable(role: Role) -> None:
    if role.self_assignable and role.name in NOT_SELF_ASSIGNABLE:
        raise ProtocolError(texts.role_not_self_assignable(role.name))


def check_role_record(state: ServerState, role: Role) -> None:
    """A role as `roles_list` carries it must fit in `limits.record_bytes`."""
    check_record({role.name: role.wire()}, "Role", state.settings.content)


def _commit_role(state: ServerState, ctx: Context, actor: User, old: Role, new: Role, *, action: str,
                 details: Any, reply: dict[str, Any]) -> Step:
    check_role_record(state, new)
    after, writes, users = _save_role(state, old, new)
    writes.append(audit(ctx, actor.id, "role_management", action, target=new.id, details=details))
    return Step(after, (Persist(tuple(writes), _role_changes_then(state, after, users, reply)),))


# ---- reading ----------------------------------------------------------------------------------


@command("roles_list")
def handle_roles_list(state: ServerState, ctx: Context, req: Request) -> Step:
    return Step(state, (Reply(roles_packet(state)),))


@command("role_permissions_get")
def handle_role_permissions_get(state: ServerState, ctx: Context, req: Request) -> Step:
    role = _find(state, *_key(req))
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    return Step(state, (Reply(packets.role_permissions_get(role.id, role.name, role.wire()["permissions"])),))


@command("user_roles_get")
def handle_user_roles_get(state: ServerState, ctx: Context, req: Request) -> Step:
    target = target_user(state, req)
    return Step(state, (Reply(user_roles_packet(state, target)),))


@command("self_roles_list")
def handle_self_roles_list(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    roles = [{"name": r.name, **r.wire(), "assigned": r.name in user.roles}
             for r in state.roles.values() if r.self_assignable and r.name not in NOT_SELF_ASSIGNABLE]
    return Step(state, (Reply(packets.self_roles_list(roles)),))


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
    return Step(after, (Persist((RoleSaved(role), entry), _role_changes_then(state, after, (), reply)),))


@command("role_update")
def handle_role_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    role = _managed_target(state, actor, req)
    changes: dict[str, Any] = {}
    if req.get("id") and req.get("name"):  # with both, `name` is the new name
        changes["name"] = _check_rename(state, actor, role, req.get("name"))
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
    _check_self_assignable(new)
    return _commit_role(state, ctx, actor, role, new, action="role_update",
                        details={"color": req.get("color"), "permissions": req.get("permissions")},
                        reply=packets.role_update(new.id, new.name))


@command("role_set")
def handle_role_set(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    rid, name = _key(req)
    role = _find(state, rid, name)
    _hierarchy(state, actor, role, rid or name)
    data = req.get("data")
    if not isinstance(data, dict) or not data:
        raise ProtocolError(texts.ROLE_DATA_REQUIRED)
    check_json(data, "data", state.settings.content, extra_depth=1)  # audit-logged as sent
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    sub = Request(req.cmd, data)
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = _check_rename(state, actor, role, data["name"])
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
    _check_self_assignable(new)
    return _commit_role(state, ctx, actor, role, new, action="role_update", details=data,
                        reply=packets.role_set(new.id, new.name))


@command("role_permissions_set")
def handle_role_permissions_set(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    role = _managed_target(state, actor, req)
    permissions = req.get("permissions")
    if not isinstance(permissions, list):
        raise ProtocolError(texts.PERMISSIONS_NOT_A_LIST)
    parsed = parse_permissions(state, permissions)
    check_grants(state, actor, parsed, already=role.permissions)
    new = attrs.evolve(role, permissions=parsed)
    return _commit_role(state, ctx, actor, role, new, action="role_permissions_set",
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
    return Step(after, (Persist(tuple(writes), _role_changes_then(state, after, (), reply)),))


@command("role_delete")
def handle_role_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_ROLES)
    rid, name = _key(req)
    role = _find(state, rid, name)
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    _hierarchy(state, actor, role, role.name)
    if role.name in SYSTEM_ROLES:
        raise ProtocolError(texts.CANNOT_DELETE_SYSTEM_ROLE)
    for ch in state.channels:
        if any(e in (role.name, "!" + role.name) for entries in ch.permissions.values() for e in entries):
            raise ProtocolError(texts.role_used_in_channel(ch.name))
    after = attrs.evolve(state, roles={n: r for n, r in state.roles.items() if r.id != role.id})
    writes: list = [RoleDeleted(role.id)]
    users: list[User] = []
    for user in list(after.users.values()):
        if role.name in user.roles:
            user = attrs.evolve(user, roles=tuple(r for r in user.roles if r != role.name))
            after = after.with_user(user)
            writes.append(UserSaved(user))
            users.append(user)
    writes.append(audit(ctx, actor.id, "role_management", "role_delete", target=role.id, details={}))
    reply = packets.role_delete(role.id, role.name)
    return Step(after, (Persist(tuple(writes), _role_changes_then(state, after, users, reply)),))


# ---- users' roles -----------------------------------------------------------------------------


@command("user_roles_set")
def handle_user_roles_set(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_USERS)
    name = named(req)
    wanted = req.get("roles")
    if not isinstance(wanted, list) or not wanted:
        raise ProtocolError(texts.ROLES_LIST_REQUIRED)
    target = find_member(state, name)
    if target is None:
        raise ProtocolError(texts.USER_NOT_FOUND)
    names: list[str] = []
    for key in wanted:
        role = state.role_by_name_or_id(key)
        if role is None:
            raise ProtocolError(texts.role_does_not_exist(key))
        if role.name not in names:
            names.append(role.name)  # stored by name, also when sent by id
    if not is_owner(actor):
        if not outranks(state.roles, actor, target):
            raise ProtocolError(texts.USERS_AT_OR_ABOVE)
        old = target.roles
        changed = [r for r in names if r not in old] + [r for r in old if r not in names]
        for role_name in changed:
            check_role_rank(state, actor, role_name)
        for role_name in names:
            if role_name not in old:
                check_grants(state, actor, state.roles[role_name].permissions)
    user = attrs.evolve(target, roles=tuple(names))
    after = state.with_user(user)
    packet = user_roles_packet(after, user, broadcast=True)
    entry = audit(ctx, actor.id, "user_moderation", "user_roles_set", target=user.id, details={"roles": names})
    then = (Send(others(after, ctx.conn_id), packet, reply=True), ChannelsChanged(state, after))
    return Step(after, (Persist((UserSaved(user), entry), then),))


def _self_role(state: ServerState, req: Request) -> tuple[Role, str]:
    key = required_str(req, "role", texts.ROLE_NAME_REQUIRED)
    role = state.role_by_name_or_id(key)
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    if not role.self_assignable or role.name in NOT_SELF_ASSIGNABLE:
        raise ProtocolError(texts.SELF_ASSIGN_REFUSED)
    return role, key


def _self_roles_changed(state: ServerState, ctx: Context, user: User, role: Role, key: str, action: str,
                        reply: Callable[[str, list[str]], dict[str, Any]]) -> Step:
    after = state.with_user(user)
    entry = audit(ctx, user.id, "role_management", action, target=user.id, details={"role": role.name})
    then = (Send(all_authed(after), user_roles_packet(after, user)),
            Reply(reply(key, list(user.roles))), ChannelsChanged(state, after))
    return Step(after, (Persist((UserSaved(user), entry), then),))


@command("self_role_add")
def handle_self_role_add(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    role, key = _self_role(state, req)
    if role.name in user.roles:
        raise ProtocolError(texts.ALREADY_HAVE_ROLE)
    user = attrs.evolve(user, roles=user.roles + (role.name,))
    return _self_roles_changed(state, ctx, user, role, key, "self_role_add", packets.self_role_add)


@command("self_role_remove")
def handle_self_role_remove(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    role, key = _self_role(state, req)
    if role.name not in user.roles:
        raise ProtocolError(texts.DO_NOT_HAVE_ROLE)
    user = attrs.evolve(user, roles=tuple(r for r in user.roles if r != role.name))
    return _self_roles_changed(state, ctx, user, role, key, "self_role_remove", packets.self_role_remove)
