"""The lean socket path (server/fastsock.py) on a real TCP listener with the real `serve()`:
connections waiting in the backlog are all served, a peer whose data is always there does not
keep the event loop from the others, and a peer that goes away ends its connection quietly.

The flooding peer is a thread with a blocking socket (a task of the test's own event loop could
not keep the server's socket full); the threads wait for events with timeouts, never sleep."""

from __future__ import annotations

import base64
import os
import socket
import threading

import attrs
import trio

from originchats.config import NetworkSection
from originchats.server.app import serve
from tests.client import Client

UPGRADE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n")


def open_network(config):  # type: ignore[no-untyped-def]
    """Many connections from 127.0.0.1: no per-address limits (the defaults would refuse them)."""
    return attrs.evolve(config, network=NetworkSection(max_connections_per_ip=0, new_connections_per_second=0))


def upgrade_request() -> bytes:
    return UPGRADE % base64.b64encode(os.urandom(16))


async def start_tcp(nursery: trio.Nursery, config) -> tuple[tuple[str, int], trio.Event]:  # type: ignore[no-untyped-def]
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    stop = trio.Event()
    await nursery.start(lambda task_status: serve(config, listeners=listeners, stop=stop, task_status=task_status))
    return listeners[0].socket.getsockname()[:2], stop


def read_upgrade(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


async def test_a_backlog_of_connections_is_served_in_full(nursery, config):
    addr, stop = await start_tcp(nursery, open_network(config))

    def connect_many(n: int) -> list[bytes]:
        socks = [socket.create_connection(addr, timeout=10) for _ in range(n)]  # all queued first
        try:
            for s in socks:
                s.sendall(upgrade_request())
            return [read_upgrade(s) for s in socks]
        finally:
            for s in socks:
                s.close()

    heads = await trio.to_thread.run_sync(connect_many, 150)  # more than one accept batch
    assert all(h.startswith(b"HTTP/1.1 101 ") for h in heads)
    stop.set()


async def test_a_flooding_peer_does_not_starve_another_connection(nursery, config):
    """A peer that keeps the server's receive buffer full (unsolicited pong frames, which need no
    answer) must not stop another connection from being accepted, upgraded and answered."""
    addr, stop = await start_tcp(nursery, open_network(config))
    done = threading.Event()
    flood = socket.create_connection(addr, timeout=10)
    flood.sendall(upgrade_request())
    assert (await trio.to_thread.run_sync(read_upgrade, flood)).startswith(b"HTTP/1.1 101 ")
    pongs = b"\x8a\x80\x00\x00\x00\x00" * 40_000  # masked, empty pong frames: 240 KB per write

    flooding = threading.Event()

    def flooder() -> int:
        sent = 0
        try:
            while not done.is_set() and sent < 2_000_000_000:
                sent += flood.send(pongs)
                if sent > 4_000_000:  # the server has been reading a full buffer for a while
                    flooding.set()
        except OSError:
            pass
        finally:
            flooding.set()
        return sent

    def other() -> bytes:
        flooding.wait(30)
        try:
            with socket.create_connection(addr, timeout=10) as s:
                s.sendall(upgrade_request())
                return read_upgrade(s)
        except OSError as exc:
            return repr(exc).encode()
        finally:
            done.set()

    async with trio.open_nursery() as inner:
        inner.start_soon(trio.to_thread.run_sync, flooder)
        head = await trio.to_thread.run_sync(other)
    flood.close()
    assert head.startswith(b"HTTP/1.1 101 "), head
    stop.set()


async def test_a_peer_that_resets_ends_only_its_connection(nursery, config):
    addr, stop = await start_tcp(nursery, config)
    gone = socket.create_connection(addr)
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    gone.sendall(upgrade_request())
    assert (await trio.to_thread.run_sync(read_upgrade, gone)).startswith(b"HTTP/1.1 101 ")
    gone.close()
    client = Client(await trio.open_tcp_stream(*addr))
    await client.open(nursery)
    await client.expect("handshake")
    await client.send("register", username="stays", password="pass1234")
    await client.expect("auth_success")
    stop.set()
    assert await client.wait_closed() == 1001
    await client.stream.aclose()
