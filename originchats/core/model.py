"""Domain records: users, roles, channels, messages. Frozen; changed with `attrs.evolve`.

JSON-shaped values (role permission objects, channel extra keys, embeds) are kept as plain
dicts/lists that are never mutated in place: a change builds a new record.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from .poll_records import PollTally

CRACKED_PREFIX = "USR:local_"



class Perm(enum.StrEnum):
    """The 20 official server-wide permission names, in the order the handshake sends them
    (objects.md §5.1). Members are the wire strings themselves."""

    ADMINISTRATOR = "administrator"
    MANAGE_SERVER = "manage_server"
    VIEW_AUDIT_LOG = "view_audit_log"
    MANAGE_ROLES = "manage_roles"
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_THREADS = "manage_threads"
    MANAGE_USERS = "manage_users"
    MANAGE_MESSAGES = "manage_messages"
    READ_MESSAGE_HISTORY = "read_message_history"
    SEND_MESSAGES = "send_messages"
    EMBED_LINKS = "embed_links"
    ATTACH_FILES = "attach_files"
    ADD_REACTIONS = "add_reactions"
    EXTERNAL_EMOJIS = "external_emojis"
    CONNECT = "connect"
    SPEAK = "speak"
    STREAM = "stream"
    USE_VOICE_ACTIVITY = "use_voice_activity"
    MENTION_EVERYONE = "mention_everyone"
    USE_SLASH_COMMANDS = "use_slash_commands"


PERMISSIONS: tuple[str, ...] = tuple(p.value for p in Perm)


class Action(enum.StrEnum):
    """What a channel's permission block governs (objects.md §5.2): its keys."""

    VIEW = "view"
    SEND = "send"
    DELETE = "delete"
    CREATE_THREAD = "create_thread"
    DELETE_OWN = "delete_own"
    EDIT_OWN = "edit_own"
    REACT = "react"
    PIN = "pin"

STATUSES = ("online", "idle", "dnd", "offline", "invisible")
CHANNEL_TYPES = ("text", "voice", "forum", "separator")
SYSTEM_ROLES = frozenset({"owner", "admin", "user"})


@attrs.frozen(kw_only=True)
class User:
    id: str
    username: str
    nickname: str | None = None
    password_hash: str | None = None
    roles: tuple[str, ...] = ("user",)
    status: str = "online"
    status_text: str = ""
    pfp_url: str | None = None
    created_at: float = 0.0
    deleted: bool = False  # deleted accounts keep their row so the name and id cannot be reclaimed

    @property
    def cracked(self) -> bool:
        return self.id.startswith(CRACKED_PREFIX)

    @property
    def banned(self) -> bool:
        return "banned" in self.roles


@attrs.frozen(kw_only=True)
class Role:
    id: str
    name: str
    description: str | None = None
    color: str | None = None
    hoisted: bool = False
    permissions: Any = ()  # list of names, or an object (only `mention_roles` has meaning)
    self_assignable: bool = False
    category: str | None = None
    position: int = 0

    def wire(self) -> dict[str, Any]:
        perms = self.permissions
        return {
            "id": self.id,
            "description": self.description,
            "color": self.color,
            "hoisted": self.hoisted,
            "permissions": list(perms) if isinstance(perms, (list, tuple)) else dict(perms),
            "self_assignable": self.self_assignable,
            "category": self.category,
            "position": self.position,
        }

    def grants(self, perm: Perm | str) -> bool:
        perms = self.permissions
        if isinstance(perms, dict):
            return False
        return Perm.ADMINISTRATOR in perms or perm in perms


@attrs.frozen(kw_only=True)
class Channel:
    """A channel. `id` is stable; `name` is what the wire uses and may change."""

    id: str
    name: str
    type: str = "text"
    description: str | None = None
    display_name: str | None = None
    size: int | None = None
    permissions: dict[str, tuple[str, ...]] = attrs.Factory(dict)
    extra: dict[str, Any] = attrs.Factory(dict)  # other keys clients store (wallpaper, icon, …)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.display_name:
            out["display_name"] = self.display_name
        if self.size:
            out["size"] = self.size
        out["permissions"] = {k: list(v) for k, v in self.permissions.items()}
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out


@attrs.frozen(kw_only=True)
class Message:
    id: str
    channel_id: str
    user_id: str
    content: str
    timestamp: float
    thread_id: str | None = None
    reply_to_id: str | None = None
    reply_to_user: str | None = None
    ping: bool | None = None
    embeds: Any = None
    attachments: Any = None
    edited: bool = False
    pinned: bool = False
    reactions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (emoji, user ids) in first-use order
    type: str | None = None
    interaction: Any = None
    webhook: Any = None
    # not stored with the message: a read of a poll message attaches its poll's counts (store/reads.py)
    poll_tally: PollTally | None = None

    def reaction_users(self, emoji: str) -> tuple[str, ...]:
        for e, users in self.reactions:
            if e == emoji:
                return users
        return ()


@attrs.frozen(kw_only=True)
class Thread:
    """A named topic of a forum channel, with its own history (extended/threads.md). The id is
    made by the server (`Context.new_id`) and is only ever a key, never a path.

    `created_by` and `participants` hold user ids (the wire form shows usernames); `last_message`
    and `last_message_id` describe the newest message of the thread. They are not stored in the
    thread's row: the loader reads them from the messages index, and the handlers keep them as
    messages come and go."""

    id: str
    channel_id: str  # the parent forum's stable id
    name: str
    created_by: str
    created_at: float
    locked: bool = False
    archived: bool = False
    participants: tuple[str, ...] = ()
    last_message: float | None = None
    last_message_id: str | None = None
