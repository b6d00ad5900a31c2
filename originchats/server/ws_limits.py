"""The input limits of a WebSocket (server/ws.py): the message size before and after login, the
login deadline, and the budget of unfinished messages held across all connections.

* `max_message` bytes per message (close 1009); `InputLimits.max_message_before_login` until the
  socket logs in, `InputLimits.max_message` after;
* `InputLimits.login_timeout`: a socket not logged in by then is closed (1008 "login timeout"),
  by one `LoginDeadlines` task for the whole server (no timer per socket);
* an `InputBudget` bounds the bytes of unfinished messages held across all connections (policy
  "refuse the newcomer": the socket whose fragment would go past it is closed, 1013).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs
import trio

RECEIVE_BYTES = 65536  # one read from the socket
LOGIN_TIMEOUT_CODE, LOGIN_TIMEOUT_REASON = 1008, "login timeout"
BUSY_CODE, BUSY_REASON = 1013, "server busy"  # the input budget is exhausted


class InputRefused(Exception):
    """The socket's input broke a limit (`limit`); the close frame is already queued. `event` and
    `reason` are for the log."""

    event = "input_refused"
    reason = ""

    def __init__(self, limit: float = 0) -> None:
        super().__init__(limit)
        self.limit = limit


class MessageTooBig(InputRefused):
    event, reason = "frame_rejected", "too_big"


class BudgetExhausted(InputRefused):
    event, reason = "frame_rejected", "input_budget"


@attrs.frozen
class InputLimits:
    max_message: int = 4 * 1024 * 1024  # bytes per message once logged in
    max_message_before_login: int = 16 * 1024  # before
    login_timeout: float = 30.0  # seconds from the upgrade to the login


class LoginDeadlines:
    """The login deadlines of the sockets not logged in, kept by one task (`run`) for all of them.

    Every socket gets the same `login_timeout`, so deadlines are added in the order they fall due
    and a FIFO queue is the sorted structure: `add` is O(1), and the task sleeps until the oldest
    deadline. A socket whose deadline passes while it still has the same one (not logged in
    meanwhile, not closing) is expired: `expire_login()` closes it (1008 "login timeout"). This
    replaces a cancel scope around every read before login."""

    def __init__(self) -> None:
        self._queue: deque[tuple[float, Any]] = deque()
        self._wake: trio.Event | None = None

    def add(self, deadline: float, ws: Any) -> None:
        self._queue.append((deadline, ws))
        if self._wake is not None:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._wake = trio.Event()
                await self._wake.wait()
                self._wake = None
                continue
            deadline, ws = queue[0]
            if trio.current_time() < deadline:
                await trio.sleep_until(deadline)
                continue
            queue.popleft()
            if ws.login_deadline == deadline and not ws.closing:
                ws.expire_login()


def _find_malloc_trim():  # type: ignore[no-untyped-def]
    """glibc's `malloc_trim`, or None (another C library)."""
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        fn = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


_malloc_trim = _find_malloc_trim()
TRIM_AFTER = 16 * 1024 * 1024  # bytes of held input given back before the C heap is trimmed


@attrs.define(eq=False)
class InputBudget:
    """The bytes of unfinished incoming messages held by all sockets together, at most `limit`.

    Named policy, "refuse the newcomer": a socket whose next fragment would take the total past
    `limit` is closed with 1013 "server busy" (its held bytes are given back); sockets already
    holding bytes keep them. What is charged is the allocation of each held buffer, so the total
    is the memory actually held. Complete messages that arrive in one read are never held.

    Memory goes back to the system when held messages go: once `TRIM_AFTER` bytes were given back
    since the last time, glibc's `malloc_trim` returns the free pages of the C heap (else glibc
    keeps much of it, having raised its mmap threshold to the size of the big buffers it freed).
    """

    limit: int
    used: int = 0
    _given: int = 0  # since the last trim

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n
        self._given += n
        if self._given >= TRIM_AFTER and self._given >= 2 * self.used:
            self._given = 0
            if _malloc_trim is not None:
                _malloc_trim(0)
