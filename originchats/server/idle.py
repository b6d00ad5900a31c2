"""When background work may run: web pushes and plugin callbacks go after the broadcasts.

On one core, a push (~0.2 ms to encrypt and send) or a plugin callback started just before a
message arrives delays that message's broadcast by as long. So background work waits, one piece
at a time, until no other task of the server can run and the writer is not committing (its
thread would wait for the GIL behind us), and then does one piece: a message that arrives
meanwhile waits for that one piece at most. A server that is never idle would starve it, so each
piece also goes once it has waited `max_wait` seconds: background work lags under load, it never
stops.
"""

from __future__ import annotations

import math
from typing import Any

import trio
import trio.testing

#: how often a piece waiting for the writer to finish its commit looks again
POLL = 0.002


class IdleGate:
    #: pieces waiting at any gate of this process, and pieces let through so far (tests/client.py
    #: `settle` waits for background work with these)
    waiting = 0
    passed = 0

    def __init__(self, writer: Any = None) -> None:
        self.writer = writer  # store/writer.py `Writer` (its `busy`), or None
        self._turn = trio.Lock()  # one piece watches for idleness at a time: no busy polling

    async def wait(self, max_wait: float = math.inf) -> None:
        """Return when the server is idle, or after `max_wait` seconds, whichever comes first."""
        IdleGate.waiting += 1
        try:
            with trio.move_on_after(max_wait):
                async with self._turn:
                    while True:
                        await trio.testing.wait_all_tasks_blocked()
                        if self.writer is None or not self.writer.busy:
                            break
                        await trio.sleep(POLL)
        finally:
            IdleGate.waiting -= 1
            IdleGate.passed += 1
