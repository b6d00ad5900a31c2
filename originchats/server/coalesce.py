"""Per-tick coalescing of the `channels_get` pushes (the core's `ChannelsChanged` effect).

Each channel change used to send every affected socket the whole channel list at once: an admin
sending a burst of `channel_update`s made every socket receive one full list per update. Here a
committed change only marks the lists dirty, remembering the state before the tick's first change
and after its last; one scheduler tick later (so every change committed in the same go is in),
the hub computes the pushes once: each socket whose visible list differs gets one list.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.state import ServerState
from .tick import OncePerTick


class ChannelPushes:
    def __init__(self, flush: Callable[[ServerState, ServerState], None]) -> None:
        self._flush = flush  # called with the states before the tick's first and after its last change
        self._pending: tuple[ServerState, ServerState] | None = None
        self._tick = OncePerTick(self._run, "originchats.channel_pushes")

    def mark(self, before: ServerState, after: ServerState) -> None:
        # the earliest `before`, the latest `after`
        self._pending = (before if self._pending is None else self._pending[0], after)
        self._tick.arm()

    def _run(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self._flush(*pending)
