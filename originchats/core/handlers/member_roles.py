"""Members' roles: user_roles_get/set (core.md §5) and the self-assignable roles self_role_add,
self_role_remove and self_roles_list. The privilege rules are in handlers/role_rules.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import ChannelsChanged, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import Perm, Role, User
from ..permissions import is_owner, outranks
from ..registry import command
from ..request import Request, required_str
from ..state import ServerState
from ..views import all_authed, others
from ..writes import UserSaved
from .role_rules import NOT_SELF_ASSIGNABLE, check_grants, check_role_rank, user_roles_packet
from .common import find_member, me, named, require_perm, target_user


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

