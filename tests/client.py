"""A protocol test client: a WebSocket client (wsproto) over any trio stream.

A background task reads every frame, answers WebSocket pings, and queues packets, so a test that is
busy elsewhere never looks like a dead peer. `expect(cmd)` is strict: the *next* packet must be
`cmd` (heartbeat `{"cmd":"ping"}` packets are skipped unless `heartbeats=True`).
"""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, RejectConnection, Request, TextMessage


class _Threads:
    """Counts worker threads started through `trio.to_thread.run_sync` (argon2, SQLite commits and
    reads). `wait_all_tasks_blocked` returns while such a thread runs, because every task is then
    blocked waiting for it; `settle()` also waits for the threads. Installed by conftest."""

    busy = 0
    idle: trio.Event | None = None
    original: Any = staticmethod(trio.to_thread.run_sync)  # for test-side threads, not counted

    @classmethod
    def install(cls, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        original = cls.original = trio.to_thread.run_sync
        cls.busy = 0
        cls.idle = None

        async def run_sync(*args: Any, **kwargs: Any) -> Any:
            cls.busy += 1
            try:
                return await original(*args, **kwargs)
            finally:
                cls.busy -= 1
                if not cls.busy and cls.idle is not None:
                    cls.idle.set()
                    cls.idle = None

        monkeypatch.setattr(trio.to_thread, "run_sync", run_sync)


async def settle() -> None:
    """Until every task is blocked, no worker thread is running and no background work (a push, a
    plugin callback) waits for the server to be idle (server/idle.py)."""
    from originchats.cluster.redis_link import ACTIVITY
    from originchats.server.idle import POLL, IdleGate

    while True:
        passed = IdleGate.passed
        await trio.testing.wait_all_tasks_blocked()
        await trio.lowlevel.checkpoint()  # a piece woken at the gate with us takes its first step
        if IdleGate.passed != passed:  # background work began: look again
            continue
        if IdleGate.waiting:  # still waiting, for something else than idleness (the writer to finish
            await trio.sleep(POLL)  # a commit): let time pass, or a mock clock would never move
            continue
        if ACTIVITY.busy():  # an answer from Redis is on its way (a cluster topology)
            await trio.sleep(POLL)
            continue
        if not _Threads.busy:
            return
        if _Threads.idle is None:
            _Threads.idle = trio.Event()
        await _Threads.idle.wait()


class Closed(Exception):
    def __init__(self, code: int | None, reason: str | None = None) -> None:
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


class Client:
    def __init__(self, stream: trio.abc.Stream, *, heartbeats: bool = False, unreads: bool = False,
                 extensions: list[Any] | None = None) -> None:
        self.stream = stream
        self.extensions = extensions or []  # offered in the upgrade (wsproto's PerMessageDeflate, say)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.heartbeats = heartbeats
        # `unreads_update` pushes (each messages_get that reaches the newest message sends one to
        # all of the reader's sockets) are set aside in `unreads_updates` unless `unreads` is set:
        # most tests are about something else. tests/test_unreads.py reads them in line.
        self.unreads = unreads
        self.unreads_updates: list[dict[str, Any]] = []
        self._send, self._recv = trio.open_memory_channel[Any](10_000)
        self.close_code: int | None = None
        self.closed = trio.Event()
        self._parts: list[str] = []
        self.username: str | None = None

    async def open(self, nursery: trio.Nursery, extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """The upgrade (with `extra_headers`, e.g. X-Forwarded-For); `Closed("rejected 429")` if refused."""
        await self.stream.send_all(self.ws.send(Request(host="localhost", target="/", extra_headers=extra_headers or [],
                                                          extensions=self.extensions)))
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                raise Closed(None, "no handshake")
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    nursery.start_soon(self._reader)
                    return
                if isinstance(event, RejectConnection):
                    raise Closed(None, f"rejected {event.status_code}")

    async def _reader(self) -> None:
        try:
            while True:
                for event in self.ws.events():
                    if isinstance(event, TextMessage):
                        self._parts.append(event.data)
                        if event.message_finished:
                            text, self._parts = "".join(self._parts), []
                            self._send.send_nowait(json.loads(text))
                    elif isinstance(event, BytesMessage):
                        pass
                    elif isinstance(event, Ping):
                        try:
                            await self.stream.send_all(self.ws.send(event.response()))
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            pass  # the server closed meanwhile: its close frame may be next in line
                    elif isinstance(event, CloseConnection):
                        self.close_code = event.code
                        try:
                            await self.stream.send_all(self.ws.send(event.response()))
                        except (trio.BrokenResourceError, trio.ClosedResourceError, Exception):
                            pass
                        return
                data = await self.stream.receive_some(65536)
                if not data:
                    return
                self.ws.receive_data(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed.set()
            self._send.close()

    async def send_raw(self, text: str) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.stream.send_all(self.ws.send(BytesMessage(data=data)))

    async def send(self, cmd: str | None = None, **fields: Any) -> None:
        packet = dict(fields) if cmd is None else {"cmd": cmd, **fields}
        await self.send_raw(json.dumps(packet))

    async def recv(self) -> dict[str, Any]:
        while True:
            try:
                with trio.fail_after(10):
                    packet = await self._recv.receive()
            except trio.EndOfChannel:
                raise Closed(self.close_code) from None
            if self._aside(packet):
                continue
            return packet

    def _aside(self, packet: dict[str, Any]) -> bool:
        """A background packet this client does not show (see `heartbeats`, `unreads`)."""
        if packet.get("cmd") == "ping" and not self.heartbeats:
            return True
        if packet.get("cmd") == "unreads_update" and not self.unreads:
            self.unreads_updates.append(packet)
            return True
        return False

    async def expect(self, cmd: str, **fields: Any) -> dict[str, Any]:
        packet = await self.recv()
        assert packet.get("cmd") == cmd, f"expected {cmd}, got {packet}"
        for key, value in fields.items():
            assert packet.get(key) == value, f"{key}: expected {value!r}, got {packet}"
        return packet

    async def expect_error(self, val: str, src: str | None = "__any__", **fields: Any) -> dict[str, Any]:
        packet = await self.expect("error", val=val, **fields)
        if src is None:
            assert "src" not in packet, packet
        elif src != "__any__":
            assert packet.get("src") == src, packet
        return packet

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send and return the next packet (any cmd)."""
        await self.send(cmd, **fields)
        return await self.recv()

    async def assert_silent(self) -> None:
        """Nothing more has arrived once every task is blocked and no worker thread runs."""
        await settle()
        try:
            packet = self._recv.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return
        if self._aside(packet):
            return await self.assert_silent()
        raise AssertionError(f"unexpected packet {packet}")

    async def drain(self) -> list[dict[str, Any]]:
        """Everything queued once every task is blocked and no worker thread runs."""
        await settle()
        out = []
        while True:
            try:
                packet = self._recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return out
            if not self._aside(packet):
                out.append(packet)

    async def wait_closed(self) -> int | None:
        with trio.fail_after(10):
            await self.closed.wait()
        return self.close_code

    async def close(self, code: int = 1000) -> None:
        try:
            await self.stream.send_all(self.ws.send(CloseConnection(code=code)))
        except Exception:
            pass
        await self.wait_closed()


async def sign_in(client: Client, name: str, password: str) -> Client:
    """Register `name` (or log in when it is taken); reads through `ready` and keeps it on the client."""
    await client.send("register", username=name, password=password)
    first = await client.recv()
    if first == {"cmd": "auth_error", "val": "Username already taken"}:
        await client.send("login", username=name, password=password)
        first = await client.recv()
    assert first["cmd"] == "auth_success", first
    ready = await client.expect("ready")
    client.username = ready["user"]["username"]
    client.ready = ready
    return client


async def until_reply(client: Client, listener: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Packets up to the caller's reply (the one echoing `listener`), and the reply."""
    before = []
    while True:
        packet = await client.recv()
        if packet.get("listener") == listener:
            return before, packet
        before.append(packet)


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """An in-memory listener: `connect()` hands the server one end of a memory stream pair."""

    def __init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel[trio.abc.Stream](100)

    async def connect(self, ip: str = "local") -> trio.abc.Stream:
        """A new in-memory connection; the server sees it as coming from `ip`."""
        client, server = trio.testing.memory_stream_pair()
        server.peer_ip = ip  # type: ignore[attr-defined]  (read by connection.peer_ip)
        await self._send.send(server)
        return client

    async def hand(self, server_end: trio.abc.Stream) -> None:
        """Give the server the server end of a stream pair the test made (any stream kind)."""
        await self._send.send(server_end)

    async def accept(self) -> trio.abc.Stream:
        try:
            return await self._recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio.ClosedResourceError from None

    async def aclose(self) -> None:
        self._recv.close()
        await trio.lowlevel.checkpoint()
