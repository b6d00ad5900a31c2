"""The connection to Redis, kept up by itself, and the few commands the cluster uses.

The client is coredis (trio through anyio). Measured on this machine against Debian's Redis 7.0 on
loopback (docs/performance.md, "Scale-out"): coredis and redis-py in a worker thread cost the same
CPU per XADD (~0.2 ms), but a blocking XREAD in coredis is just a waiting task (cancellable, no
thread held for ever), so coredis it is. Its own retries are off: a retried XADD could be stored
twice, so every retry here is ours and carries the batch's sequence number, which the reader uses
to drop a copy.

`Link.run` connects, runs the role's `session(link)` until Redis fails, then connects again after
a short pause, for ever; the role keeps whatever must outlive a session. `Link.up` says whether a
session is running. Each session starts by reading the server's `run_id`: when it changed, Redis
restarted and lost what it held (the streams, the core's beat), and the role starts over.

`ACTIVITY` counts Redis work in flight in this process: requests waiting for their answer, and
stream entries added but not yet read by a reader of this process. Only tests look at it (a mock
clock must not leap while an answer is on its way: tests/clock.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
import structlog
import trio

log = structlog.get_logger("originchats.cluster")
RECONNECT_MIN, RECONNECT_MAX = 0.1, 2.0  # seconds between attempts, doubling
CONNECT_TIMEOUT = 5.0
STREAM_MAXLEN = 10_000  # entries a stream keeps (about); a reader further behind sees a gap


class Activity:
    """Redis work in flight in this process (see the module docstring)."""

    def __init__(self) -> None:
        self.requests = 0
        self.pending: dict[bytes, int] = {}
        self.readers: dict[bytes, int] = {}  # streams some task of this process reads
        self.watchers: list[Callable[[bool], None]] = []  # told `busy()` after each change (tests)

    def busy(self) -> bool:
        return self.requests > 0 or any(self.pending.get(s, 0) > 0 for s in self.readers)

    def _changed(self) -> None:
        busy = self.busy()
        for watcher in self.watchers:
            watcher(busy)

    def add(self, stream: bytes | None, requests: int = 1) -> None:
        self.requests += requests
        if stream is not None:
            self.pending[stream] = self.pending.get(stream, 0) + 1
        if self.watchers:
            self._changed()

    def answered(self, stream: bytes | None, stored: bool) -> None:
        self.requests -= 1
        if stream is not None and not stored:
            self.pending[stream] = max(0, self.pending.get(stream, 0) - 1)
        if self.watchers:
            self._changed()

    def read(self, stream: bytes, n: int) -> None:
        self.pending[stream] = max(0, self.pending.get(stream, 0) - n)
        if self.watchers:
            self._changed()

    def reading(self, stream: bytes, on: bool) -> None:
        self.readers[stream] = self.readers.get(stream, 0) + (1 if on else -1)
        if self.readers[stream] <= 0:
            del self.readers[stream]
        if self.watchers:
            self._changed()


ACTIVITY = Activity()


def parse_url(url: str) -> tuple[str, int, int]:
    """(host, port, db) of `redis://HOST[:PORT][/DB]`; ValueError when it is not one."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ValueError(f"expected redis://HOST:PORT, got {url!r}")
    db = parts.path.strip("/")
    return parts.hostname, parts.port or 6379, int(db) if db else 0


class RedisDown(Exception):
    """No session with Redis right now."""


@attrs.define(eq=False)
class Link:
    url: str
    name: str  # the client name Redis shows (CLIENT LIST)
    up: bool = False
    run_id: str = ""
    sessions: int = 0
    _cmd: Any = None  # coredis.Redis for requests
    _blk: Any = None  # coredis.Redis for blocking reads

    def _client(self) -> Any:
        import coredis
        from coredis.retry import NoRetryPolicy

        host, port, db = parse_url(self.url)
        # no timeouts of coredis's own: the session's connect is bounded here, and a blocking read
        # waits as long as it must (a dead Redis closes the socket, or the role's beat notices)
        return coredis.Redis(host=host, port=port, db=db, decode_responses=False, connect_timeout=None,
                             stream_timeout=None, retry_policy=NoRetryPolicy(), client_name=self.name,
                             verify_version=False)

    async def run(self, session: Callable[[Link, bool], Awaitable[None]],
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a session up for ever. `session(link, restarted)` runs while Redis answers;
        `restarted`: Redis is not the one of the last session (its data is gone). `task_status` is
        reported at once: the role works (and refuses) while Redis is away."""
        task_status.started()
        pause = RECONNECT_MIN
        while True:
            try:
                async with self._client() as cmd, self._client() as blk:  # they connect on first use
                    ACTIVITY.add(None)  # connecting: an answer is on its way
                    try:
                        with trio.fail_after(CONNECT_TIMEOUT):
                            info = await cmd.info("server")
                            await blk.ping()
                    finally:
                        ACTIVITY.answered(None, True)
                    run_id = str(info.get("run_id", ""))
                    restarted = bool(self.run_id) and run_id != self.run_id
                    self.run_id, self._cmd, self._blk = run_id, cmd, blk
                    self.sessions += 1
                    self.up = True
                    pause = RECONNECT_MIN
                    if self.sessions == 1 or restarted:
                        log.info("redis_connected", restarted=restarted)
                    await session(self, restarted)
            except Exception as exc:  # Redis went away (or a session failed): connect again
                if self.up:
                    log.warning("redis_lost", error=_describe(exc))
                elif pause == RECONNECT_MIN:  # the first failed attempt in a row
                    log.warning("redis_unreachable", error=_describe(exc))
            finally:
                self._cmd = self._blk = None
                self.up = False
            await trio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX)

    async def _call(self, request: Any, stream: bytes | None = None) -> Any:
        ACTIVITY.add(stream)
        stored = False
        try:
            answer = await request
            stored = True
            return answer
        finally:
            ACTIVITY.answered(stream, stored)

    def _need(self) -> Any:
        if self._cmd is None:
            raise RedisDown()
        return self._cmd

    async def xadd(self, stream: bytes, blob: bytes) -> None:
        await self._call(self._need().xadd(stream, {b"b": blob}, **_trimmed()), stream)

    async def xadd_many(self, items: list[tuple[bytes, bytes]]) -> None:
        """Add each (stream, blob) in one pipelined round trip (not a transaction)."""
        client = self._need()
        for stream, _blob in items:
            ACTIVITY.add(stream, requests=0)
        ACTIVITY.add(None)
        stored = False
        try:
            async with client.pipeline(transaction=False) as pipe:
                trim = _trimmed()
                for stream, blob in items:
                    pipe.xadd(stream, {b"b": blob}, **trim)
            stored = True
        finally:
            ACTIVITY.answered(None, True)
            if not stored:
                for stream, _blob in items:
                    ACTIVITY.read(stream, 1)

    async def last_id(self, stream: bytes) -> bytes:
        """The id of the newest entry of `stream`, where its reader starts: it gets only what comes
        next (what is older, none of this process's readers will read)."""
        entries = await self._call(self._need().xrevrange(stream, count=1))
        ACTIVITY.pending[stream] = 0
        return entries[0].identifier if entries else b"0-0"

    async def xread(self, stream: bytes, after: bytes, count: int = 256) -> list[tuple[bytes, bytes]]:
        """The entries of `stream` after id `after`, waiting for some: [(id, blob)]."""
        if self._blk is None:
            raise RedisDown()
        ACTIVITY.reading(stream, True)
        try:
            answer = await self._blk.xread({stream: after}, count=count, block=0)
        finally:
            ACTIVITY.reading(stream, False)
        entries = (answer or {}).get(stream, ())
        if entries:
            ACTIVITY.read(stream, len(entries))
        return [(e.identifier, e.field_values.get(b"b", b"")) for e in entries]

    async def batches(self, stream: bytes, after: bytes, unpack: Callable[[bytes], Any]) -> tuple[bytes, list]:
        """The batches of `stream` after id `after`, waiting for some: (the id to read after next
        time, [(entry id, unpack(blob))]). A blob `unpack` refuses (wire.WireError) is logged and
        skipped."""
        from .wire import WireError

        entries = await self.xread(stream, after)
        batches = []
        for entry_id, blob in entries:
            try:
                batches.append((entry_id, unpack(blob)))
            except WireError as exc:
                log.error("cluster_bad_batch", error=str(exc))
        return (entries[-1][0] if entries else after), batches

    async def get(self, key: bytes) -> bytes | None:
        return await self._call(self._need().get(key))

    async def set(self, key: bytes, value: bytes) -> None:
        await self._call(self._need().set(key, value))


def _trimmed() -> dict[str, Any]:
    """XADD's arguments that keep a stream at about STREAM_MAXLEN entries."""
    from coredis.tokens import PureToken

    return {"trim_strategy": PureToken.MAXLEN, "threshold": STREAM_MAXLEN,
            "trim_operator": PureToken.APPROXIMATELY}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    return f"{type(exc).__name__}: {exc}"[:200]
