"""The permission rules of objects.md §5, in one place.

* rank: who may act on which role or member (`role_rank`, `user_rank`, `outranks`);
* server-wide role permissions (`has_perm`, `is_owner`), used by management commands;
* per-channel role lists (`channel_allows` — evaluator (a) with `!role` denials and the default
  block fallback; `channel_allows_literal` — evaluator (b) for delete_own/edit_own/react/pin: the
  same walk over the key's list or its default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .defaults import DEFAULT_CHANNEL_PERMISSIONS, OWN_DEFAULTS
from .model import Action, Channel, Perm, Role, User


def has_perm(roles: Mapping[str, Role], user: User, perm: Perm | str) -> bool:
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


def channel_allows(channel: Channel | None, action: Action, user_roles: Sequence[str]) -> bool:
    """Evaluator (a): view, send, delete, create_thread, and broadcast filtering."""
    perms = channel.permissions if channel is not None and channel.permissions else DEFAULT_CHANNEL_PERMISSIONS
    return _evaluate(perms.get(action, ()), user_roles)


def channel_lists_viewer(channel: Channel, user_roles: Sequence[str]) -> bool:
    """`channels_get` filter: the channel's own `view` list, without the default fallback."""
    return _evaluate(channel.permissions.get(Action.VIEW, ()), user_roles)


def channel_allows_literal(channel: Channel | None, action: Action, user_roles: Sequence[str]) -> bool:
    """Evaluator (b): delete_own, edit_own, react, pin: the channel's list for the key, or the key's
    default (`user`; `owner` for pin) when the channel has none. The original ignored `!` entries
    here; this walks the list as evaluator (a) does, so `!muted` denies `muted` for every key of a
    channel alike (docs/compatibility.md, "Pins, replies, search and embeds")."""
    if channel is None:
        return False
    entries = channel.permissions.get(action)
    if entries is None:
        entries = OWN_DEFAULTS.get(action, ())
    return _evaluate(entries, user_roles)


# ---- rank ------------------------------------------------------------------------------------
# A role's rank is its `position` (0 = highest); the names `owner` and `banned` rank above every
# position whatever their record says (only owners may give, take or manage them); unknown roles
# rank last. A user's rank is the best rank among their roles. Owners are exempt from rank checks:
# callers test `is_owner` first.

#: Role names that outrank every position.
TOP_NAMES = frozenset({"owner", "banned"})
UNKNOWN_RANK = 9999


def role_rank(roles: Mapping[str, Role], name: str) -> int:
    if name in TOP_NAMES:
        return -1
    role = roles.get(name)
    return role.position if role is not None else UNKNOWN_RANK


def user_rank(roles: Mapping[str, Role], user: User) -> int:
    return min((role_rank(roles, name) for name in user.roles), default=UNKNOWN_RANK)


def outranks(roles: Mapping[str, Role], actor: User, target: User, *, ignore_banned: bool = False) -> bool:
    """May `actor` act on member `target`: owners always, others only on members ranked strictly
    below them (so never on themselves). `ignore_banned`: the target's `banned` mark does not count
    (ban and unban manage that mark; they do not act on it)."""
    if is_owner(actor):
        return True
    target_roles = (r for r in target.roles if r != "banned") if ignore_banned else target.roles
    mine = user_rank(roles, actor)
    return mine < min((role_rank(roles, name) for name in target_roles), default=UNKNOWN_RANK)
