"""The users table of `ServerState` and its name index (the persistent-table protocol is in
core/tables.py): user id -> `User` in insertion order, casefolded username -> the ids of live users
with that name, and the count of live users, all changed in the one `set`/`delete`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from immutables import Map

from .tables import EMPTY, _Table

if TYPE_CHECKING:
    from .model import User


class UserTable(_Table):
    """User id -> `User` in insertion order, with the casefolded-username index of live users."""

    __slots__ = ("_seq", "_next", "_names", "_live")

    def __init__(self, by: Map = EMPTY, seq: Map = EMPTY, next_seq: int = 0, names: Map = EMPTY,
                 live: int = 0) -> None:
        self._by = by
        self._seq = seq  # user id -> insertion number (iteration order, and which of two equal names wins)
        self._next = next_seq
        self._names = names  # username.casefold() -> ids of live users with that name, by insertion
        self._live = live
        self._memo = None

    @classmethod
    def of(cls, users: Mapping[str, User] | Iterable[User] = ()) -> UserTable:
        """The table of `users` (a mapping by id, or the records), in their order, built in one
        pass (the loader gives it every account at start)."""
        if isinstance(users, UserTable):
            return users
        by: dict[str, User] = {}
        for user in (users.values() if isinstance(users, Mapping) else users):
            by[user.id] = user
        seq = {uid: i for i, uid in enumerate(by)}
        names: dict[str, tuple[str, ...]] = {}
        live = 0
        for user in by.values():
            if not user.deleted:
                live += 1
                folded = user.username.casefold()
                names[folded] = (*names.get(folded, ()), user.id)  # in insertion order already
        return cls(Map(by), Map(seq), len(seq), Map(names), live)

    def set(self, key: str, user: User) -> UserTable:
        if user.id != key:
            raise ValueError(f"user {user.id} stored under {key}")
        old = self._by.get(key)
        if old is user:
            return self
        seq, next_seq = self._seq, self._next
        if old is None:
            seq, next_seq = seq.set(key, next_seq), next_seq + 1
        names, live = self._names, self._live
        if old is not None and not old.deleted:
            live -= 1
            if user.deleted or old.username.casefold() != user.username.casefold():
                names = self._drop_name(names, old.username.casefold(), key)
        if not user.deleted:
            live += 1
            folded = user.username.casefold()
            if old is None or old.deleted or old.username.casefold() != folded:
                names = self._add_name(names, seq, folded, key)
        return UserTable(self._by.set(key, user), seq, next_seq, names, live)

    def delete(self, key: str) -> UserTable:
        old = self._by[key]
        names, live = self._names, self._live
        if not old.deleted:
            live -= 1
            names = self._drop_name(names, old.username.casefold(), key)
        return UserTable(self._by.delete(key), self._seq.delete(key), self._next, names, live)

    @staticmethod
    def _add_name(names: Map, seq: Map, folded: str, key: str) -> Map:
        ids = names.get(folded, ())
        return names.set(folded, tuple(sorted((*ids, key), key=seq.__getitem__)))

    @staticmethod
    def _drop_name(names: Map, folded: str, key: str) -> Map:
        ids = tuple(i for i in names[folded] if i != key)
        return names.set(folded, ids) if ids else names.delete(folded)

    def ordered_keys(self) -> tuple[str, ...]:
        return self.memo("ids", lambda: tuple(sorted(self._by, key=self._seq.__getitem__)))

    @property
    def names(self) -> NameIndex:
        """username.casefold() -> id of the live user with that name (the first inserted, should
        two ever share one)."""
        return NameIndex(self._names)

    def id_by_name(self, folded: str) -> str | None:
        ids = self._names.get(folded)
        return ids[0] if ids else None

    @property
    def live_count(self) -> int:
        """Users not deleted."""
        return self._live


class NameIndex(Mapping):
    """Read-only view of `UserTable`'s name index: folded name -> user id."""

    __slots__ = ("_names",)

    def __init__(self, names: Map) -> None:
        self._names = names

    def __getitem__(self, folded: str) -> str:
        return self._names[folded][0]

    def get(self, folded: str, default: Any = None) -> Any:
        ids = self._names.get(folded)
        return ids[0] if ids else default

    def __contains__(self, folded: object) -> bool:
        return folded in self._names

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)
