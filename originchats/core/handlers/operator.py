"""Operator commands: what `originchats admin …` does to a running server (through the admin
socket) — the safe way to make the first owner. Nobody becomes owner by registering first."""

from __future__ import annotations

import attrs

from ..context import Context
from ..effects import Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import CRACKED_PREFIX, User
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..views import all_authed, color_of
from ..audit import audit
from ..writes import UserSaved


def operator_target(state: ServerState, req: Request) -> User:
    """`NAME` may be the stored username (`USR:local_bob`), a Rotur name, an id, or a bare local name."""
    name = req.get("user")
    if not isinstance(name, str) or not name.strip():
        raise ProtocolError("a user name is required")
    name = name.strip()
    user = state.find_user(name) or state.find_user(CRACKED_PREFIX + name.lower())
    if user is None:
        raise ProtocolError(f"no such user: {name}")
    return user


def roles_changed(state: ServerState, user: User) -> Send:
    """Tell everyone about a user's new role list (the shape `user_roles_set` broadcasts)."""
    return Send(all_authed(state), {"cmd": "user_roles_get", "user": user.username, "roles": list(user.roles),
                                    "color": color_of(state, user), "global": True})


@command("grant-owner", operator=True)
def operator_grant_owner(state: ServerState, ctx: Context, req: Request) -> Step:
    user = operator_target(state, req)
    if "owner" in user.roles:
        return Step(state, (Reply({"ok": True, "message": f"{user.username} is already an owner"}),))
    user = attrs.evolve(user, roles=("owner",) + tuple(r for r in user.roles if r != "owner"))
    state = state.with_user(user)
    entry = audit(ctx, None, "role_management", "owner_granted", target=user.id, details={"via": "operator"})
    return Step(state, (Persist((UserSaved(user), entry),
                                (roles_changed(state, user),
                                 Reply({"ok": True, "message": f"{user.username} is now an owner"}))),))
