"""The WebSocket layer (server/ws.py over h11 + wsproto): handshake, framing, ping/pong, close, size
limit, binary, UTF-8, and the slow-reader policy. First at the unit level over memory streams, then
through the real server."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import h11
import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Event, Ping, Pong, Request,
                            TextMessage)

from originchats.server import connection as connection_mod
from originchats.server import ws as ws_mod
from originchats.server import ws_send
from originchats.server.ws import MessageTooBig, WebSocket, accept_key, upgrade_response
from tests.client import Client, MemoryListener
from tests.conftest import Server, make_config
from tests.test_http import HttpClient


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, key: bytes = b"\x11\x22\x33\x44") -> bytes:
    """One client frame built by hand (for what wsproto refuses to send: bad UTF-8, no mask).
    A zero `key` masks nothing, which is quick for big payloads."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n, m = len(payload), (0x80 if mask else 0)
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if mask:
        head += key
        if key != bytes(4):
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


TEXT, BINARY, CONT = 0x1, 0x2, 0x0


class Peer:
    """The client side: a wsproto connection that already did the opening handshake."""

    def __init__(self, stream: trio.abc.Stream, conn: Connection | WSConnection) -> None:
        self.stream = stream
        self.conn = conn
        self._events: deque[Event] = deque()
        self.username: str | None = None

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.conn.send(event))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def next_event(self) -> Event:
        with trio.fail_after(10):
            while not self._events:
                data = await self.stream.receive_some(65536)
                self.conn.receive_data(data or None)
                self._events.extend(self.conn.events())
        return self._events.popleft()

    async def next_of(self, *kinds: type) -> Any:
        """The next event of one of `kinds`, skipping others (e.g. heartbeat frames)."""
        while True:
            event = await self.next_event()
            if isinstance(event, kinds):
                return event

    async def packet(self) -> dict[str, Any]:
        """The next complete text message, decoded (heartbeat `ping` packets skipped)."""
        parts = []
        while True:
            event = await self.next_of(TextMessage, CloseConnection)
            assert isinstance(event, TextMessage), f"closed: {event}"
            parts.append(event.data)
            if event.message_finished:
                packet = json.loads("".join(parts))
                parts = []
                if packet != {"cmd": "ping"}:
                    return packet

    async def send_json(self, **packet: Any) -> None:
        await self.send(TextMessage(data=json.dumps(packet)))

    async def closed_with(self) -> int:
        event = await self.next_of(CloseConnection)
        return event.code


# ---- unit level: WebSocket over a memory stream pair ----------------------------------------------


class Unit:
    """A server `WebSocket` driven by a read loop that records what it receives."""

    def __init__(self, nursery: trio.Nursery, max_message: int = 1024, pair: Any = None) -> None:
        client_stream, server_stream = (pair or trio.testing.memory_stream_pair)()
        self.ws = WebSocket(server_stream, max_message=max_message)
        self.peer = Peer(client_stream, Connection(ConnectionType.CLIENT))
        self.received: list[str] = []
        self.too_big = False
        self.ended = trio.Event()
        nursery.start_soon(self.ws.run_writer)
        nursery.start_soon(self._read)

    async def _read(self) -> None:
        try:
            while (text := await self.ws.receive()) is not None:
                self.received.append(text)
        except MessageTooBig:
            self.too_big = True
        finally:
            self.ended.set()

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()


def test_accept_key_matches_rfc_6455_example():
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


GOOD = [(b"Host", b"x"), (b"Upgrade", b"websocket"), (b"Connection", b"keep-alive, Upgrade"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"Sec-WebSocket-Version", b"13")]


def without(name: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in GOOD if k != name]


def test_upgrade_response_accepts_a_valid_request():
    resp = upgrade_response(h11.Request(method="GET", target="/", headers=GOOD))
    assert resp is not None and resp.status_code == 101
    assert dict(resp.headers)[b"sec-websocket-accept"] == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("method,headers", [
    ("POST", GOOD),
    ("GET", without(b"Upgrade")),
    ("GET", without(b"Sec-WebSocket-Key")),
    ("GET", without(b"Sec-WebSocket-Version")),
    ("GET", without(b"Sec-WebSocket-Version") + [(b"Sec-WebSocket-Version", b"8")]),
    ("GET", without(b"Sec-WebSocket-Key") + [(b"Sec-WebSocket-Key", b"short")]),
    ("GET", without(b"Connection") + [(b"Connection", b"keep-alive")]),
])
def test_upgrade_response_refuses_an_invalid_request(method, headers):
    assert upgrade_response(h11.Request(method=method, target="/", headers=headers)) is None


async def test_fragments_are_reassembled(nursery):
    u = Unit(nursery)
    await u.peer.send(TextMessage(data="hel", message_finished=False))
    await u.peer.send(TextMessage(data="lo ", message_finished=False))
    await u.peer.send(TextMessage(data="world", message_finished=True))
    # a UTF-8 character split across two frames
    await u.peer.send_raw(frame(TEXT, "é".encode()[:1], fin=False) + frame(CONT, "é".encode()[1:] + b"!"))
    await u.settle()
    assert u.received == ["hello world", "é!"]


async def test_ping_is_answered_with_pong_even_between_fragments(nursery):
    u = Unit(nursery)
    await u.peer.send(TextMessage(data="a", message_finished=False))
    await u.peer.send(Ping(payload=b"are you there"))
    assert await u.peer.next_event() == Pong(payload=b"are you there")
    await u.peer.send(TextMessage(data="b", message_finished=True))
    await u.settle()
    assert u.received == ["ab"]


@pytest.mark.parametrize("code", [1000, 1001, 4321])
async def test_client_close_is_answered_with_the_same_code(nursery, code):
    u = Unit(nursery)
    await u.peer.send(CloseConnection(code=code, reason="bye"))
    answer = await u.peer.next_event()
    assert isinstance(answer, CloseConnection) and answer.code == code
    await u.ended.wait()
    assert u.ws.close_code == code


async def test_message_at_the_limit_passes_one_byte_over_closes_1009(nursery):
    u = Unit(nursery, max_message=1024)
    await u.peer.send(TextMessage(data="x" * 1024))
    await u.settle()
    assert u.received == ["x" * 1024]
    await u.peer.send(TextMessage(data="é" * 513))  # 1026 bytes, 513 characters
    assert await u.peer.closed_with() == 1009
    assert u.too_big


async def test_fragmented_message_over_the_limit_closes_1009(nursery):
    u = Unit(nursery, max_message=1024)
    for _ in range(3):  # 3 x 400 bytes: every frame is small, the message is not
        await u.peer.send(TextMessage(data="y" * 400, message_finished=False))
    assert await u.peer.closed_with() == 1009
    assert u.too_big and u.received == []


async def test_binary_messages_are_ignored_and_the_connection_kept(nursery):
    u = Unit(nursery)
    await u.peer.send(BytesMessage(data=b"\x00\x01binary"))
    await u.peer.send(BytesMessage(data=b"part", message_finished=False))
    await u.peer.send(BytesMessage(data=b"rest", message_finished=True))
    await u.peer.send(TextMessage(data="still here"))
    await u.settle()
    assert u.received == ["still here"]
    assert not u.ws.closing


async def test_invalid_utf8_closes_1007(nursery):
    u = Unit(nursery)
    await u.peer.send_raw(frame(TEXT, b"ok \xff\xfe"))
    assert await u.peer.closed_with() == 1007
    assert u.received == []


async def test_invalid_utf8_across_fragments_closes_1007(nursery):
    u = Unit(nursery)
    await u.peer.send_raw(frame(TEXT, b"\xe2\x82", fin=False) + frame(CONT, b"(x"))  # broken 3-byte sequence
    assert await u.peer.closed_with() == 1007


async def test_unmasked_client_frame_closes_1002(nursery):
    u = Unit(nursery)
    await u.peer.send_raw(frame(TEXT, b"hi", mask=False))
    assert await u.peer.closed_with() == 1002


CLOSE = 0x8


@pytest.mark.parametrize("data,code", [
    (frame(CONT, b"x"), 1002),  # a continuation of nothing
    (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), 1002),  # a new message inside a fragmented one
    (frame(CLOSE, b"\x03"), 1002),  # a close payload of one byte
    (frame(CLOSE, (999).to_bytes(2, "big")), 1002),  # not a close code
    (frame(CLOSE, (1004).to_bytes(2, "big")), 1002),  # reserved
    (frame(CLOSE, (1006).to_bytes(2, "big")), 1002),  # only ever meant locally
    (frame(CLOSE, (1000).to_bytes(2, "big") + b"\xff"), 1007),  # a reason that is not UTF-8
    (frame(CLOSE, b""), 1005),  # no code: the answer has none either
])
async def test_protocol_errors_and_close_frames(nursery, data, code):
    u = Unit(nursery)
    await u.peer.send_raw(data)
    assert await u.peer.closed_with() == code
    await u.ended.wait()
    assert u.received == []


async def test_a_message_split_across_reads_is_decoded_once_complete(nursery):
    """Fragments and partial frames are held as bytes: a character split between two frames (or
    two reads) is whole in the message."""
    u = Unit(nursery, max_message=1 << 20)
    data = ("é" * 1000).encode()  # 2,000 bytes
    wire = frame(TEXT, data[:999], fin=False) + frame(CONT, data[999:])
    for i in range(0, len(wire), 7):  # seven bytes per read
        await u.peer.send_raw(wire[i:i + 7])
        await u.settle()
    assert u.received == ["é" * 1000]


async def test_outbox_overflow_closes_1008_without_blocking_the_pusher(nursery, monkeypatch):
    monkeypatch.setattr(ws_send, "MAX_OUTBOX_BYTES", 64 * 1024)
    # lockstep: the server's send_all waits until the peer reads, like a full TCP window
    u = Unit(nursery, pair=trio.testing.lockstep_stream_pair)
    chunk = ws_mod.encode_text("z" * 1000)
    for _ in range(200):  # ~200 KB for a peer that reads nothing: push never waits
        u.ws.push(chunk)
    assert u.ws.closing and u.ws.close_code == 1008
    # the peer reads again: what was queued before the overflow, then the close 1008
    texts = 0
    while True:
        event = await u.peer.next_event()
        if isinstance(event, CloseConnection):
            break
        texts += isinstance(event, TextMessage) and event.message_finished
    assert event.code == 1008
    assert 0 < texts < 200


async def test_ping_and_text_after_close_are_not_queued(nursery):
    u = Unit(nursery)
    u.ws.close(1000, "done")
    u.ws.send_text("late")
    u.ws.ping()
    assert await u.peer.closed_with() == 1000
    await u.settle()
    assert u.peer._events == deque()


# ---- through the server -----------------------------------------------------------------------


async def raw_client(server: Server) -> Peer:
    """A raw WebSocket client through the server's listener, past the handshake packet."""
    stream = await server.listener.connect()
    conn = WSConnection(ConnectionType.CLIENT)
    peer = Peer(stream, conn)
    await stream.send_all(conn.send(Request(host="localhost", target="/")))
    assert isinstance(await peer.next_event(), AcceptConnection)
    assert (await peer.packet())["cmd"] == "handshake"
    return peer


async def authed_raw_client(server: Server, name: str) -> Peer:
    peer = await raw_client(server)
    await peer.send_json(cmd="register", username=name, password="pass1234")
    assert (await peer.packet())["cmd"] == "auth_success"
    ready = await peer.packet()
    assert ready["cmd"] == "ready"
    peer.username = ready["user"]["username"]
    return peer


async def test_upgrade_gets_101_with_the_right_accept(server):
    client = HttpClient(await server.listener.connect())
    resp, headers, _ = await client.request("GET", "/", [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
    assert resp.status_code == 101
    assert headers["upgrade"].lower() == "websocket"
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert "sec-websocket-extensions" not in headers  # no permessage-deflate


async def test_first_frame_in_the_same_packet_as_the_upgrade_is_read(server):
    stream = await server.listener.connect()
    conn = WSConnection(ConnectionType.CLIENT)
    upgrade = conn.send(Request(host="localhost", target="/"))
    # the client must wait for the 101 before framing; build the frame with a second connection
    framer = Connection(ConnectionType.CLIENT)
    await stream.send_all(upgrade + framer.send(TextMessage(data='{"cmd":"ping"}')))
    peer = Peer(stream, conn)
    assert isinstance(await peer.next_event(), AcceptConnection)
    assert (await peer.packet())["cmd"] == "handshake"
    assert await peer.packet() == {"cmd": "auth_error", "val": "Authentication required"}


async def test_fragmented_command_through_the_server(server):
    peer = await authed_raw_client(server, "frag")
    await peer.packet()  # user_join
    await peer.packet()  # user_connect
    text = json.dumps({"cmd": "ping", "listener": "x" * 100})
    await peer.send(TextMessage(data=text[:10], message_finished=False))
    await peer.send(TextMessage(data=text[10:50], message_finished=False))
    await peer.send(TextMessage(data=text[50:], message_finished=True))
    assert await peer.packet() == {"cmd": "pong", "val": "pong", "listener": "x" * 100}


async def test_websocket_ping_through_the_server(server):
    peer = await raw_client(server)
    await peer.send(Ping(payload=b"42"))
    assert await peer.next_of(Pong) == Pong(payload=b"42")


async def test_client_close_through_the_server_is_echoed(server):
    peer = await raw_client(server)
    await peer.send(CloseConnection(code=4000, reason="going"))
    assert await peer.closed_with() == 4000
    with trio.fail_after(5):
        assert await peer.stream.receive_some(10) == b""  # and the server ends the TCP stream


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, limits=ws_mod_limits())


def ws_mod_limits():  # type: ignore[no-untyped-def]
    from originchats.config import LimitsSection

    return LimitsSection(max_frame_size=4096)


async def test_oversize_message_through_the_server_closes_1009_others_unaffected(server):
    other = await server.user("other")
    big = await authed_raw_client(server, "big")
    await other.drain()
    await big.send(TextMessage(data=json.dumps({"cmd": "ping", "pad": "p" * 5000})))
    assert await big.closed_with() == 1009
    await other.expect("user_disconnect", username=big.username)
    await other.send("ping")
    await other.expect("pong")
    # fragmented the same way
    frag = await authed_raw_client(server, "frag")
    for _ in range(5):
        await frag.send(TextMessage(data="f" * 1000, message_finished=False))
    assert await frag.closed_with() == 1009


async def test_invalid_utf8_through_the_server_closes_1007(server):
    peer = await raw_client(server)
    await peer.send_raw(frame(TEXT, b'{"cmd":"ping","x":"\xc3\x28"}'))
    assert await peer.closed_with() == 1007
    ok = await server.user("fine")
    await ok.send("ping")
    await ok.expect("pong")


async def test_binary_frame_through_the_server_is_ignored(server):
    peer = await authed_raw_client(server, "bin")
    await peer.packet()
    await peer.packet()
    await peer.send(BytesMessage(data=b'{"cmd":"ping"}'))
    await peer.send_json(cmd="ping", listener="after")
    assert await peer.packet() == {"cmd": "pong", "val": "pong", "listener": "after"}


class PausableStream(trio.abc.HalfCloseableStream):
    """A client stream whose reading can be paused, to play a peer that stops reading."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reading = trio.Event()
        self.reading.set()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await self.reading.wait()
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


class LockstepListener(MemoryListener):
    """Like MemoryListener, but the server's `send_all` waits for the client to read (TCP-like)."""

    async def connect(self, ip: str = "local") -> trio.abc.Stream:
        client, server = trio.testing.lockstep_stream_pair()
        server.peer_ip = ip  # type: ignore[attr-defined]  (read by connection.peer_ip)
        await self._send.send(server)
        return PausableStream(client)


async def test_slow_reader_is_dropped_1008_and_never_stalls_a_broadcast(nursery, tmp_path, monkeypatch):
    monkeypatch.setattr(ws_send, "MAX_OUTBOX_BYTES", 64 * 1024)
    server = Server(nursery=nursery, config=make_config(tmp_path), listener=LockstepListener())
    await server.start()
    slow = await server.user("slow")
    fast = await server.user("fast")
    poster = await server.user("poster")
    await slow.drain(), await fast.drain()
    slow.stream.reading = trio.Event()  # stop reading
    content = "c" * 1900
    for i in range(60):  # ~120 KB for each viewer
        await poster.send("message_new", channel="general", content=f"{i} {content}")
        await poster.expect("message_new")
        got = await fast.expect("message_new")  # every broadcast reaches the fast reader at once
        assert got["message"]["content"].startswith(f"{i} ")
    await fast.assert_silent()
    # the slow reader reads again: it gets what was queued before the overflow, then close 1008
    slow.stream.reading.set()
    assert await slow.wait_closed() == 1008
    received = [p for p in await slow.drain() if p["cmd"] == "message_new"]
    assert 0 < len(received) < 60
    await fast.expect("user_disconnect", username=slow.username)
    await server.shutdown()


async def test_a_peer_that_never_reads_is_cut_after_the_close_grace(nursery, tmp_path, monkeypatch,
                                                                    autojump_clock):
    monkeypatch.setattr(ws_send, "MAX_OUTBOX_BYTES", 16 * 1024)
    server = Server(nursery=nursery, config=make_config(tmp_path), listener=LockstepListener())
    await server.start()
    stuck = await server.user("stuck")
    poster = await server.user("poster")
    await stuck.drain()
    stuck.stream.reading = trio.Event()  # never reads again
    for i in range(20):
        await poster.send("message_new", channel="general", content="d" * 1500)
        await poster.expect("message_new")
    start = trio.current_time()
    await poster.expect("user_disconnect", username=stuck.username)
    assert trio.current_time() - start <= connection_mod.CLOSE_GRACE + 0.1
    await server.shutdown()
