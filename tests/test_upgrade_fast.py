"""The WebSocket upgrade without h11 (server/upgrade.py), through the real server on raw bytes:
the common request gets byte for byte the 101 h11 wrote; anything outside the narrow case goes to
h11 with the same answers, limits and deadline as before (malformed, oversized, partial, slow)."""

from __future__ import annotations

import json

import h11
import pytest
import trio
from wsproto.frame_protocol import FrameProtocol

from originchats.server import connection
from originchats.server.upgrade import parse_upgrade
from originchats.server.ws import accept_key, upgrade_response
from tests.clock import autojump_clock  # noqa: F401
from tests.test_http import read_until_eof

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")


def h11_answer(request: bytes) -> bytes:
    """What the h11 path writes for a WebSocket upgrade (the reference)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(request)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    return conn.send(upgrade_response(event)) or b""


async def read_until(stream: trio.abc.Stream, marker: bytes, *, until_eof: bool = False) -> bytes:
    """What the server sends until `marker` arrives (within 10 s); the end of the stream before
    it fails the test, unless `until_eof` (then what came is returned)."""
    got = b""
    with trio.fail_after(10):
        while marker not in got:
            chunk = await stream.receive_some(65536)
            if not chunk and until_eof:
                break
            assert chunk, got
            got += chunk
    return got


async def exchange(server, data: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """Send `data` in one write; the server's answer up to the end of its head (or all, if it closes)."""
    stream = await server.listener.connect()
    await stream.send_all(data)
    return await read_until(stream, b"\r\n\r\n", until_eof=True)


def text_frame(text: str) -> bytes:
    return bytes(FrameProtocol(client=True, extensions=[]).send_data(text, fin=True))


@pytest.mark.parametrize("request_bytes", [
    UPGRADE,
    UPGRADE.replace(b"GET / ", b"GET /?v=1 "),
    UPGRADE.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"),
    UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: WebSocket").replace(b"Host: 127.0.0.1", b"host:   x  "),
    UPGRADE.replace(b"\r\n\r\n", b"\r\nOrigin: http://example.com\r\nUser-Agent: a b c\r\n\r\n"),
])
async def test_the_common_upgrade_gets_the_bytes_h11_wrote(server, request_bytes):
    assert parse_upgrade(request_bytes, connection.MAX_HEADER_BYTES) is not None  # the fast path
    got = await exchange(server, request_bytes)
    head = got[:got.index(b"\r\n\r\n") + 4]
    assert head == h11_answer(request_bytes)
    assert accept_key(KEY) in head


@pytest.mark.parametrize("request_bytes", [
    UPGRADE.replace(b"\r\n", b"\n"),  # bare LF line ends
    UPGRADE.replace(b"Sec-WebSocket-Version: 13\r\n", b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
                    b"AAAAAAAAAAAAAAAAAAAAAA==\r\n"),  # a second key: the last one counts, as before
    UPGRADE.replace(b"Connection: Upgrade", b"Connection: Upgrade\r\nX-Forwarded-For: 10.0.0.1\r\n"
                    b"X-Forwarded-For: 10.0.0.2"),
    UPGRADE.replace(b"Upgrade: websocket", b"Upgrade: websocket\r\n folded"),  # obs-fold
    UPGRADE.replace(b"HTTP/1.1\r\n", b"HTTP/1.0\r\n", 1),
])
async def test_an_unusual_upgrade_that_h11_takes_is_still_taken(server, request_bytes):
    assert parse_upgrade(request_bytes, connection.MAX_HEADER_BYTES) is None  # h11 reads it
    got = await exchange(server, request_bytes)
    assert got.startswith(b"HTTP/1.1 101 ")
    assert got[:got.index(b"\r\n\r\n") + 4] == h11_answer(request_bytes)


@pytest.mark.parametrize("request_bytes,status", [
    (UPGRADE.replace(b"Host: 127.0.0.1\r\n", b""), 400),  # HTTP/1.1 without Host
    (UPGRADE.replace(b"Host: 127.0.0.1", b"Host: a\r\nHost: b"), 400),  # two Hosts
    (UPGRADE.replace(b"Host:", b"Host :"), 400),  # space before the colon
    (UPGRADE.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"), 400),
    (UPGRADE.replace(KEY, b"short"), 400),
    (UPGRADE.replace(b"GET / ", b"GET /info "), 200),  # an upgrade of another path: a plain request
    (UPGRADE.replace(b"GET / ", b"GET /nowhere "), 404),
    (UPGRADE.replace(b"GET / ", b"POST / "), 405),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n", 431),  # an oversized head
    (b"\x16\x03\x01 not HTTP\r\n\r\n", 400),
])
async def test_a_malformed_or_other_request_gets_h11s_answer(server, request_bytes, status):
    assert parse_upgrade(request_bytes, connection.MAX_HEADER_BYTES) is None
    got = await exchange(server, request_bytes)
    assert got.startswith(b"HTTP/1.1 %d " % status), got[:80]


async def test_frames_sent_with_the_upgrade_are_read(server):
    await (await server.user("alice")).close()
    login = text_frame(json.dumps({"cmd": "login", "username": "alice", "password": "pass1234"}))
    stream = await server.listener.connect()
    await stream.send_all(UPGRADE + login)
    got = await read_until(stream, b'"cmd":"ready"')
    assert got.startswith(h11_answer(UPGRADE))
    assert b'"cmd":"auth_success"' in got


async def test_an_upgrade_split_over_reads_is_read_by_h11(server):
    stream = await server.listener.connect()
    await stream.send_all(UPGRADE[:30])
    await trio.testing.wait_all_tasks_blocked()
    await stream.send_all(UPGRADE[30:])
    got = await read_until(stream, b"\r\n\r\n")
    assert got.startswith(h11_answer(UPGRADE))


async def test_a_trickled_upgrade_is_dropped_at_the_request_deadline(server, autojump_clock):
    stream = await server.listener.connect()
    start = trio.current_time()
    with pytest.raises((trio.BrokenResourceError, trio.ClosedResourceError)):
        for byte in UPGRADE[:-2]:  # one byte every 5 s: each read is quick, the whole is not
            await stream.send_all(bytes([byte]))
            await trio.sleep(5)
            if trio.current_time() - start > 2 * connection.REQUEST_TIMEOUT:
                break
    assert await read_until_eof(stream, 60) == b""
    assert trio.current_time() - start <= connection.REQUEST_TIMEOUT + 5


async def test_a_head_that_never_ends_is_dropped(server, autojump_clock):
    stream = await server.listener.connect()
    await stream.send_all(UPGRADE[:-2])  # no blank line
    start = trio.current_time()
    assert await read_until_eof(stream, 60) == b""
    assert trio.current_time() - start >= connection.REQUEST_TIMEOUT


@pytest.mark.parametrize("request_bytes", [UPGRADE, UPGRADE.replace(b"\r\n", b"\n")], ids=["fast", "h11"])
async def test_the_101_leaves_with_the_handshake_in_one_write(server, request_bytes):
    # one write (one system call, one TCP segment) instead of two per connection
    assert (parse_upgrade(request_bytes, connection.MAX_HEADER_BYTES) is None) == (b"\r\n" not in request_bytes)
    client, server_end = trio.testing.memory_stream_pair()
    server_end.peer_ip = "local"  # type: ignore[attr-defined]
    writes: list[bytes] = []
    send_all = server_end.send_all

    async def recorded(data: bytes) -> None:
        writes.append(bytes(data))
        await send_all(data)

    server_end.send_all = recorded  # type: ignore[method-assign]
    await server.listener.hand(server_end)
    await client.send_all(request_bytes)
    got = await read_until(client, b'"cmd":"handshake"')
    assert got[:got.index(b"\r\n\r\n") + 4] == h11_answer(request_bytes)
    assert len(writes) == 1 and writes[0] == got
