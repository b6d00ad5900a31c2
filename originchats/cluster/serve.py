"""Starting the cluster roles: `serve_gateway` runs a gateway process; `core_node` builds the link a
core runs beside the usual server (server/app.py `serve` picks by `cluster.role`)."""

from __future__ import annotations

import socket
from functools import partial
from typing import Any

import structlog
import trio

from ..config import Config
from .core import CoreNode
from .gateway import GatewayNode
from .redis_link import Link

log = structlog.get_logger("originchats.cluster")
FLUSH_GRACE = 1.0  # a stopping gateway's last batches (its closed connections) get this long


def gateway_name(config: Config) -> str:
    return config.cluster.name or f"{socket.gethostname()}:{config.listen.port}"


def core_node(config: Config, hub: Any) -> CoreNode:
    c = config.cluster
    return CoreNode(hub=hub, link=Link(c.redis, "originchats-core"), prefix=c.prefix.encode(),
                    advertise=c.advertise or f"127.0.0.1:{config.listen.port}", beat=c.beat_seconds,
                    dead_after=c.dead_after_seconds)


def gateway_node(config: Config) -> GatewayNode:
    c = config.cluster
    name = gateway_name(config)
    return GatewayNode(link=Link(c.redis, f"originchats-gateway-{name}"), prefix=c.prefix.encode(), name=name,
                       window=c.window, beat=c.beat_seconds, dead_after=c.dead_after_seconds)


async def serve_gateway(config: Config, *, listeners: list[trio.abc.Listener] | None, stop: trio.Event,
                        tls: Any, task_status: trio.TaskStatus[Any]) -> None:
    """A gateway until `stop` is set; `task_status.started(hub)` once it accepts connections (it
    accepts them while the core is away too, and closes them with 1013)."""
    from ..server.app import close_connections, guards_from
    from ..server.connection import serve_connection
    from ..server.guard import serve_listeners
    from ..server.timers import flush_log_samplers, heartbeat

    node = gateway_node(config)
    hub = node.hub
    guards = guards_from(config)
    guards.tls = tls
    if listeners is None:
        listeners = await trio.open_tcp_listeners(config.listen.port, host=config.listen.host)
    async with trio.open_nursery() as conns:
        await conns.start(node.run)
        handler = partial(serve_connection, hub=hub, guards=guards, tasks=conns)
        async with trio.open_nursery() as services:
            services.start_soon(guards.logins.run)
            services.start_soon(heartbeat, hub, config.heartbeat.interval_seconds)
            services.start_soon(flush_log_samplers, guards.samplers())
            await services.start(partial(serve_listeners, handler, listeners, handler_nursery=conns))
            for lst in listeners:
                sock = getattr(lst, "socket", None)
                if sock is not None:
                    log.info("listening", address=str(sock.getsockname()), role="gateway", gateway=node.name)
            task_status.started(hub)
            await stop.wait()
            log.info("shutdown_started", connections=len(hub.sockets))
            services.cancel_scope.cancel()
        await close_connections(hub, listeners)
        with trio.move_on_after(FLUSH_GRACE):  # the core hears of the closed connections
            while node.link.up and (node.unsent or node.batch.records):
                await trio.sleep(0.01)
        conns.cancel_scope.cancel()
