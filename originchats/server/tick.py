"""`OncePerTick`: work that many tasks ask for in one go, done once, one scheduler tick later."""

from __future__ import annotations

from collections.abc import Callable

import structlog
import trio

log = structlog.get_logger("originchats.tick")


class OncePerTick:
    """Calls `run()` one scheduler tick after the first `arm()` since its last call, so that what
    the tasks woken in the same go ask for is done together (the socket flusher, the coalesced
    channel-list pushes). It runs in a trio system task started on first use; an exception from
    `run` is logged and the task carries on."""

    def __init__(self, run: Callable[[], None], name: str) -> None:
        self._run = run
        self._name = name
        self._event: trio.Event | None = None
        self._armed = False

    def arm(self) -> None:
        if self._armed:
            return
        self._armed = True
        if self._event is None:
            self._event = trio.Event()
            trio.lowlevel.spawn_system_task(self._loop, name=self._name)
        self._event.set()

    async def _loop(self) -> None:
        while True:
            assert self._event is not None
            await self._event.wait()
            self._event = trio.Event()
            # one more tick: what the tasks woken with us ask for is done in the same go
            await trio.lowlevel.cancel_shielded_checkpoint()
            self._armed = False
            try:
                self._run()
            except Exception:  # a bug here must not end the server (this is a system task)
                log.exception("tick_task_failed", task=self._name)
