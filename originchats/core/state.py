"""`ServerState`: everything the handlers decide on, except message history (kept in SQLite and
read through `Fetch` effects). Frozen; a handler returns a new state.

Mappings are plain dicts replaced as a whole on change (`{**old, key: new}`), never mutated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from .authguard import AuthRecords
from .model import Channel, Role, User
from .ratelimit import Bucket
from .settings import Settings


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
    users: Mapping[str, User] = attrs.Factory(dict)  # id -> user, deleted ones included
    names: Mapping[str, str] = attrs.Factory(dict)  # username.casefold() -> id (live users only)
    roles: Mapping[str, Role] = attrs.Factory(dict)  # name -> role, in creation order
    channels: tuple[Channel, ...] = ()  # display order
    conns: Mapping[int, Conn] = attrs.Factory(dict)
    rate_limits: Mapping[str, Bucket] = attrs.Factory(dict)  # user id -> bucket
    broadcast_limits: Mapping[str, Bucket] = attrs.Factory(dict)  # user id -> bucket of status, reactions...
    server_info: Mapping[str, str] = attrs.Factory(dict)  # live name/icon/banner
    # message id -> when deleted, for a minute: guards reads that raced the delete
    deleted_messages: Mapping[str, float] = attrs.Factory(dict)
    # (message id, emoji, user id) -> (reacted, when), for a minute: guards racing reaction reads
    recent_reactions: Mapping[tuple[str, str, str], tuple[bool, float]] = attrs.Factory(dict)
    auth: AuthRecords = attrs.Factory(AuthRecords)  # failure and registration counters; core/authguard.py
    sessions: Mapping[str, tuple[str, float]] = attrs.Factory(dict)  # token SHA-256 -> (user id, created); core/sessions.py

    # ---- lookups -------------------------------------------------------------------------------

    def channel(self, name: object) -> Channel | None:
        if not isinstance(name, str):
            return None
        for ch in self.channels:
            if ch.name == name:
                return ch
        return None

    def channel_by_id(self, channel_id: str) -> Channel | None:
        for ch in self.channels:
            if ch.id == channel_id:
                return ch
        return None

    def find_user(self, name_or_id: object) -> User | None:
        """Client-named user: case-insensitive username first, else the raw string as an id."""
        if not isinstance(name_or_id, str) or not name_or_id:
            return None
        uid = self.names.get(name_or_id.casefold())
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
        return (c for c in self.conns.values() if c.user_id is not None)

    def conns_of(self, user_id: str) -> list[int]:
        return [c.id for c in self.conns.values() if c.user_id == user_id]

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

    def with_user(self, user: User) -> ServerState:
        names = dict(self.names)
        old = self.users.get(user.id)
        if old is not None and names.get(old.username.casefold()) == user.id:
            del names[old.username.casefold()]
        if not user.deleted:
            names.setdefault(user.username.casefold(), user.id)
        return attrs.evolve(self, users={**self.users, user.id: user}, names=names)

    def with_conn(self, conn: Conn) -> ServerState:
        return attrs.evolve(self, conns={**self.conns, conn.id: conn})

    def without_conn(self, conn_id: int) -> ServerState:
        conns = dict(self.conns)
        conns.pop(conn_id, None)
        return attrs.evolve(self, conns=conns)

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


def build_names(users: Iterable[User]) -> dict[str, str]:
    names: dict[str, str] = {}
    for u in users:
        if not u.deleted:
            names.setdefault(u.username.casefold(), u.id)
    return names
