"""Persistent tables of `ServerState`: changing one entry costs O(log n), whatever the crowd.

Every mapping of the state is an `immutables.Map` (a hash array mapped trie, the structure
CPython's `contextvars` uses): `m.set(k, v)` and `m.delete(k)` return a new map that shares all
but O(log n) nodes with the old one, so the state stays frozen (a step returns a new state, the
old one is untouched) without copying a map of 50,000 connections on every login. The choice and
its measurement are in docs/performance.md ("State").

Three tables keep indexes beside their entries, updated in the same `set`/`delete` that changes an
entry, so an index cannot fall out of step with what a scan of the entries would give
(tests/test_state_tables.py checks that over random sequences of changes):

* `ConnTable`: connection id -> `Conn`, plus user id -> that user's connection ids;
* `UserTable` (core/user_table.py, with its name index): user id -> `User` in insertion order,
  plus casefolded username -> id (live users only) and the number of live users;
* `SessionTable`: token hash -> (user id, created), plus user id -> that user's token hashes.

They are read-only `Mapping`s; `set(key, value)` and `delete(key)` give new tables (the protocol
core/revert.py relies on, shared with `immutables.Map`). Iteration follows the order a `dict`
replaced copy by copy would have: connections by id (ids only grow), users by first insertion.
Derived values that take a scan (the sorted ids, an audience) are computed at most once per table
version and kept on it (`memo`): a table never changes, so what was derived from it stays true.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from immutables import Map

if TYPE_CHECKING:
    from .state import Conn

K = TypeVar("K")
V = TypeVar("V")
EMPTY: Map = Map()


def pmap(value: Mapping[K, V] | Iterable[tuple[K, V]] | None = None) -> Map:
    """An `immutables.Map` of `value` (the same object when it is one): the converter of every
    plain mapping field of the state, so a dict given to the constructor or `attrs.evolve` works."""
    if type(value) is Map:
        return value
    if value is None:
        return EMPTY
    if isinstance(value, dict):
        return Map(value)
    if isinstance(value, Mapping):
        return Map(value.items())
    return Map(value)


def _link(index: Map, outer: Any, inner: Any) -> Map:
    """`index[outer]` (a map used as a set) with `inner` added."""
    return index.set(outer, index.get(outer, EMPTY).set(inner, None))


def _unlink(index: Map, outer: Any, inner: Any) -> Map:
    """`index[outer]` with `inner` removed; `outer` goes when its set is empty."""
    rest = index[outer].delete(inner)
    return index.set(outer, rest) if rest else index.delete(outer)


class _Table(Mapping):
    """Shared read side: the entries are `self._by` (an `immutables.Map`); `_memo` holds values
    derived from this version of the table."""

    __slots__ = ("_by", "_memo")
    _by: Map
    _memo: dict | None

    def __getitem__(self, key: Any) -> Any:
        return self._by[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._by.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._by

    def __len__(self) -> int:
        return len(self._by)

    def __iter__(self) -> Iterator:
        return iter(self.ordered_keys())

    def keys(self) -> tuple:  # type: ignore[override]
        return self.ordered_keys()

    def values(self) -> tuple:  # type: ignore[override]
        by = self._by
        return tuple(by[k] for k in self.ordered_keys())

    def items(self) -> tuple:  # type: ignore[override]
        by = self._by
        return tuple((k, by[k]) for k in self.ordered_keys())

    def ordered_keys(self) -> tuple:
        raise NotImplementedError

    def memo(self, key: Any, compute: Callable[[], V]) -> V:
        """`compute()`, once per table version and key (the value may depend on this table only)."""
        memo = self._memo
        if memo is None:
            memo = self._memo = {}
        try:
            return memo[key]
        except KeyError:
            value = memo[key] = compute()
            return value

    def recall(self, key: Any) -> Any:
        """What `remember` kept under `key` for this version of the table, or None. A value that
        depends on more than this table must carry what it was derived from, for the caller to
        check (by identity) before using it."""
        return self._memo.get(key) if self._memo is not None else None

    def remember(self, key: Any, value: Any) -> None:
        if self._memo is None:
            self._memo = {}
        self._memo[key] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.items())!r})"


class ConnTable(_Table):
    """Connection id -> `Conn`, with the user id -> connection ids index."""

    __slots__ = ("_by_user",)

    def __init__(self, by: Map = EMPTY, by_user: Map = EMPTY) -> None:
        self._by = by
        self._by_user = by_user  # user id -> Map(conn id -> None), logged-in connections only
        self._memo = None

    @classmethod
    def of(cls, conns: Mapping[int, Conn] | Iterable[Conn] = ()) -> ConnTable:
        """The table of `conns` (a mapping by id, or the records), built in one pass."""
        if isinstance(conns, ConnTable):
            return conns
        by: dict[int, Conn] = {}
        by_user: dict[str, dict[int, None]] = {}
        for conn in (conns.values() if isinstance(conns, Mapping) else conns):
            by[conn.id] = conn
        for conn in by.values():
            if conn.user_id is not None:
                by_user.setdefault(conn.user_id, {})[conn.id] = None
        return cls(Map(by), Map({uid: Map(ids) for uid, ids in by_user.items()}))

    def set(self, key: int, conn: Conn) -> ConnTable:
        if conn.id != key:
            raise ValueError(f"connection {conn.id} stored under {key}")
        old = self._by.get(key)
        by_user = self._by_user
        was = old.user_id if old is not None else None
        if was != conn.user_id:
            if was is not None:
                by_user = _unlink(by_user, was, key)
            if conn.user_id is not None:
                by_user = _link(by_user, conn.user_id, key)
        return ConnTable(self._by.set(key, conn), by_user)

    def delete(self, key: int) -> ConnTable:
        old = self._by[key]
        by_user = self._by_user if old.user_id is None else _unlink(self._by_user, old.user_id, key)
        return ConnTable(self._by.delete(key), by_user)

    def ordered_keys(self) -> tuple[int, ...]:
        return self.memo("ids", lambda: tuple(sorted(self._by)))

    # ---- the index ---------------------------------------------------------------------------

    def of_user(self, user_id: str) -> tuple[int, ...]:
        """The logged-in connections of `user_id`, by id."""
        ids = self._by_user.get(user_id)
        return tuple(sorted(ids)) if ids else ()

    def has_user(self, user_id: str) -> bool:
        """Has `user_id` a logged-in connection?"""
        return user_id in self._by_user

    def online_user_ids(self) -> Iterable[str]:
        """The users with a logged-in connection (no order)."""
        return self._by_user.keys()

    def authed_ids(self) -> tuple[int, ...]:
        """Every logged-in connection id, ascending."""
        return self.memo("authed", lambda: tuple(sorted(c for ids in self._by_user.values() for c in ids)))

    def authed(self) -> Iterator[Conn]:
        by = self._by
        return (by[c] for c in self.authed_ids())

    def user_index(self) -> dict[str, frozenset[int]]:
        """The index as plain sets (for tests)."""
        return {uid: frozenset(ids) for uid, ids in self._by_user.items()}


class SessionTable(_Table):
    """Token hash -> (user id, created), with the user id -> token hashes index."""

    __slots__ = ("_by_user",)

    def __init__(self, by: Map = EMPTY, by_user: Map = EMPTY) -> None:
        self._by = by
        self._by_user = by_user
        self._memo = None

    @classmethod
    def of(cls, sessions: Mapping[str, tuple[str, float]] = EMPTY) -> SessionTable:
        """The table of `sessions` (token hash -> (user id, created)), built in one pass."""
        if isinstance(sessions, SessionTable):
            return sessions
        by_user: dict[str, dict[str, None]] = {}
        for h, entry in sessions.items():
            by_user.setdefault(entry[0], {})[h] = None
        return cls(pmap(sessions), Map({uid: Map(hs) for uid, hs in by_user.items()}))

    def set(self, key: str, entry: tuple[str, float]) -> SessionTable:
        old = self._by.get(key)
        by_user = self._by_user
        if old is None or old[0] != entry[0]:
            if old is not None:
                by_user = _unlink(by_user, old[0], key)
            by_user = _link(by_user, entry[0], key)
        return SessionTable(self._by.set(key, entry), by_user)

    def delete(self, key: str) -> SessionTable:
        old = self._by[key]
        return SessionTable(self._by.delete(key), _unlink(self._by_user, old[0], key))

    def ordered_keys(self) -> tuple[str, ...]:
        return self.memo("keys", lambda: tuple(self._by))

    def of_user(self, user_id: str) -> tuple[str, ...]:
        """The token hashes of `user_id` (no order)."""
        return tuple(self._by_user.get(user_id, EMPTY))

    def user_index(self) -> dict[str, frozenset[str]]:
        return {uid: frozenset(hs) for uid, hs in self._by_user.items()}


class ChannelList(tuple):
    """The channels in display order (a tuple), with lookups by name and by id built once per list
    (a list of channels changes only when a channel does)."""

    def __new__(cls, channels: Iterable[Any] = ()) -> ChannelList:
        self = super().__new__(cls, channels)
        by_name: dict[str, Any] = {}
        by_id: dict[str, Any] = {}
        for ch in self:
            by_name.setdefault(ch.name, ch)  # the first of two equal names, as a scan finds it
            by_id.setdefault(ch.id, ch)
        self.by_name = by_name
        self.by_id = by_id
        return self


NO_CHANNELS = ChannelList()


def channel_list(channels: Iterable[Any]) -> ChannelList:
    """Converter of `ServerState.channels` (no channels: always the same object, as `()` is)."""
    if type(channels) is ChannelList:
        return channels
    out = ChannelList(channels)
    return out if out else NO_CHANNELS
