"""Persisted facts, in past tense. `store/sql.py` turns each into SQL; the writer commits them in
groups. Every write is idempotent enough to replay (upserts by primary key).

The set is closed: `Write` (at the end) names every fact, `store/sql.py` `WRITERS` has one
function per member, and tests/test_effect_tables.py fails when a class here is missing from
either. To add a fact: the class here, its member in `Write`, its function in `WRITERS`.
"""

from __future__ import annotations

from typing import Any, Union

import attrs

from .emoji_records import Emoji
from .model import Channel, Message, Role, Thread, User
from .poll_records import Poll
from .webhook_records import Webhook


@attrs.frozen
class UserSaved:
    user: User


@attrs.frozen
class RoleSaved:
    role: Role


@attrs.frozen
class RoleDeleted:
    role_id: str
    name: str = ""  # the role's name (for the plugins' `role_delete`; the store needs only the id)


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
    # who it pings, stored with it: 'u:<user id>' / 'r:<role id>' (core/handlers/unreads.py)
    mentions: tuple[str, ...] = ()


@attrs.frozen
class MessageEdited:
    message_id: str
    content: str
    embeds: Any  # None keeps the stored embeds; a list replaces them
    # where the message is (for the plugins' `message_edit`; the store needs only the id)
    channel_id: str | None = None
    thread_id: str | None = None


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


# ---- threads (extended/threads.md) --------------------------------------------------------------


@attrs.frozen
class ThreadSaved:
    """A thread created or changed (name, flags, participants); its last message is not stored."""

    thread: Thread


@attrs.frozen
class ThreadDeleted:
    """A thread, its messages and their reactions (other features' rows go with the messages, by
    their triggers)."""

    channel_id: str
    thread_id: str
# ---- polls (extended/polls.md; SQL in store/polls.py) -------------------------------------------


@attrs.frozen
class PollCreated:
    """A poll record and its options (its message is a `MessageCreated` of the same command)."""

    poll: Poll


@attrs.frozen(kw_only=True)
class PollVoted:
    """The user's votes change, only while the poll is open at `at` (a vote racing `poll_end` or
    the expiry is not stored): with `remove`, the listed options are taken back; otherwise they are
    added, and with `exclusive` (single-select: one option listed) the user's other votes go."""

    poll_id: str
    user_id: str
    option_ids: tuple[str, ...]
    at: float
    exclusive: bool = False
    remove: bool = False


@attrs.frozen
class PollEnded:
    """`poll_end`: the poll ends at `at`, unless it has ended or expired already."""

    poll_id: str
    at: float


@attrs.frozen
class PollsExpired:
    """The expiry timer: these polls end at their own `expires_at`, if that is at or before `now`
    and they are still open."""

    poll_ids: tuple[str, ...]
    now: float


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
    ThreadSaved, ThreadDeleted,
    PollCreated, PollVoted, PollEnded, PollsExpired,
    MessagePinned, MessageUnpinned,
]


# ---- unreads and pings (extended/unreads_pings.md) ---------------------------------------------


@attrs.frozen
class ReadMarked:
    """The user has read the channel/thread (thread_id None: the channel) up to `message_id`.
    Nothing is stored unless the message is there. `forward_only` (the auto-acknowledge of
    messages_get): an existing mark moves only to a newer message; otherwise it is set as given."""

    user_id: str
    channel_id: str
    thread_id: str | None
    message_id: str
    forward_only: bool = False


@attrs.frozen
class MentionsChanged:
    """An edit changed who the message pings (`MessageCreated.mentions`)."""

    message_id: str
    mentions: tuple[str, ...]


#: the facts above join the set
Write = Union[Write, ReadMarked, MentionsChanged]  # type: ignore[misc]


# ---- attachments (extended/attachments.md; migrations/0012_attachments.sql) ---------------------


@attrs.frozen
class AttachmentStored:
    """A new upload's record (`core/attachments.py` `Attachment`); its blob is on disk already."""

    record: Any


@attrs.frozen
class AttachmentsRemoved:
    """These records and their message references go (deleted, expired, evicted, purged); the
    bytes of a blob no record names any more are deleted after the commit (`ops.DropBlobs`)."""

    ids: tuple[str, ...]


#: the facts above join the set
Write = Union[Write, AttachmentStored, AttachmentsRemoved]  # type: ignore[misc]


# ---- custom emoji and server assets (extended/emojis.md, attachments.md §4) -------------------


@attrs.frozen
class EmojiSaved:
    """A new emoji, or an existing one renamed or given a new image (upsert by id)."""

    emoji: Emoji


@attrs.frozen
class EmojiDeleted:
    emoji_id: int


@attrs.frozen
class ServerAssetSaved:
    """The icon or banner image sent to `server_update` (`file_name` under files/assets/)."""

    name: str
    file_name: str
    mime_type: str


@attrs.frozen
class ServerAssetDeleted:
    """The icon or banner was set to a URL or cleared: its stored image is no longer served."""

    name: str


Write = Union[Write, EmojiSaved, EmojiDeleted, ServerAssetSaved, ServerAssetDeleted]  # type: ignore[misc]


# ---- webhooks (extended/webhooks.md; migrations/0014_webhooks.sql) -----------------------------


@attrs.frozen
class WebhookSaved:
    """A new webhook, or one renamed, given an avatar or secret, or a new token (upsert by id)."""

    webhook: Webhook


@attrs.frozen
class WebhookDeleted:
    webhook_id: str


Write = Union[Write, WebhookSaved, WebhookDeleted]  # type: ignore[misc]
# ---- web push (extended/push.md; migrations/0015_push_subscriptions.sql) ------------------------


@attrs.frozen
class PushSubscribed:
    """A subscription stored (or replaced: the endpoint is its key)."""

    sub: Any  # core/push_records.py `PushSub`


@attrs.frozen
class PushUnsubscribed:
    """Subscriptions removed by endpoint: the owner's `push_unsubscribe`, an account's oldest one
    beyond the limit, or one whose push service answered 404/410."""

    endpoints: tuple[str, ...]


@attrs.frozen
class PushUsed:
    """Pushes the services accepted: `last_used` refreshed."""

    endpoints: tuple[str, ...]
    when: float


Write = Union[Write, PushSubscribed, PushUnsubscribed, PushUsed]  # type: ignore[misc]
