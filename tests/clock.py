"""An `autojump_clock` fixture that is safe with worker threads.

trio's MockClock with `autojump_threshold=0` jumps to the next deadline as soon as no task can run
and no I/O is ready, and a task waiting for `trio.to_thread.run_sync` (argon2, every SQLite commit)
looks exactly like that: the plain fixture's clock leapt over `Client.recv`'s 10 s timeout while a registration was
being hashed. This one does not jump while a worker thread started through `trio.to_thread` is
running (the threshold is lifted meanwhile); the server calls `trio.to_thread.run_sync` through the
module, so the fixture can count them.

Use it by importing the fixture into a test module: `from tests.clock import autojump_clock`.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing


@pytest.fixture
def autojump_clock(monkeypatch: pytest.MonkeyPatch) -> trio.testing.MockClock:
    clock = trio.testing.MockClock(autojump_threshold=0)
    original = trio.to_thread.run_sync
    busy = 0

    async def run_sync(*args: Any, **kwargs: Any) -> Any:
        nonlocal busy
        busy += 1
        clock.autojump_threshold = math.inf  # a worker thread is busy: nothing is idle yet
        try:
            return await original(*args, **kwargs)
        finally:
            busy -= 1
            if not busy:
                clock.autojump_threshold = 0

    monkeypatch.setattr(trio.to_thread, "run_sync", run_sync)
    return clock
