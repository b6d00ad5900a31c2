"""Fixtures: the real `serve()` over an in-memory listener, and protocol clients.

`server` starts a fresh server on a data directory under tmp_path. `server.connect()` returns a
client that already read the handshake (in `client.handshake`); `server.user(name)` registers
(or logs in) a cracked user and drains the auth packets; `server.owner(name)` does the same and
grants the owner role through the operator path.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from originchats.config import (AuthSection, Config, CrackedSection, HeartbeatSection, RateLimitingSection, StorageSection,
                                WelcomeSection)
from originchats.server.app import serve
from tests.client import Client, MemoryListener, _Threads, sign_in
from tests.clock import autojump_clock  # noqa: F401  (thread-aware; replaces pytest-trio's fixture)
from tests.cluster import (TEST_BEAT, TEST_DEAD_AFTER, RedisProcess, Role, RoundRobin, hold_while_redis_busy,
                           role_config, unique_prefix, wait_ready)

#: the topologies every test of the `server` fixture runs against: the whole server in one process,
#: and a core with two gateways talking through a real Redis (tests/cluster.py). ORIGINCHATS_TOPOLOGIES
#: ("all", "core+2gw" or both, comma-separated) narrows it when working on one.
TOPOLOGIES = [t for t in os.environ.get("ORIGINCHATS_TOPOLOGIES", "all,core+2gw").split(",") if t]


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    config = Config(
        auth_mode="cracked",
        storage=StorageSection(data_dir=str(tmp_path / "data"), synchronous="normal"),
        cracked=CrackedSection(argon2_memory_kib=64, argon2_time_cost=1),
        rate_limiting=RateLimitingSection(enabled=False),
        heartbeat=HeartbeatSection(interval_seconds=30),
        # every test client connects from the same address, and many tests register more accounts
        # than an address may per hour; tests/test_auth_limits.py checks that limit
        auth=AuthSection(registrations_per_ip_per_hour=0),
        # the welcome message (on by default) would add a message to `general` and a packet after
        # each registration; tests/test_welcome.py turns it on
        welcome=WelcomeSection(enabled=False),
    )
    return attrs.evolve(config, **overrides)


@attrs.define
class Server:
    nursery: trio.Nursery
    config: Config
    listener: MemoryListener = attrs.Factory(MemoryListener)
    stop: trio.Event = attrs.Factory(trio.Event)
    stopped: trio.Event = attrs.Factory(trio.Event)
    hub: Any = None  # the running server's Hub (for tests that compare its state)

    async def start(self) -> None:
        async def run(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await serve(self.config, listeners=[self.listener], stop=self.stop, task_status=task_status)
            finally:
                self.stopped.set()

        self.hub = await self.nursery.start(run)

    async def shutdown(self) -> None:
        self.stop.set()
        with trio.fail_after(30):
            await self.stopped.wait()

    async def restart(self) -> None:
        await self.shutdown()
        self.listener = MemoryListener()
        self.stop = trio.Event()
        self.stopped = trio.Event()
        await self.start()

    async def connect(self, ip: str = "local", extra_headers: list[tuple[bytes, bytes]] | None = None,
                      **kwargs: Any) -> Client:
        client = Client(await self.listener.connect(ip), **kwargs)
        await client.open(self.nursery, extra_headers)
        client.handshake = await client.expect("handshake")
        return client

    async def user(self, name: str, password: str = "pass1234", **kwargs: Any) -> Client:
        """A connected, authenticated cracked user (registered on first use)."""
        client = await self.connect(**kwargs)
        await sign_in(client, name, password)
        await client.drain()
        return client

    async def owner(self, name: str = "boss", **kwargs: Any) -> Client:
        client = await self.user(name, **kwargs)
        await self.admin({"cmd": "grant-owner", "user": client.username})
        await client.drain()
        return client

    async def admin(self, request: dict[str, Any]) -> dict[str, Any]:
        """An operator command through the running server's admin socket, as the CLI sends it."""
        from originchats.admin import send_to_server
        from originchats.datadir import socket_path

        answer = await trio.to_thread.run_sync(send_to_server, socket_path(self.config.storage.data_dir), request)
        assert answer is not None, "no admin socket"
        return answer


@attrs.define
class ClusterServer(Server):
    """`Server` as a core and two gateways (tests/cluster.py): `connect()` alternates gateways."""

    redis_url: str = ""
    prefix: str = attrs.Factory(unique_prefix)
    roles: list[Role] = attrs.Factory(list)
    gateways: list[Role] = attrs.Factory(list)
    beats: tuple[float, float] = (TEST_BEAT, TEST_DEAD_AFTER)  # beat_seconds, dead_after_seconds

    async def start(self) -> None:
        await self.nursery.start(hold_while_redis_busy)
        core_listener = MemoryListener()  # the gateways' HTTP requests come in here
        beat, dead_after = self.beats
        core = Role(role_config(self.config, "core", self.redis_url, self.prefix, beat_seconds=beat,
                                dead_after_seconds=dead_after), [core_listener])
        await core.start(self.nursery)
        with trio.fail_after(30):  # no time passes meanwhile (tests count intervals from their start)
            await core.hub.cluster.announced.wait()
        gateways = [Role(role_config(self.config, "gateway", self.redis_url, self.prefix, name=f"gw{i}",
                                     beat_seconds=beat, dead_after_seconds=dead_after),
                         [MemoryListener()]) for i in (1, 2)]
        for gateway in gateways:
            await gateway.start(self.nursery)
        for gateway in gateways:
            await wait_ready(gateway.hub)
            gateway.hub.node.core_http_connector = partial(core_listener.connect, "127.0.0.1")
        self.roles = [core, *gateways]
        self.hub = core.hub
        self.listener = RoundRobin([g.listeners[0] for g in gateways])  # type: ignore[assignment]
        self.gateways = gateways

    async def admin(self, request: dict[str, Any]) -> dict[str, Any]:
        from tests.client import settle

        await settle()  # what the gateways saw (a socket closed, say) has reached the core
        return await super().admin(request)

    async def shutdown(self) -> None:
        for role in reversed(self.roles):
            await role.shutdown()
        self.stopped.set()

    async def restart(self) -> None:
        await self.shutdown()
        self.stopped = trio.Event()
        await self.start()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real redis-server for the session (tests/cluster.py); fails clearly when there is none."""
    redis = RedisProcess(tmp_path_factory.mktemp("redis"))
    redis.start()
    yield redis.url
    redis.stop()


@pytest.fixture(autouse=True)
def _count_worker_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    _Threads.install(monkeypatch)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture(params=TOPOLOGIES)
async def server(nursery: trio.Nursery, config: Config, request: pytest.FixtureRequest) -> Server:
    if request.param == "all":
        srv = Server(nursery=nursery, config=config)
    else:
        srv = ClusterServer(nursery=nursery, config=config, redis_url=request.getfixturevalue("redis_url"))
    await srv.start()
    if request.param != "all" and request.node.get_closest_marker("one_gateway"):
        srv.listener.pin(0)
    yield srv
    if not srv.stopped.is_set():
        await srv.shutdown()


@pytest.fixture
async def make_server(nursery: trio.Nursery, tmp_path: Path):
    """Extra servers with their own configuration, each on its own data directory."""
    servers: list[Server] = []

    async def make(**overrides: Any) -> Server:
        srv = Server(nursery=nursery, config=make_config(tmp_path / f"extra{len(servers)}", **overrides))
        await srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        if not srv.stopped.is_set():
            await srv.shutdown()
