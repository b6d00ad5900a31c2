"""The two limiters of what an unauthenticated client can make the server do: argon2id hashing
and Rotur checks (server/ops.py runs them).

Password hashing and Rotur checks are what an unauthenticated client can make the server do, so
both are bounded and shared fairly between addresses (the `source` of the operation):

* `HashScheduler`: at most `threads` argon2id jobs run; at most `queue_size` wait (all sources
  together); one source holds at most `per_source` jobs, waiting or running. Beyond that a job is
  refused at once (`ops.BUSY`) instead of waiting behind everyone. A free thread goes to the waiting
  source with the fewest running jobs, and among equals to the one whose last job started longest
  ago (round robin): with one source flooding and another asking once, the other one gets the next
  free thread.
  A cheap hash skips all of this (`OpRunner.inline_max_cost`): one whose argon2 parameters (memory
  KiB x passes, read from the stored hash itself, or the configured hasher's for a new hash) are at
  most that is computed on the event loop at once. Measured: handing a ~0.1 ms check to a thread
  and back (start_thread_soon, the wake-up socket, two task switches) cost more than the check.
  Such a check is bounded by the address and account limits of the login path like any other; the
  queue exists for real hashes (64 MiB, 3 passes by default), which take tens of milliseconds.
* `RoturGate`: at most `total` validations in flight, `per_source` per source, refused beyond
  (`ops.BUSY`); the same (key, validator) in flight is one HTTP call whose answer every asker gets;
  answers (valid or not, never "could not reach Rotur") are reused for `cache_seconds`. The HTTP
  call runs in the runner's own task, so a client that hangs up does not free its slot early.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import attrs
import trio

from ..core import ops

_ARGON2_PARAMS = re.compile(r"\$argon2(?:id|i|d)\$(?:v=\d{1,3}\$)?m=(\d{1,10}),t=(\d{1,10}),p=\d{1,3}\$")


def argon2_cost(password_hash: str) -> int | None:
    """Memory (KiB) x passes of an encoded argon2 hash, or None when it is not one."""
    match = _ARGON2_PARAMS.match(password_hash)
    return int(match[1]) * int(match[2]) if match is not None else None


@attrs.define(eq=False)
class _Job:
    granted: trio.Event = attrs.Factory(trio.Event)


@attrs.define(eq=False)
class HashScheduler:
    threads: int = 2
    queue_size: int = 32
    per_source: int = 4
    _queues: dict[str | None, deque[_Job]] = attrs.Factory(dict)  # source -> its waiting jobs, oldest first
    _waiting: int = 0
    _running: int = 0
    _running_by: dict[str | None, int] = attrs.Factory(dict)
    _held: dict[str | None, int] = attrs.Factory(dict)  # waiting + running, per source
    _started: dict[str | None, int] = attrs.Factory(dict)  # source -> tick of its latest start (while held)
    _tick: int = 0

    def _admits(self, source: str | None) -> bool:
        if source is None:  # the operator: never refused
            return True
        if self._held.get(source, 0) >= self.per_source:
            return False
        return (self._running < self.threads and not self._waiting) or self._waiting < self.queue_size

    async def run(self, source: str | None, fn: Any, *args: Any) -> Any:
        """`fn(*args)` in a worker thread when a thread is free for `source`; `ops.BUSY` at once
        when the queue or the source's share is full."""
        if not self._admits(source):
            return ops.BUSY
        self._held[source] = self._held.get(source, 0) + 1
        try:
            if self._running < self.threads and not self._waiting:
                self._start(source)
            else:
                await self._wait_turn(source)
            try:
                return await trio.to_thread.run_sync(fn, *args)
            finally:
                self._finish(source)
        finally:
            left = self._held[source] - 1
            if left:
                self._held[source] = left
            else:
                del self._held[source]
                self._started.pop(source, None)

    async def _wait_turn(self, source: str | None) -> None:
        job = _Job()
        self._queues.setdefault(source, deque()).append(job)
        self._waiting += 1
        try:
            await job.granted.wait()
        except BaseException:
            if job.granted.is_set():  # the thread was handed over just now: pass it on
                self._finish(source)
            else:
                queue = self._queues[source]
                queue.remove(job)
                if not queue:
                    del self._queues[source]
                self._waiting -= 1
            raise

    def _start(self, source: str | None) -> None:
        self._running += 1
        self._running_by[source] = self._running_by.get(source, 0) + 1
        self._tick += 1
        self._started[source] = self._tick

    def _finish(self, source: str | None) -> None:
        self._running -= 1
        left = self._running_by[source] - 1
        if left:
            self._running_by[source] = left
        else:
            del self._running_by[source]
        while self._running < self.threads and self._queues:
            # the waiting source with the fewest running jobs; among equals, the least recently served
            nxt = min(self._queues, key=lambda s: (self._running_by.get(s, 0), self._started.get(s, 0)))
            queue = self._queues[nxt]
            job = queue.popleft()
            if not queue:
                del self._queues[nxt]
            self._waiting -= 1
            self._start(nxt)
            job.granted.set()


@attrs.define(eq=False)
class _Call:
    done: trio.Event = attrs.Factory(trio.Event)
    result: Any = "error"


@attrs.define(eq=False)
class RoturGate:
    total: int = 32
    per_source: int = 4
    cache_seconds: float = 30.0
    cache_entries: int = 10_000
    _inflight: dict[tuple[str, str], _Call] = attrs.Factory(dict)
    _cache: dict[tuple[str, str], tuple[float, Any]] = attrs.Factory(dict)  # oldest first
    _count: int = 0
    _by_source: dict[str | None, int] = attrs.Factory(dict)

    async def run(self, op: ops.RoturValidate, fetch: Any, nursery: trio.Nursery | None) -> Any:
        pair = (op.key, op.validator)
        hit = self._cache.get(pair)
        if hit is not None:
            if hit[0] > trio.current_time():
                return hit[1]
            del self._cache[pair]
        call = self._inflight.get(pair)
        if call is None:
            if self._count >= self.total or (op.source is not None
                                             and self._by_source.get(op.source, 0) >= self.per_source):
                return ops.BUSY
            call = self._inflight[pair] = _Call()
            self._count += 1
            self._by_source[op.source] = self._by_source.get(op.source, 0) + 1
            if nursery is not None:
                nursery.start_soon(self._call, pair, op, call, fetch)
            else:  # no background task (not serving): the asker makes the call
                await self._call(pair, op, call, fetch)
        await call.done.wait()
        return call.result

    async def _call(self, pair: tuple[str, str], op: ops.RoturValidate, call: _Call, fetch: Any) -> None:
        try:
            call.result = await fetch(op)
        finally:
            del self._inflight[pair]
            self._count -= 1
            left = self._by_source[op.source] - 1
            if left:
                self._by_source[op.source] = left
            else:
                del self._by_source[op.source]
            if call.result != "error" and self.cache_seconds > 0:
                self._cache[pair] = (trio.current_time() + self.cache_seconds, call.result)
                while len(self._cache) > self.cache_entries:
                    del self._cache[next(iter(self._cache))]
            call.done.set()
