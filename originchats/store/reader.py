"""Read-only queries (history, single messages) on their own WAL connection, off the trio thread."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import trio

T = TypeVar("T")


@attrs.define(eq=False)
class Reader:
    con: sqlite3.Connection
    _limiter: trio.CapacityLimiter = attrs.Factory(lambda: trio.CapacityLimiter(1))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(fn, self.con, *args, limiter=self._limiter)
