"""The rules of role management, shared by handlers/roles.py (roles) and handlers/member_roles.py
(members' roles): checks, the packets every role change sends, renaming and saving a role.

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

from collections.abc import Iterable
from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..budget import check_json, check_record
from ..effects import ChannelsChanged, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import SYSTEM_ROLES, Role, User
from ..permissions import has_perm, is_owner, role_rank, user_rank
from ..request import Request, opt_str, wrong_type
from ..state import ServerState
from ..views import all_authed, color_of
from ..writes import ChannelSaved, RoleSaved, UserSaved
from ..names import check_role_name


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


def role_key(req: Request) -> tuple[str | None, str | None]:
    rid, name = opt_str(req, "id"), opt_str(req, "name")
    if not rid and not name:
        raise ProtocolError(texts.ROLE_KEY_REQUIRED)
    return rid or None, name or None


def find_role(state: ServerState, rid: str | None, name: str | None) -> Role | None:
    """By `id` when given, else by `name`."""
    if rid:
        return next((r for r in state.roles.values() if r.id == rid), None)
    return state.roles.get(name or "")


def check_hierarchy(state: ServerState, actor: User, role: Role | None, shown: str | None) -> None:
    """HIER(role) of core.md §0: `No roles found`, `Role '<x>' not found`, then the rank check."""
    if is_owner(actor):
        return
    if not actor.roles:
        raise ProtocolError(texts.NO_ROLES)
    if role is None:
        raise ProtocolError(texts.role_named_not_found(shown))
    check_role_rank(state, actor, role.name)


def managed_target(state: ServerState, actor: User, req: Request) -> Role:
    """`id`/`name` → the role, with HIER before `Role not found` (role_update, role_permissions_set)."""
    rid, name = role_key(req)
    role = find_role(state, rid, name)
    check_hierarchy(state, actor, role, rid or name)
    if role is None:
        raise ProtocolError(texts.ROLE_NOT_FOUND)
    return role


# ---- packets ----------------------------------------------------------------------------------


def roles_packet(state: ServerState) -> dict[str, Any]:
    return packets.roles_list({name: role.wire() for name, role in state.roles.items()})


def user_roles_packet(state: ServerState, user: User, *, broadcast: bool = False) -> dict[str, Any]:
    return packets.user_roles_get(user.username, list(user.roles), color_of(state, user), broadcast=broadcast)


def role_changes_then(before: ServerState, after: ServerState, users: Iterable[User], reply: dict) -> tuple:
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


def rename_entry(entry: str, old: str, new: str) -> str:
    if entry == old:
        return new
    if entry == "!" + old:
        return "!" + new
    return entry


def renamed_mentions(perms: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    rule = perms.get("mention_roles")
    if rule == old:
        return {**perms, "mention_roles": new}
    if isinstance(rule, list) and old in rule:
        renamed = [new if r == old else r for r in rule]
        if all(isinstance(r, str) for r in renamed):  # repeats collapse: a rename never grows a role much
            renamed = list(dict.fromkeys(renamed))
        return {**perms, "mention_roles": renamed}
    return perms


def save_role(state: ServerState, old: Role, new: Role) -> tuple[ServerState, list, list[User]]:
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
        perms = {k: tuple(dict.fromkeys(rename_entry(e, a, b) for e in v)) if (a in v or "!" + a in v) else v
                 for k, v in ch.permissions.items()}
        if perms != ch.permissions:
            ch = attrs.evolve(ch, permissions=perms)
            state = state.with_channel(ch)
            writes.append(ChannelSaved(ch))
    for role in list(state.roles.values()):
        if isinstance(role.permissions, dict):
            perms = renamed_mentions(role.permissions, a, b)
            if perms is not role.permissions:
                role = attrs.evolve(role, permissions=perms)
                state = state.with_role(role)
                writes.append(RoleSaved(role))
    return state, writes, changed_users


def check_rename(state: ServerState, actor: User, role: Role, new_name: Any) -> str:
    name = check_role_name(new_name)
    if name == role.name:
        return name
    if role.name in SYSTEM_ROLES:
        raise ProtocolError(texts.CANNOT_RENAME_SYSTEM_ROLE)
    if name in state.roles:
        raise ProtocolError(texts.ROLE_EXISTS)
    check_role_rank(state, actor, name)  # only owners may create `owner`/`banned`
    return name


def check_self_assignable(role: Role) -> None:
    if role.self_assignable and role.name in NOT_SELF_ASSIGNABLE:
        raise ProtocolError(texts.role_not_self_assignable(role.name))


def check_role_record(state: ServerState, role: Role) -> None:
    """A role as `roles_list` carries it must fit in `limits.record_bytes`."""
    check_record({role.name: role.wire()}, "Role", state.settings.content)


def commit_role(state: ServerState, ctx: Context, actor: User, old: Role, new: Role, *, action: str,
                 details: Any, reply: dict[str, Any]) -> Step:
    check_role_record(state, new)
    after, writes, users = save_role(state, old, new)
    writes.append(audit(ctx, actor.id, "role_management", action, target=new.id, details=details))
    return Step(after, (Persist(tuple(writes), role_changes_then(state, after, users, reply)),))

