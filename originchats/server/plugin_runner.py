"""Running a plugin's callbacks: each plugin has its own task, which takes its queued events
(server/plugins.py `PluginHost.emit` queues them), waits until the server is idle
(server/idle.py), and runs them.

* An `async def` callback runs in the task under `trio.move_on_after(deadline)`.
* Plain `def` callbacks run in a worker thread (one per plugin at most: its `CapacityLimiter(1)`),
  and the events waiting when the task wakes (up to `BATCH`) go to that thread in ONE trip: a
  trip to a thread and back costs the server's thread more than a small callback does, so a busy
  server pays it once per batch, not once per event. Each callback still has its deadline: the
  task watches the thread's progress, and a callback that has run for a whole deadline (it may
  have started up to a deadline before the watch looked: so between 1 and 2 deadlines) gets its
  thread abandoned; the batch's events after it are dropped and counted. The abandoned thread
  keeps the plugin's slot until the callback returns, so a hung plugin holds one thread, never
  more, and its later events time out and drop.
* Exceptions are logged (type and place, never the text, which may quote a message) and
  swallowed: the crash barrier.
"""

from __future__ import annotations

import inspect
import itertools
import json
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import trio

if TYPE_CHECKING:
    from .plugins import Plugin, PluginHost

log = structlog.get_logger("originchats.plugins")

#: the most queued events one trip to a plugin's thread takes
BATCH = 64

Item = tuple[str, str, int]  # (event, its data as JSON, depth)


def where(exc: BaseException) -> str:
    """`file:line` of the innermost frame (the exception's text may quote a message: not logged)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"


async def work(host: PluginHost, plugin: Plugin) -> None:
    """The plugin's task: until it is stopped, run its events in order."""
    assert host.hub is not None
    idle = host.hub.idle
    settings = host.settings
    with plugin.scope:
        async with plugin.receive:
            async for first in plugin.receive:
                batch = [first]
                while len(batch) < BATCH:
                    try:
                        batch.append(plugin.receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await idle.wait(settings.max_lag_seconds)  # after the broadcasts
                # in order: runs of `async def` callbacks in this task, runs of `def` ones in one trip
                for in_task, run in itertools.groupby(
                        batch, key=lambda item: inspect.iscoroutinefunction(plugin.handlers[item[0]])):
                    if in_task:
                        for item in run:
                            await _call_async(plugin, item, settings.deadline_seconds)
                    else:
                        await _call_sync(plugin, list(run), settings.deadline_seconds)


async def _call_async(plugin: Plugin, item: Item, deadline: float) -> None:
    event, text, depth = item
    plugin.depth = depth
    with trio.move_on_after(deadline) as scope:
        try:
            await plugin.handlers[event](plugin.api, json.loads(text))
        except (Exception, SystemExit) as exc:  # the crash barrier
            _failed(plugin, event, exc)
    if scope.cancelled_caught:
        log.warning("plugin_deadline", plugin=plugin.name, on=event, deadline_seconds=deadline)


class _Trip:
    """One trip's events, and how far the thread got (written by the thread only)."""

    __slots__ = ("items", "started", "stop")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.started = 0  # callbacks begun
        self.stop = False  # set by the task when it gives the trip up


def _run_trip(plugin: Plugin, trip: _Trip) -> None:
    """In the plugin's thread: its callbacks, one after the other, each with its own barrier."""
    for event, text, depth in trip.items:
        if trip.stop:
            return
        trip.started += 1
        plugin.depth = depth
        try:
            plugin.handlers[event](plugin.thread_api, json.loads(text))
        except (Exception, SystemExit) as exc:  # the crash barrier
            _failed(plugin, event, exc)


async def _call_sync(plugin: Plugin, items: list[Item], deadline: float) -> None:
    trip = _Trip(items)
    finished = trio.Event()

    async def run(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            try:
                await trio.to_thread.run_sync(_run_trip, plugin, trip, abandon_on_cancel=True,
                                              limiter=plugin.limiter)
            finally:
                finished.set()

    async with trio.open_nursery() as nursery:
        scope = await nursery.start(run)
        while not finished.is_set():
            seen = trip.started
            with trio.move_on_after(deadline):
                await finished.wait()
            if finished.is_set() or trip.started != seen:
                continue  # done, or a later callback has begun: it gets a deadline of its own
            trip.stop = True
            scope.cancel()  # the thread is abandoned; it stops after the callback that hangs
            lost = len(items) - max(trip.started, 1)
            plugin.dropped += lost
            log.warning("plugin_deadline", plugin=plugin.name, on=items[max(trip.started, 1) - 1][0],
                        deadline_seconds=deadline, dropped=lost)
            return


def _failed(plugin: Plugin, event: str, exc: BaseException) -> None:
    log.warning("plugin_failed", plugin=plugin.name, on=event, error=type(exc).__name__, at=where(exc))

