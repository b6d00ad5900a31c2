"""An `autojump_clock` fixture that is safe with worker threads.

trio's MockClock with `autojump_threshold=0` jumps to the next deadline as soon as no task can run
and no I/O is ready, and a task waiting for `trio.to_thread.run_sync` (argon2, every SQLite commit)
looks exactly like that: the plain fixture's clock leapt over `Client.recv`'s 10 s timeout while a registration was
being hashed. This one does not jump while a worker thread started through `trio.to_thread` is
running, nor while a request to Redis or an entry added to a Redis stream is on its way to a task
of this process (cluster/redis_link.py `ACTIVITY`; the threshold is lifted meanwhile); the server calls `trio.to_thread.run_sync` through the
module, so the fixture can count them.

Use it by importing the fixture into a test module: `from tests.clock import autojump_clock`.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing

from originchats.cluster.redis_link import ACTIVITY


@pytest.fixture
def autojump_clock(monkeypatch: pytest.MonkeyPatch) -> trio.testing.MockClock:
    clock = trio.testing.MockClock(autojump_threshold=0)
    original = trio.to_thread.run_sync
    busy = 0
    redis_busy = False

    def update() -> None:
        # a worker thread is busy, or an answer from Redis is on its way: nothing is idle yet
        clock.autojump_threshold = math.inf if busy or redis_busy else 0

    async def run_sync(*args: Any, **kwargs: Any) -> Any:
        nonlocal busy
        busy += 1
        update()
        try:
            return await original(*args, **kwargs)
        finally:
            busy -= 1
            update()

    def redis_watch(now_busy: bool) -> None:
        nonlocal redis_busy
        redis_busy = now_busy
        update()

    monkeypatch.setattr(trio.to_thread, "run_sync", run_sync)
    monkeypatch.setattr(ACTIVITY, "watchers", [*ACTIVITY.watchers, redis_watch])
    return clock
