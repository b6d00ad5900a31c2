"""The real `serve()` on a loopback TCP port, for the tests that need a real socket (a browser, a
WebSocket library, an HTTP client): `async with serving(nursery, config) as (host, port, stop):`
starts it; leaving the block stops it and waits until it has stopped. `stop.set()` inside the
block stops it earlier (the block still waits for the end)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from originchats.server.app import serve


@asynccontextmanager
async def serving(nursery: trio.Nursery, config: Any, timeout: float = 30) -> AsyncIterator[tuple[str, int, trio.Event]]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    stop, stopped = trio.Event(), trio.Event()

    async def run(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve(config, listeners=listeners, stop=stop, task_status=task_status)
        finally:
            stopped.set()

    await nursery.start(run)
    host, port = listeners[0].socket.getsockname()[:2]
    try:
        yield host, port, stop
    finally:
        stop.set()
        with trio.fail_after(timeout):
            await stopped.wait()
