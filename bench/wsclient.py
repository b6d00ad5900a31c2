"""A minimal, fast WebSocket client on asyncio `Protocol`s, for load generation only.

Why not the `websockets` library: one asyncio process on one core has to take in hundreds of
thousands of frames per second without becoming the bottleneck. This client
* masks with the all-zero key (legal: the key is the client's choice), so sending is a header plus
  the payload with no XOR pass;
* in *counting* mode does not parse frames at all: it counts occurrences of the packet prefix
  `{"cmd":"message_new"` in the byte stream with `bytes.count` (C speed; a prefix can never occur
  inside a JSON string because the quote would be escaped), keeping the last few bytes so a prefix
  split across two reads is still counted exactly once;
* in *parsing* mode walks the frames and hands each text payload to a callback, or queues the
  decoded JSON for `recv()` (used for set-up and the control flow of scenarios).
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

MSG_NEW = b'{"cmd":"message_new"'
_KEEP = len(MSG_NEW) - 1
UPGRADE = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
ZERO_MASK = b"\x00\x00\x00\x00"
# what a browser offers; the server answers without context takeover (server/deflate.py), so each
# compressed frame inflates on its own
DEFLATE_OFFER = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
TAIL = b"\x00\x00\xff\xff"


def inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + TAIL)


def client_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((first, 0x80 | n)) + ZERO_MASK + payload
    if n < 65536:
        return bytes((first, 0x80 | 126)) + n.to_bytes(2, "big") + ZERO_MASK + payload
    return bytes((first, 0x80 | 127)) + n.to_bytes(8, "big") + ZERO_MASK + payload


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Closed(Exception):
    pass


class WS(asyncio.Protocol):
    """One client connection. Modes: 'queue' (default: JSON objects for `recv`), 'count', 'frames'."""

    def __init__(self, deflate: bool = False) -> None:
        self.offer = deflate  # offer permessage-deflate in the upgrade
        self.deflated = False  # the server accepted it (compressed frames may come)
        # counting mode walks the frames (always so when deflated): a plain text frame counts when
        # it starts with MSG_NEW, a compressed one counts without being inflated (in the quiet
        # room of a fan-out only message_new is sent); the same client cost with or without
        # compression (bench/compression.py)
        self.walk = False
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.head = b""
        self.pending = b""
        self.mode = "queue"
        self.queue: deque[Any] = deque()
        self.waiter: asyncio.Future | None = None
        self.opened: asyncio.Future = asyncio.get_event_loop().create_future()
        self.closed = False
        self.close_code: int | None = None
        self.count = 0  # message_new prefixes seen in counting mode
        self.on_text: Callable[[bytes, int, int, int], None] | None = None  # (data, start, end, now_ns)
        self.on_count: Callable[[int], None] | None = None
        self.bytes_in = 0

    # ---- asyncio callbacks ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(UPGRADE[:-2] + DEFLATE_OFFER + b"\r\n" if self.offer else UPGRADE)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(Closed("connection lost during upgrade"))
        self._wake()

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if not self.upgraded:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self.head[:end]
            data = self.head[end + 4:]
            self.head = b""
            if not status.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(Closed(status.split(b"\r\n", 1)[0].decode(errors="replace")))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.upgraded = True
            self.deflated = b"permessage-deflate" in status.lower()
            self.opened.set_result(True)
            if not data:
                return
        if self.mode == "count" and (self.deflated or self.walk):  # compressed frames hide the prefix
            self._frames(self.pending + data if self.pending else data)
            return
        if self.mode == "count":
            data = self.pending + data
            n = data.count(MSG_NEW)
            self.pending = data[-_KEEP:]
            if n:
                self.count += n
                if self.on_count is not None:
                    self.on_count(n)
            return
        if self.pending:
            data = self.pending + data
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        n = len(data)
        i = 0
        now = time.monotonic_ns()
        while i + 2 <= n:
            ln = data[i + 1] & 0x7F
            if ln < 126:
                h = 2
            elif ln == 126:
                if i + 4 > n:
                    break
                ln = int.from_bytes(data[i + 2:i + 4], "big")
                h = 4
            else:
                if i + 10 > n:
                    break
                ln = int.from_bytes(data[i + 2:i + 10], "big")
                h = 10
            end = i + h + ln
            if end > n:
                break
            op = data[i] & 0x0F
            if op == 0x1 and self.mode == "count":
                if data[i] & 0x40 or data.startswith(MSG_NEW, i + h):
                    self.count += 1
                    if self.on_count is not None:
                        self.on_count(1)
            elif op == 0x1:
                buf, start, stop = data, i + h, end
                if data[i] & 0x40:  # compressed (permessage-deflate)
                    buf = inflate(data[start:stop])
                    start, stop = 0, len(buf)
                if self.mode == "frames":
                    self.on_text(buf, start, stop, now)  # type: ignore[misc]
                else:
                    self.queue.append(json.loads(buf[start:stop]))
                    self._wake()
            elif op == 0x9:
                self.transport.write(client_frame(data[i + h:end], 0xA))  # type: ignore[union-attr]
            elif op == 0x8:
                self.close_code = int.from_bytes(data[i + h:i + h + 2], "big") if ln >= 2 else 1005
                if not self.closed:
                    self.transport.write(client_frame(data[i + h:i + h + 2], 0x8))  # type: ignore[union-attr]
                    self.transport.close()  # type: ignore[union-attr]
                self.closed = True
                self._wake()
            i = end
        self.pending = data[i:] if i < n else b""

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    # ---- API ------------------------------------------------------------------------------------

    def send_bytes(self, payload: bytes) -> None:
        self.transport.write(client_frame(payload))  # type: ignore[union-attr]

    def send(self, cmd: str, **fields: Any) -> None:
        self.send_bytes(dumps({"cmd": cmd, **fields}))

    async def recv(self, timeout: float = 30.0) -> Any:
        while not self.queue:
            if self.closed:
                raise Closed(f"closed ({self.close_code})")
            self.waiter = asyncio.get_event_loop().create_future()
            try:
                await asyncio.wait_for(self.waiter, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError("no packet within %.0f s" % timeout) from None
            finally:
                self.waiter = None
        return self.queue.popleft()

    async def expect(self, cmd: str, timeout: float = 30.0, **fields: Any) -> dict:
        """The next packet with this `cmd` (and these field values); other packets are skipped."""
        while True:
            pkt = await self.recv(timeout)
            if isinstance(pkt, dict) and pkt.get("cmd") == cmd and all(pkt.get(k) == v for k, v in fields.items()):
                return pkt
            if isinstance(pkt, dict) and pkt.get("cmd") in ("auth_error", "error") and cmd not in ("auth_error", "error"):
                raise RuntimeError(f"expected {cmd}, got {pkt}")

    def drain(self) -> None:
        self.queue.clear()

    def counting(self) -> None:
        """From now on only count message_new packets (cheap); queued packets are dropped."""
        self.queue.clear()
        self.mode = "count"
        self.pending = b""

    def framing(self, on_text: Callable[[bytes, int, int, int], None]) -> None:
        self.queue.clear()
        self.on_text = on_text
        self.mode = "frames"

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.transport.write(client_frame((1000).to_bytes(2, "big"), 0x8))
            finally:
                self.transport.close()


async def open_ws(host: str, port: int, *, handshake: bool = True, timeout: float = 30.0,
                  source: str | None = None, deflate: bool = False) -> WS:
    """A connected, upgraded client; `source` picks the local address (any of 127.0.0.0/8 on
    Linux), so the server sees the connection coming from another client address; `deflate`
    offers permessage-deflate."""
    loop = asyncio.get_running_loop()
    local = (source, 0) if source else None
    _, ws = await asyncio.wait_for(loop.create_connection(lambda: WS(deflate), host, port, local_addr=local), timeout)
    await asyncio.wait_for(ws.opened, timeout)
    if handshake:
        await ws.expect("handshake", timeout)
    return ws


def content_ns(data: bytes, start: int, end: int) -> tuple[int, bytes] | None:
    """(send time in ns, tag) from a message's content "<ns>:<tag>", or None."""
    k = data.find(b'"content":"', start, end)
    if k < 0:
        return None
    k += 11
    colon = data.find(b":", k, end)
    quote = data.find(b'"', k, end)
    if colon < 0 or quote < 0 or colon > quote:
        return None
    try:
        return int(data[k:colon]), data[colon + 1:quote]
    except ValueError:
        return None
