"""Per-tick coalescing of the `channels_get` pushes (the core's `ChannelsChanged` effect).

Each channel change used to send every affected socket the whole channel list at once: an admin
sending a burst of `channel_update`s made every socket receive one full list per update. Here a
committed change only marks the lists dirty, remembering the state before the tick's first change
and after its last; one scheduler tick later (so every change committed in the same go is in),
the hub computes the pushes once: each socket whose visible list differs gets one list.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
import trio

from ..core.state import ServerState

log = structlog.get_logger("originchats.coalesce")


class ChannelPushes:
    def __init__(self, flush: Callable[[ServerState, ServerState], None]) -> None:
        self._flush = flush  # called with the states before the tick's first and after its last change
        self._pending: tuple[ServerState, ServerState] | None = None
        self._event: trio.Event | None = None

    def mark(self, before: ServerState, after: ServerState) -> None:
        if self._pending is not None:
            self._pending = (self._pending[0], after)  # the earliest `before`, the latest `after`
            return
        self._pending = (before, after)
        if self._event is None:
            self._event = trio.Event()
            trio.lowlevel.spawn_system_task(self._run, name="originchats.channel_pushes")
        self._event.set()

    async def _run(self) -> None:
        while True:
            assert self._event is not None
            await self._event.wait()
            self._event = trio.Event()
            # one more tick: the changes committed with this one are marked meanwhile
            await trio.lowlevel.cancel_shielded_checkpoint()
            pending, self._pending = self._pending, None
            if pending is None:
                continue
            try:
                self._flush(*pending)
            except Exception:  # a bug here must not end the server (this is a system task)
                log.exception("channel_pushes_failed")
