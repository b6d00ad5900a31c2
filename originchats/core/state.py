"""`ServerState`: everything the handlers decide on, except message history (kept in SQLite and
read through `Fetch` effects). Frozen; a handler returns a new state.

Mappings are persistent (core/tables.py): a change makes a new map in O(log n) that shares the rest
with the old one, never mutates. Connections, users and sessions are tables that keep their own
indexes (user -> connections, name -> user, user -> tokens); channels are a tuple with lookups by
name and id. Change them through the helpers below (`with_conn`, `with_user`, ...) or the tables'
`set`/`delete`: a plain dict given instead is converted, correctly but in O(n).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from .authguard import AuthRecords
from .emoji_records import Emoji
from .push_records import PushSub, VoiceSeat
from .model import Channel, Role, Thread, User
from .ratelimit import Bucket
from .settings import Settings
from .slash_records import SlashState
from .tables import EMPTY, NO_CHANNELS, ChannelList, ConnTable, SessionTable, channel_list, pmap
from .attachment_table import AttachmentTable
from .thread_table import ThreadTable
from .user_table import NameIndex, UserTable
from .webhook_records import Webhook


@attrs.frozen(kw_only=True)
class Conn:
    """One WebSocket connection. `user_id` is None until it authenticates."""

    id: int
    validator_key: str
    ip: str = ""  # the peer's address (after trusted-proxy resolution): per-IP limits key on it
    user_id: str | None = None
    username: str | None = None
    status: str = "online"  # last status set on this socket (for invisible transitions)
    session: str | None = None  # SHA-256 of the session token this socket was given (`ready.validator`)

    @property
    def authed(self) -> bool:
        return self.user_id is not None


@attrs.frozen(kw_only=True)
class ServerState:
    settings: Settings = attrs.Factory(Settings)
    users: UserTable = attrs.field(factory=UserTable, converter=UserTable.of)  # id -> user, deleted ones included
    roles: Mapping[str, Role] = attrs.Factory(dict)  # name -> role, in creation order (a few dozen: a dict)
    channels: ChannelList = attrs.field(default=NO_CHANNELS, converter=channel_list)  # display order
    conns: ConnTable = attrs.field(factory=ConnTable, converter=ConnTable.of)
    rate_limits: Mapping[str, Bucket] = attrs.field(default=EMPTY, converter=pmap)  # user id -> bucket
    # user id -> bucket of status, reactions...
    broadcast_limits: Mapping[str, Bucket] = attrs.field(default=EMPTY, converter=pmap)
    server_info: Mapping[str, str] = attrs.Factory(dict)  # live name/icon/banner
    # message id -> when deleted, for a minute: guards reads that raced the delete
    deleted_messages: Mapping[str, float] = attrs.field(default=EMPTY, converter=pmap)
    # (message id, emoji, user id) -> (reacted, when), for a minute: guards racing reaction reads
    recent_reactions: Mapping[tuple[str, str, str], tuple[bool, float]] = attrs.field(default=EMPTY, converter=pmap)
    # message id -> (pinned, when), for a minute: a read that predates a pin or unpin shows its outcome
    recent_pins: Mapping[str, tuple[bool, float]] = attrs.field(default=EMPTY, converter=pmap)
    auth: AuthRecords = attrs.Factory(AuthRecords)  # failure and registration counters; core/authguard.py
    # token SHA-256 -> (user id, created); core/sessions.py
    sessions: SessionTable = attrs.field(factory=SessionTable, converter=SessionTable.of)
    # thread id -> thread, with forum -> threads (extended/threads.md); core/targets.py resolves them
    threads: ThreadTable = attrs.field(factory=ThreadTable, converter=ThreadTable.of)
    # polls: when the expiry timer (server/timers.py `poll_expiry`) must look next: the earliest
    # `expires_at` of an open poll, as far as the core knows (it may be early, never late); None:
    # no poll expires (loaded at start, kept by poll_create and core/poll_expiry.py)
    poll_alarm: float | None = None
    # attachment id -> record (core/attachments.py), expired ones until the cleanup removes them,
    # with the uploader -> uploads and blob -> records indexes
    attachments: AttachmentTable = attrs.field(factory=AttachmentTable, converter=AttachmentTable.of)
    # user id -> times of their uploads in the last minute (`attachments.uploads_per_minute`)
    upload_times: Mapping[str, tuple[float, ...]] = attrs.field(default=EMPTY, converter=pmap)
    # custom emoji: id -> record (core/emoji_records.py); `emoji_next` is the next id to give, never
    # one given before (loaded from the table's AUTOINCREMENT sequence)
    emojis: Mapping[int, Emoji] = attrs.field(default=EMPTY, converter=pmap)
    emoji_next: int = 0
    # the icon and banner images stored by server_update: "icon"/"banner" -> (file name, MIME type)
    server_assets: Mapping[str, tuple[str, str]] = attrs.field(default=EMPTY, converter=pmap)
    # bots' slash commands per connection, and the calls waiting for a response (core/slash.py)
    slash: SlashState = attrs.Factory(SlashState)
    # webhooks: id -> record, and token SHA-256 -> id (core/webhook_records.py); each webhook's
    # post bucket: id -> (posts left, when counted) (core/webhooks.py `take_slot`)
    webhooks: Mapping[str, Webhook] = attrs.field(default=EMPTY, converter=pmap)
    webhook_tokens: Mapping[str, str] = attrs.field(default=EMPTY, converter=pmap)
    webhook_buckets: Mapping[str, tuple[float, float]] = attrs.field(default=EMPTY, converter=pmap)
    # web push: user id -> that account's subscriptions, oldest first (core/handlers/push.py)
    push_subs: Mapping[str, tuple[PushSub, ...]] = attrs.field(default=EMPTY, converter=pmap)
    # voice: conn id -> its seat (in memory only; a closed connection leaves: core/handlers/voice.py)
    voice: Mapping[int, VoiceSeat] = attrs.field(default=EMPTY, converter=pmap)

    @property
    def names(self) -> NameIndex:
        """username.casefold() -> id, live users only (kept by `users`)."""
        return self.users.names

    # ---- lookups -------------------------------------------------------------------------------

    def channel(self, name: object) -> Channel | None:
        if not isinstance(name, str):
            return None
        return self.channels.by_name.get(name)

    def channel_by_id(self, channel_id: str) -> Channel | None:
        return self.channels.by_id.get(channel_id)

    def find_user(self, name_or_id: object) -> User | None:
        """Client-named user: case-insensitive username first, else the raw string as an id."""
        if not isinstance(name_or_id, str) or not name_or_id:
            return None
        uid = self.users.id_by_name(name_or_id.casefold())
        if uid is None:
            uid = name_or_id
        user = self.users.get(uid)
        if user is None or user.deleted:
            return None
        return user

    def username_of(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.username if user is not None else user_id

    def conn(self, conn_id: int) -> Conn:
        return self.conns[conn_id]

    def authed_conns(self) -> Iterable[Conn]:
        """Logged-in connections, by id."""
        return self.conns.authed()

    def conns_of(self, user_id: str) -> tuple[int, ...]:
        """The logged-in connections of `user_id`, by id."""
        return self.conns.of_user(user_id)

    def role_by_name_or_id(self, key: object) -> Role | None:
        if not isinstance(key, str):
            return None
        role = self.roles.get(key)
        if role is not None:
            return role
        for r in self.roles.values():
            if r.id == key:
                return r
        return None

    # ---- copy-on-write helpers -----------------------------------------------------------------

    def replaced(self, name: str, value: object) -> ServerState:
        """A copy with field `name` set to `value`, which must already be of the field's final type
        (a table from the table's own `set`/`delete`): the converters are not run again. `attrs.evolve`
        rebuilds the state through `__init__` and its five converters, ~3.5 us; this ~1.7 us, and a
        login makes four new versions of the state (docs/performance.md, the connect path)."""
        new = _new_state(ServerState)
        for field in _STATE_FIELDS:
            _set_field(new, field, getattr(self, field))
        _set_field(new, name, value)
        return new

    def with_user(self, user: User) -> ServerState:
        users = self.users.set(user.id, user)
        return self if users is self.users else self.replaced("users", users)

    def with_conn(self, conn: Conn) -> ServerState:
        return self.replaced("conns", self.conns.set(conn.id, conn))

    def without_conn(self, conn_id: int) -> ServerState:
        if conn_id not in self.conns:
            return self
        return self.replaced("conns", self.conns.delete(conn_id))

    def with_channel(self, channel: Channel) -> ServerState:
        """Replace the channel with the same id, or append a new one."""
        out = []
        found = False
        for ch in self.channels:
            if ch.id == channel.id:
                out.append(channel)
                found = True
            else:
                out.append(ch)
        if not found:
            out.append(channel)
        return attrs.evolve(self, channels=tuple(out))

    def with_role(self, role: Role, *, old_name: str | None = None) -> ServerState:
        roles: dict[str, Role] = {}
        replaced = False
        for name, r in self.roles.items():
            if name == (old_name or role.name) or r.id == role.id:
                roles[role.name] = role
                replaced = True
            else:
                roles[name] = r
        if not replaced:
            roles[role.name] = role
        return attrs.evolve(self, roles=roles)

    # ---- threads -------------------------------------------------------------------------------

    def with_thread(self, thread: Thread) -> ServerState:
        threads = self.threads.set(thread.id, thread)
        return self if threads is self.threads else self.replaced("threads", threads)

    def without_thread(self, thread_id: str) -> ServerState:
        if thread_id not in self.threads:
            return self
        return self.replaced("threads", self.threads.delete(thread_id))


_STATE_FIELDS = tuple(field.name for field in attrs.fields(ServerState))
_new_state = object.__new__
_set_field = object.__setattr__  # the class is frozen: its own __setattr__ refuses
