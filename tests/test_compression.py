"""permessage-deflate (issue 11 part 5, server/deflate.py): negotiated with clients that offer it,
a big broadcast compressed once for all of them, small frames and other clients left plain, and a
client's compressed message limited by its decompressed size."""

from __future__ import annotations

import json
import zlib

import pytest
import trio
import websockets
from wsproto.extensions import PerMessageDeflate

from originchats.config import CompressionSection, LimitsSection
from originchats.server import deflate as deflate_mod
from originchats.server.app import serve
from tests.client import Client

BIG = "x" * 1900  # a message_new frame of ~2 KB: above the 1024-byte default threshold


class Tap(trio.abc.Stream):
    """A stream that keeps a copy of every byte received (what came over the wire)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.received = bytearray()

    async def send_all(self, data) -> None:  # type: ignore[no-untyped-def]
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes=None) -> bytes:  # type: ignore[no-untyped-def]
        data = await self.inner.receive_some(max_bytes)
        self.received += data
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


def frames(wire: bytes) -> tuple[bytes, list[tuple[bool, int, bytes]]]:
    """(the 101's head, [(rsv1, opcode, whole frame bytes)]) of what a client received."""
    end = wire.index(b"\r\n\r\n") + 4
    head, i, out = wire[:end], end, []
    while i + 10 <= len(wire) or (i + 2 <= len(wire) and wire[i + 1] & 0x7F < 126):
        n, h = wire[i + 1] & 0x7F, 2
        if n == 126:
            n, h = int.from_bytes(wire[i + 2:i + 4], "big"), 4
        elif n == 127:
            n, h = int.from_bytes(wire[i + 2:i + 10], "big"), 10
        if i + h + n > len(wire):
            break  # not all here yet
        out.append((bool(wire[i] & 0x40), wire[i] & 0x0F, bytes(wire[i:i + h + n])))
        i += h + n
    return head, out


def payload(frame: bytes) -> bytes:
    n, h = frame[1] & 0x7F, 2
    h = 4 if n == 126 else 10 if n == 127 else 2
    return frame[h:]


def inflate(frame: bytes) -> dict:
    return json.loads(zlib.decompressobj(-15).decompress(payload(frame) + b"\x00\x00\xff\xff"))


async def tapped(server, *, deflate: bool) -> tuple[Client, Tap]:  # type: ignore[no-untyped-def]
    tap = Tap(await server.listener.connect())
    client = Client(tap, extensions=[PerMessageDeflate()] if deflate else [])
    await client.open(server.nursery)
    client.handshake = await client.expect("handshake")
    return client, tap


async def sign_in(client: Client, name: str) -> None:
    await client.send("register", username=name, password="pass1234")
    await client.expect("auth_success")
    await client.expect("ready")
    client.username = f"USR:local_{name}"
    await client.drain()


async def test_a_big_broadcast_is_compressed_once_for_every_client_that_offered_it(server, monkeypatch):
    calls = []
    real = deflate_mod.Deflate.compress
    monkeypatch.setattr(deflate_mod.Deflate, "compress", lambda self, data: calls.append(len(data)) or real(self, data))
    (one, tap1), (two, tap2), (plain, tap3) = [await tapped(server, deflate=d) for d in (True, True, False)]
    for client, name in ((one, "one"), (two, "two"), (plain, "plain")):
        await sign_in(client, name)
    poster = await server.user("poster")  # a client without the extension (wsproto's default)
    for client in (one, two, plain):
        await client.drain()
    calls.clear()
    await poster.send("message_new", channel="general", content=BIG)
    for client in (one, two, plain):
        assert (await client.expect("message_new"))["message"]["content"] == BIG  # wsproto inflated it
    assert len(calls) == 1  # once, whoever receives it
    head1, got1 = frames(bytes(tap1.received))
    assert b"sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; " \
        b"server_max_window_bits=15" in head1.lower()  # wsproto offers server_max_window_bits=15
    big1, big2 = got1[-1], frames(bytes(tap2.received))[1][-1]
    assert big1[0] and big1[2] == big2[2]  # compressed, and the very same bytes for both
    assert inflate(big1[2])["message"]["content"] == BIG
    assert len(big1[2]) < 300  # ~2 KB of text on the wire as a few dozen bytes
    head3, got3 = frames(bytes(tap3.received))
    assert b"sec-websocket-extensions" not in head3.lower()  # not offered: plain frames
    assert not any(rsv1 for rsv1, _, _ in got3) and json.loads(payload(got3[-1][2]))["message"]["content"] == BIG
    # a small frame goes out plain to everyone, uncompressed
    await poster.send("message_new", channel="general", content="hi")
    assert (await one.expect("message_new"))["message"]["content"] == "hi"
    rsv1, _, small = frames(bytes(tap1.received))[1][-1]
    assert not rsv1 and json.loads(payload(small))["message"]["content"] == "hi"
    assert len(calls) == 1


async def test_a_big_reply_is_compressed_and_the_client_talks_compressed(server):
    client, tap = await tapped(server, deflate=True)
    await sign_in(client, "reader")  # wsproto compresses everything it sends: the server inflates it
    await client.drain()
    for i in range(30):
        await client.send("message_new", channel="general", content=f"message {i} " + "y" * 200)
        await client.expect("message_new")
    await client.send("messages_get", channel="general", limit=30, listener="page")
    page = await client.expect("messages_get")
    assert len(page["messages"]) == 30
    rsv1, _, frame = frames(bytes(tap.received))[1][-1]
    assert rsv1 and inflate(frame)["listener"] == "page"
    assert len(frame) * 5 < len(json.dumps(page))  # the page shrank on the wire


@pytest.fixture
def config(request, tmp_path):  # type: ignore[no-untyped-def]
    from tests.conftest import make_config

    return make_config(tmp_path, **getattr(request, "param", {}))


@pytest.mark.parametrize("config", [{"compression": CompressionSection(enabled=False)}], indirect=True)
async def test_with_compression_off_nothing_is_negotiated(server):
    client, tap = await tapped(server, deflate=True)
    await sign_in(client, "plain")
    head, got = frames(bytes(tap.received))
    assert b"sec-websocket-extensions" not in head.lower() and not any(rsv1 for rsv1, _, _ in got)


@pytest.mark.parametrize("config", [{"limits": LimitsSection(max_frame_size=64 * 1024)}], indirect=True)
async def test_a_decompression_bomb_is_refused_1009_by_its_inflated_size(server):
    # before login the limit is 16 KiB (max_frame_size_before_login): ~1 MB of zeros deflates to ~1 KB
    bomb, _ = await tapped(server, deflate=True)
    await bomb.send_raw(" " * 1_000_000)
    assert await bomb.wait_closed() == 1009
    # after login, max_frame_size (64 KiB here): one just under passes, one over is refused
    client, _ = await tapped(server, deflate=True)
    await sign_in(client, "big")
    await client.send("ping", listener="p", pad="z" * 60_000)
    assert (await client.expect("pong"))["listener"] == "p"
    await client.send("ping", pad="z" * 70_000)
    assert await client.wait_closed() == 1009
    other = await server.user("other")  # the server carries on
    await other.send("ping", listener="q")
    await other.expect("pong")


async def test_invalid_compressed_data_and_stray_rsv1_close_the_socket(server):
    for extension, first, code in ((True, 0xC1, 1007), (False, 0xC1, 1002)):
        stream = await server.listener.connect()
        offer = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if extension else b""
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + offer +
                              b"\r\n")
        garbage = b"\xff\xff\xff\xff\xff"  # not deflate data
        await stream.send_all(bytes((first, 0x80 | len(garbage))) + b"\0\0\0\0" + garbage)
        wire = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                wire += chunk
                if b"\r\n\r\n" in wire and any(op == 8 for _, op, _ in frames(wire)[1]):
                    break
        close = next(f for _, op, f in frames(wire)[1] if op == 8)
        assert int.from_bytes(payload(close)[:2], "big") == code
        await stream.aclose()


@pytest.mark.parametrize("offer,accepted", [
    ([b"permessage-deflate; client_max_window_bits"], True),  # what browsers send
    ([b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"], True),
    ([b"x-webkit-deflate-frame, permessage-deflate"], True),
    ([b"permessage-deflate; client_max_window_bits=15; server_max_window_bits=15"], True),  # wsproto's
    ([b"permessage-deflate; server_max_window_bits=10"], False),  # we compress with a 32 KiB window
    ([b"permessage-deflate; server_max_window_bits=10, permessage-deflate"], True),  # the fallback offer
    ([b"permessage-deflate; client_max_window_bits=7"], False),
    ([b"permessage-deflate; mystery"], False),
    ([], False),
])
def test_which_offers_are_accepted(offer, accepted):
    assert (deflate_mod.negotiate(offer) is not None) is accepted


async def test_a_real_websockets_client_negotiates_and_reads_compressed_history(nursery, config):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    stop, done = trio.Event(), trio.Event()

    async def run(task_status=trio.TASK_STATUS_IGNORED):  # type: ignore[no-untyped-def]
        try:
            await serve(config, listeners=listeners, stop=stop, task_status=task_status)
        finally:
            done.set()

    await nursery.start(run)
    port = listeners[0].socket.getsockname()[1]

    def client() -> tuple[list[str], dict]:
        """The `websockets` library (its default: offer permessage-deflate), in a thread."""
        from websockets.sync.client import connect

        with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
            names = [e.name for e in ws.protocol.extensions]
            assert json.loads(ws.recv(timeout=10))["cmd"] == "handshake"
            ws.send(json.dumps({"cmd": "register", "username": "wsclient", "password": "pass1234"}))
            for _ in range(40):
                ws.send(json.dumps({"cmd": "message_new", "channel": "general", "content": "z" * 100}))
            ws.send(json.dumps({"cmd": "messages_get", "channel": "general", "limit": 40, "listener": "h"}))
            while True:
                packet = json.loads(ws.recv(timeout=10))
                if packet.get("listener") == "h":
                    return names, packet

    names, page = await trio.to_thread.run_sync(client)
    assert names == ["permessage-deflate"] and len(page["messages"]) == 40
    stop.set()
    with trio.fail_after(10):
        await done.wait()
    assert websockets.__version__


def raw_upgrade(offer: bool = True) -> bytes:
    return (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
            (b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if offer else b"") + b"\r\n")


async def read_close_code(stream: trio.abc.Stream) -> int | None:
    """Read until the server's close frame; its code (None: the stream ended without one)."""
    wire = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(65536):
            wire += chunk
            if b"\r\n\r\n" in wire:
                close = [f for _, op, f in frames(wire)[1] if op == 8]
                if close:
                    return int.from_bytes(payload(close[0])[:2], "big")
    return None


@pytest.mark.one_gateway  # the input budget is per process: per gateway in a cluster
@pytest.mark.parametrize("config", [{"limits": LimitsSection(max_frame_size=64 * 1024,
                                                               max_buffered_input=64 * 1024)}], indirect=True)
async def test_a_half_sent_compressed_message_is_charged_to_the_input_budget(server):
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    piece = c.compress(b'{"cmd":"ping","pad":"' + b"a" * 100) + c.flush(zlib.Z_SYNC_FLUSH)
    first_frame = bytes((0x41, 0x80 | len(piece))) + b"\0\0\0\0" + piece  # RSV1, text, not final
    holder = await server.listener.connect()
    await holder.send_all(raw_upgrade() + first_frame)
    await trio.testing.wait_all_tasks_blocked()
    # the budget (64 KiB) holds one decompressor (48 KiB), not two: the newcomer is refused 1013
    newcomer = await server.listener.connect()
    await newcomer.send_all(raw_upgrade() + first_frame)
    assert await read_close_code(newcomer) == 1013
    # the holder finishes its message: its share goes back, and the next one may hold one
    rest = c.compress(b'"}') + c.flush(zlib.Z_SYNC_FLUSH)
    rest = rest[:-4]
    await holder.send_all(bytes((0x80, 0x80 | len(rest))) + b"\0\0\0\0" + rest)  # continuation, final
    await trio.testing.wait_all_tasks_blocked()
    third = await server.listener.connect()
    await third.send_all(raw_upgrade() + first_frame)
    await trio.testing.wait_all_tasks_blocked()
    await third.send_all(bytes((0x88, 0x82)) + b"\0\0\0\0" + (1000).to_bytes(2, "big"))
    assert await read_close_code(third) == 1000  # it was not refused: it closed itself
    for stream in (holder, newcomer, third):
        await stream.aclose()
