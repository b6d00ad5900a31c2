"""The cluster topology for the protocol tests: a real `redis-server` (one per test session, owned by
the `redis_url` fixture), a core, and two gateways, all three the real `serve()` in this trio run.

`ClusterServer` has the interface of conftest.py's `Server`: `connect()` alternates between the two
gateways (so the clients of a test talk to each other across gateways), `hub` is the core's, and
`admin()` reaches the core's admin socket. The gateways send plain HTTP requests to an in-memory
listener of the core (in production: a TCP connection to the address the core advertises).

A test that needs Redis fails with a clear message when `redis-server` cannot be started; it is
never skipped (scripts/test installs Debian's redis-server when it is missing).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from bench.cluster import RedisServer
from bench.server import free_port  # noqa: F401  (tests/test_cluster_failures.py takes it from here)
from originchats.config import Config

_prefixes = itertools.count(1)


class RedisProcess(RedisServer):
    """bench/cluster.py's `RedisServer` (a random loopback port, no persistence), unpinned, failing
    the test with a clear message when it cannot start; `restart()` kills it and starts a new one on
    the same port (what a Redis restart looks like to the cluster: its data is gone)."""

    def __init__(self, workdir: Path) -> None:
        try:
            super().__init__(workdir)
        except RuntimeError as exc:  # not installed
            pytest.fail(f"{exc} (scripts/test installs it when run as root)", pytrace=False)

    def start(self, timeout: float = 10.0, pinned: bool = False) -> None:
        try:
            super().start(timeout, pinned=False)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)

    def restart(self) -> None:
        self.stop()
        self.start()


class RoundRobin:
    """The listener the tests connect through: each `connect()` goes to the next gateway."""

    def __init__(self, listeners: list[Any]) -> None:
        self.listeners = listeners
        self._turn = itertools.cycle(range(len(listeners)))

    def pin(self, index: int | None) -> None:
        """Send every connection to gateway `index` (None: alternate again)."""
        self._turn = itertools.cycle(range(len(self.listeners)) if index is None else (index,))

    async def connect(self, ip: str = "local") -> trio.abc.Stream:
        return await self.listeners[next(self._turn)].connect(ip)

    async def hand(self, server_end: trio.abc.Stream) -> None:
        await self.listeners[next(self._turn)].hand(server_end)


#: The beats of the protocol tests' cluster. A test that lets a mock clock run for a day would cost
#: 86,400 rounds of Redis requests with the default one-second beat (minutes of real time), and
#: these tests are about the protocol across gateways, not about liveness: tests/test_cluster_failures.py
#: checks the beats, in real time, with the default and shorter ones.
TEST_BEAT, TEST_DEAD_AFTER = 600.0, 1800.0


def role_config(config: Config, role: str, redis_url: str, prefix: str, **cluster: Any) -> Config:
    cluster.setdefault("beat_seconds", TEST_BEAT)
    cluster.setdefault("dead_after_seconds", TEST_DEAD_AFTER)
    section = attrs.evolve(config.cluster, role=role, redis=redis_url, prefix=prefix, **cluster)
    if role == "core":  # the gateways' HTTP requests come from loopback, with the client's address
        network = attrs.evolve(config.network, trusted_proxies=[*config.network.trusted_proxies, "127.0.0.1"])
        return attrs.evolve(config, cluster=section, network=network)
    data = Path(config.storage.data_dir).parent / f"gateway-{cluster.get('name', 'gw')}"
    return attrs.evolve(config, cluster=section, storage=attrs.evolve(config.storage, data_dir=str(data)))


@attrs.define
class Role:
    config: Config
    listeners: list[Any]
    stop: trio.Event = attrs.Factory(trio.Event)
    stopped: trio.Event = attrs.Factory(trio.Event)
    hub: Any = None

    async def start(self, nursery: trio.Nursery) -> None:
        from originchats.server.app import serve

        async def run(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await serve(self.config, listeners=self.listeners, stop=self.stop, task_status=task_status)
            finally:
                self.stopped.set()

        self.hub = await nursery.start(run)

    async def shutdown(self) -> None:
        self.stop.set()
        with trio.fail_after(30):
            await self.stopped.wait()


async def wait_ready(gateway_hub: Any, timeout: float = 30.0) -> None:
    """Until the gateway works with a core (its first look at the core's beat)."""
    with trio.fail_after(timeout):  # no time passes meanwhile (tests count intervals from their start)
        await gateway_hub.node.found.wait()


def unique_prefix() -> str:
    return f"t{os.getpid()}.{next(_prefixes)}:"


async def hold_while_redis_busy(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Stay runnable while an answer from Redis is on its way (cluster/redis_link.py `ACTIVITY`), so
    that `trio.testing.wait_all_tasks_blocked()`, which the tests use to let the server finish what
    a request started, waits for the Redis hops too, as it waits for the server's own tasks."""
    from originchats.cluster.redis_link import ACTIVITY

    wake = trio.Event()

    def changed(busy: bool) -> None:
        if busy:
            wake.set()

    ACTIVITY.pending.clear()
    ACTIVITY.watchers.append(changed)
    task_status.started()
    try:
        while True:
            await wake.wait()
            wake = trio.Event()
            while ACTIVITY.busy():
                await trio.lowlevel.cancel_shielded_checkpoint()
    finally:
        ACTIVITY.watchers.remove(changed)
