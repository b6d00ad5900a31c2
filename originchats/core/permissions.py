"""The two permission systems of objects.md §5, kept separate as the original keeps them.

* server-wide role permissions (`has_perm`, `has_role`), used by management commands;
* per-channel role lists (`channel_allows` — evaluator (a) with `!role` denials and the default
  block fallback; `channel_allows_literal` — evaluator (b) for delete_own/edit_own/react/pin).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .defaults import DEFAULT_CHANNEL_PERMISSIONS, OWN_DEFAULTS
from .model import Channel, Role, User


def has_perm(roles: Mapping[str, Role], user: User, perm: str) -> bool:
    if not user.roles:
        return False
    for name in user.roles:
        if name == "owner":
            return True
        role = roles.get(name)
        if role is not None and role.grants(perm):
            return True
    return False


def is_owner(user: User) -> bool:
    return "owner" in user.roles


def _evaluate(entries: Sequence[str], user_roles: Sequence[str]) -> bool:
    allowed = set()
    denied = set()
    for e in entries:
        if e.startswith("!"):
            denied.add(e[1:])
        else:
            allowed.add(e)
    for r in user_roles:
        if r in denied:
            return False
        if r in allowed:
            return True
    return False


def channel_allows(channel: Channel | None, action: str, user_roles: Sequence[str]) -> bool:
    """Evaluator (a): view, send, delete, create_thread, and broadcast filtering."""
    perms = channel.permissions if channel is not None and channel.permissions else DEFAULT_CHANNEL_PERMISSIONS
    return _evaluate(perms.get(action, ()), user_roles)


def channel_lists_viewer(channel: Channel, user_roles: Sequence[str]) -> bool:
    """`channels_get` filter: the channel's own `view` list, without the default fallback."""
    return _evaluate(channel.permissions.get("view", ()), user_roles)


def channel_allows_literal(channel: Channel | None, action: str, user_roles: Sequence[str]) -> bool:
    """Evaluator (b): delete_own, edit_own, react, pin. `!` entries have no effect here."""
    if channel is None:
        return False
    entries = channel.permissions.get(action)
    if entries is None:
        entries = OWN_DEFAULTS.get(action, ())
    return any(r in entries for r in user_roles)


def highest_position(roles: Mapping[str, Role], user: User) -> int:
    """Smallest `position` among the user's roles (0 = highest rank); unknown roles count 9999."""
    best = 9999
    for name in user.roles:
        role = roles.get(name)
        pos = role.position if role is not None else 9999
        best = min(best, pos)
    return best
