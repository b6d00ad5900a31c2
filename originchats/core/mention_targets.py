"""Who a message pings: the mentions in its text and the targets stored with it (`'u:<user id>'`,
`'r:<role id>'`, migrations/0006_unreads_pings.sql). Used by the message handlers when a message is
posted or edited, and by `originchats import` for the history it brings in."""

from __future__ import annotations

import re

from .model import CRACKED_PREFIX, Action, Channel
from .permissions import channel_allows
from .state import ServerState

# `@name`, or a local account's whole id `@USR:local_name` (what the official client's completion
# inserts; the original's pattern stopped at the `:`). Local names may hold `-` (core/names.py).
USER_MENTION = re.compile(r"(?<!&)@((?i:USR:local_)[a-zA-Z0-9_-]*[a-zA-Z0-9_]|[a-zA-Z0-9_]+)")
ROLE_MENTION = re.compile(r"@&([a-zA-Z0-9_]+)")
USER_TARGET, ROLE_TARGET = "u:", "r:"  # a stored ping target: 'u:<user id>' or 'r:<role id>'


def mentioned_users(state: ServerState, content: str) -> list[str]:
    """The names `@`-mentioned in `content`, once each, as shown (a member's username when the name
    is one, `@bob` standing for the local account `USR:local_bob`)."""
    users: list[str] = []
    for name in USER_MENTION.findall(content):
        uid = state.names.get(name.casefold())
        if uid is None and ":" not in name:
            uid = state.names.get((CRACKED_PREFIX + name).casefold())
        shown = state.users[uid].username if uid is not None else name
        if shown not in users:
            users.append(shown)
    return users


def ping_targets(state: ServerState, ch: Channel, users: list[str], roles: list[str],
                 reply_user_id: str | None) -> tuple[str, ...]:
    """The targets a message in `ch` pings, as stored with it: each mentioned member (`users`, the
    names `mentioned_users` found) and the replied-to author when the reply pings, if they can view
    `ch` now; and each mentioned role that exists (its members are decided when pings_get reads it,
    against the channel's view list of that moment). Nobody else is ever told."""
    out: list[str] = []
    members = [state.names.get(name.casefold()) for name in users]
    if reply_user_id is not None:
        members.append(reply_user_id)
    for uid in members:
        user = state.users.get(uid) if uid is not None else None
        if user is None or user.deleted or not channel_allows(ch, Action.VIEW, user.roles):
            continue
        target = USER_TARGET + user.id
        if target not in out:
            out.append(target)
    for name in roles:
        role = state.roles.get(name)
        if role is not None:
            out.append(ROLE_TARGET + role.id)
    return tuple(out)
