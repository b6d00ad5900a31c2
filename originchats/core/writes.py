"""Persisted facts, in past tense. `store/sql.py` turns each into SQL; the writer commits them in
groups. Every write is idempotent enough to replay (upserts by primary key).

The set is closed: `Write` (at the end) names every fact, `store/sql.py` `WRITERS` has one
function per member, and tests/test_effect_tables.py fails when a class here is missing from
either. To add a fact: the class here, its member in `Write`, its function in `WRITERS`.
"""

from __future__ import annotations

from typing import Any, Union

import attrs

from .model import Channel, Message, Role, User


@attrs.frozen
class UserSaved:
    user: User


@attrs.frozen
class RoleSaved:
    role: Role


@attrs.frozen
class RoleDeleted:
    role_id: str


@attrs.frozen
class ChannelSaved:
    channel: Channel


@attrs.frozen
class ChannelsOrdered:
    channel_ids: tuple[str, ...]


@attrs.frozen
class ChannelDeleted:
    channel_id: str


@attrs.frozen
class SettingSaved:
    key: str
    value: Any


@attrs.frozen
class MessageCreated:
    message: Message


@attrs.frozen
class MessageEdited:
    message_id: str
    content: str
    embeds: Any  # None keeps the stored embeds; a list replaces them


@attrs.frozen
class MessageDeleted:
    message_id: str


@attrs.frozen
class ReactionAdded:
    message_id: str
    emoji: str
    user_id: str


@attrs.frozen
class ReactionRemoved:
    message_id: str
    emoji: str
    user_id: str


@attrs.frozen(kw_only=True)
class AuditRecorded:
    id: str
    time: float
    category: str
    action: str
    actor_id: str | None
    target: str | None = None
    reason: str | None = None
    details: Any = None


@attrs.frozen
class AuditPruned:
    """Delete audit entries at or before their category's cutoff (`ops.Cutoffs`; None keeps)."""

    cutoffs: tuple[tuple[str, float | None], ...]
    default_cutoff: float | None


@attrs.frozen
class TimeoutSaved:
    """A user's manual timeout (`user_timeout`) ends at `until` (Unix seconds); 0 lifts it."""

    user_id: str
    until: float


@attrs.frozen
class SessionCreated:
    """A session token (core/sessions.py): only its SHA-256 is stored."""

    token_hash: str
    user_id: str
    created_at: float


@attrs.frozen
class SessionRevoked:
    token_hash: str


@attrs.frozen
class UserSessionsRevoked:
    """Every session token of the user (ban, delete)."""

    user_id: str


# ---- pins (extended/reactions_pins_replies.md) ------------------------------------------------


@attrs.frozen
class MessagePinned:
    message_id: str


@attrs.frozen
class MessageUnpinned:
    message_id: str


#: Every persisted fact (`Persist.writes` holds these).
Write = Union[
    UserSaved, RoleSaved, RoleDeleted, ChannelSaved, ChannelsOrdered, ChannelDeleted, SettingSaved,
    MessageCreated, MessageEdited, MessageDeleted, ReactionAdded, ReactionRemoved, AuditRecorded,
    AuditPruned, TimeoutSaved, SessionCreated, SessionRevoked, UserSessionsRevoked,
    MessagePinned, MessageUnpinned,
]
