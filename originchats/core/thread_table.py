"""The threads table of `ServerState` (the persistent-table protocol is in core/tables.py): thread
id -> `Thread`, with the forum -> threads index and the listing bytes kept by `set`/`delete`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from immutables import Map

from .tables import EMPTY, _Table, _link, _unlink


class ThreadTable(_Table):
    """Thread id -> `Thread`, with the forum -> its threads index and the listing bytes of all
    threads (core/threadsize.py), both updated by `set`/`delete`. A forum's threads come out in
    creation order (`created_at`, then id)."""

    __slots__ = ("_by_channel", "_bytes")

    def __init__(self, by: Map = EMPTY, by_channel: Map = EMPTY, total: int = 0) -> None:
        self._by = by
        self._by_channel = by_channel  # channel id -> Map(thread id -> None)
        self._bytes = total
        self._memo = None

    @classmethod
    def of(cls, threads: Mapping[str, Any] | Iterable[Any] = ()) -> ThreadTable:
        """The table of `threads` (a mapping by id, or the records), built in one pass."""
        if isinstance(threads, ThreadTable):
            return threads
        from .threadsize import listing_bytes

        by: dict[str, Any] = {}
        for thread in (threads.values() if isinstance(threads, Mapping) else threads):
            by[thread.id] = thread
        by_channel: dict[str, dict[str, None]] = {}
        for thread in by.values():
            by_channel.setdefault(thread.channel_id, {})[thread.id] = None
        total = sum(listing_bytes(t) for t in by.values())
        return cls(Map(by), Map({cid: Map(ids) for cid, ids in by_channel.items()}), total)

    def set(self, key: str, thread: Any) -> ThreadTable:
        from .threadsize import listing_bytes

        if thread.id != key:
            raise ValueError(f"thread {thread.id} stored under {key}")
        old = self._by.get(key)
        if old is thread:
            return self
        by_channel, total = self._by_channel, self._bytes + listing_bytes(thread)
        if old is not None:
            total -= listing_bytes(old)
        if old is None or old.channel_id != thread.channel_id:
            if old is not None:
                by_channel = _unlink(by_channel, old.channel_id, key)
            by_channel = _link(by_channel, thread.channel_id, key)
        return ThreadTable(self._by.set(key, thread), by_channel, total)

    def delete(self, key: str) -> ThreadTable:
        from .threadsize import listing_bytes

        old = self._by[key]
        return ThreadTable(self._by.delete(key), _unlink(self._by_channel, old.channel_id, key),
                           self._bytes - listing_bytes(old))

    def without_channel(self, channel_id: str) -> ThreadTable:
        """The table without the threads of `channel_id` (a deleted forum)."""
        table = self
        for key in self._by_channel.get(channel_id, EMPTY):
            table = table.delete(key)
        return table

    def ordered_keys(self) -> tuple[str, ...]:
        by = self._by
        return self.memo("ids", lambda: tuple(sorted(by, key=lambda k: (by[k].created_at, k))))

    # ---- the index and the counter -----------------------------------------------------------

    def of_channel(self, channel_id: str) -> tuple[Any, ...]:
        """The threads of a forum, in creation order."""
        def compute() -> tuple[Any, ...]:
            by = self._by
            ids = self._by_channel.get(channel_id, EMPTY)
            return tuple(sorted((by[k] for k in ids), key=lambda t: (t.created_at, t.id)))
        return self.memo(("channel", channel_id), compute)

    def per_channel(self) -> Iterator[tuple[str, int]]:
        """(channel id, number of its threads) for each channel that has threads."""
        return ((cid, len(ids)) for cid, ids in self._by_channel.items())

    @property
    def listing_bytes(self) -> int:
        """The listing bytes of every thread, their parents' names left out (core/threadsize.py)."""
        return self._bytes

    def channel_index(self) -> dict[str, frozenset[str]]:
        """The index as plain sets (for tests)."""
        return {cid: frozenset(ids) for cid, ids in self._by_channel.items()}
