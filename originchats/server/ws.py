"""A small WebSocket server connection on a trio stream, over the sans-I/O libraries h11 and wsproto.

Why not trio-websocket: measured on this machine (../shared/bench/README.md), trio-websocket paid a
lock and an await per receiver per frame and delivered ~8 k frames/s to 300 receivers, while this
shape (frames encoded once, a writer per connection that coalesces its queue into one `send_all`)
delivered 113-139 k/s. Server frames are unmasked, so one encoded broadcast frame is valid for
every receiver: `encode_text` runs once per broadcast, `WebSocket.push` once per receiver.

h11 parses the HTTP request (the same port serves plain HTTP routes); an upgrade request gets a
`101` here and the rest of the byte stream goes to `wsproto.connection.Connection` for frame
parsing (fragments, ping/pong, close, UTF-8 checks). Incoming messages are limited to
`max_message` bytes (close 1009); binary messages are ignored (the protocol is text only).
"""

from __future__ import annotations

import base64
import hashlib
import os

import attrs
import structlog
import h11
import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.frame_protocol import CloseReason

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_OUTBOX_BYTES = 16 * 1024 * 1024  # a client this far behind is dropped (close 1008 "too slow")
log = structlog.get_logger("originchats.ws")


def encode_text(text: str) -> bytes:
    """One unmasked, unfragmented text frame."""
    data = text.encode("utf-8", "replace")  # a lone surrogate must not crash a broadcast
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + data


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key.strip() + WS_GUID).digest())


def upgrade_response(request: h11.Request) -> h11.InformationalResponse | None:
    """The 101 for a valid WebSocket upgrade of `GET /`, else None."""
    headers = {k.lower(): v for k, v in request.headers}
    if request.method != b"GET":
        return None
    if b"websocket" not in headers.get(b"upgrade", b"").lower():
        return None
    if b"upgrade" not in headers.get(b"connection", b"").lower():
        return None
    key = headers.get(b"sec-websocket-key")
    if not key or headers.get(b"sec-websocket-version") != b"13" or not valid_key(key):
        return None
    return h11.InformationalResponse(status_code=101, headers=[
        (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"), (b"Sec-WebSocket-Accept", accept_key(key)),
    ])


def valid_key(key: bytes) -> bool:
    """RFC 6455 §4.2.1: the key is the base64 encoding of 16 bytes."""
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:
        return False


class MessageTooBig(Exception):
    pass


class Flusher:
    """Writes every socket's queued frames with one non-blocking `write` each, once per scheduler tick.

    Measured (docs/performance.md): waking a writer task per receiver per broadcast cost two task
    switches plus trio's `send_all` machinery per delivery, ~15-20 us of server CPU. Instead `push`
    only appends the frame and puts the socket on this list; one task, woken once, writes each
    listed socket's frames (all the broadcasts of that tick, coalesced) straight to its fd. Only
    what the kernel does not take (a slow reader) is left to the connection's writer task, which
    waits for the socket to become writable. The task is a trio system task started on first use.
    """

    def __init__(self) -> None:
        self.dirty: list[WebSocket] = []
        self._event: trio.Event | None = None
        self._armed = False

    def add(self, ws: WebSocket) -> None:
        self.dirty.append(ws)
        if not self._armed:
            self._armed = True
            if self._event is None:
                self._event = trio.Event()
                trio.lowlevel.spawn_system_task(self._run, name="originchats.flusher")
            self._event.set()

    async def _run(self) -> None:
        while True:
            assert self._event is not None
            await self._event.wait()
            self._event = trio.Event()
            # one more tick: what the tasks woken with us push is written in the same go
            await trio.lowlevel.cancel_shielded_checkpoint()
            self._armed = False
            dirty, self.dirty = self.dirty, []
            for ws in dirty:
                try:
                    ws.flush()
                except Exception:  # never let one socket stop the flushing of the others
                    log.exception("flush_failed")


@attrs.define(eq=False)
class WebSocket:
    """One accepted WebSocket. `receive()` yields text messages; `push()` queues encoded frames.

    Exactly one task calls `receive` and one runs `run_writer`; `push` is synchronous and never
    blocks, so a broadcast never waits for a slow receiver.
    """

    stream: trio.abc.Stream
    trailing: bytes = b""
    max_message: int = 4 * 1024 * 1024
    conn: Connection = attrs.field(init=False)
    _queue: list[bytes] = attrs.Factory(list)
    _queued_bytes: int = 0
    _wake: trio.Event = attrs.Factory(trio.Event)
    closing: bool = False
    closing_event: trio.Event = attrs.Factory(trio.Event)  # set with `closing` (bounds the flush)
    close_code: int | None = None
    last_seen: float = 0.0  # trio time of the last bytes received (dead-peer detection)
    # direct writes (see Flusher): the socket's fd while the writer task is alive, else -1
    _flusher: Flusher | None = None
    _fd: int = -1
    _dirty: bool = False
    _sending: bool = False  # the writer task is inside send_all: it owns the socket
    # The connection's nursery: the writer task is started in it only when needed (a close, a slow
    # reader, a stream without fd), which saves a task per idle connection. None: run_writer is
    # driven by the caller (unit tests).
    _tasks: trio.Nursery | None = None
    _close_grace: float = 5.0
    _writer_started: bool = False

    def __attrs_post_init__(self) -> None:
        self.conn = Connection(ConnectionType.SERVER, extensions=[], trailing_data=self.trailing)
        self.last_seen = trio.current_time()

    # ---- sending ------------------------------------------------------------------------------

    def use_flusher(self, flusher: Flusher) -> None:
        """Write through `flusher` when the stream is a real socket (not in-memory test streams)."""
        if isinstance(self.stream, trio.SocketStream):
            self._flusher = flusher
            self._fd = self.stream.socket.fileno()

    def run_in(self, nursery: trio.Nursery, close_grace: float) -> None:
        """Start the writer in `nursery` on demand; once closing, give it `close_grace` seconds
        to flush, then cancel the nursery (a peer that stopped reading cannot hold it open)."""
        self._tasks = nursery
        self._close_grace = close_grace
        if self._wake.is_set():  # something was queued before (the handshake, on a memory stream)
            self._wake_writer()

    def detach(self) -> None:
        """The connection is over (its stream is about to close): never write to its fd again."""
        self._fd = -1
        self._tasks = None

    def _wake_writer(self) -> None:
        self._wake.set()
        if self._tasks is not None and not self._writer_started:
            self._writer_started = True
            try:
                self._tasks.start_soon(self._writer_task)
            except RuntimeError:  # the nursery is closing: the connection is ending anyway
                pass

    async def _writer_task(self) -> None:
        try:
            await self.run_writer()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        # once the writer is done (close frame sent, or the peer is gone) the read loop ends too
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()

    def _mark_closing(self, code: int | None) -> None:
        self.closing = True
        self.close_code = code
        self.closing_event.set()
        if self._tasks is not None:
            scope = self._tasks.cancel_scope
            scope.deadline = min(scope.deadline, trio.current_time() + self._close_grace)
        self._wake_writer()

    def _kick(self) -> None:
        if self._fd >= 0 and not self._sending and not self.closing:
            if not self._dirty:
                self._dirty = True
                self._flusher.add(self)  # type: ignore[union-attr]
        else:
            self._wake_writer()

    def flush(self) -> None:
        """Write what is queued without blocking; leave the rest to the writer task."""
        self._dirty = False
        if not self._queue:
            return
        if self._fd < 0 or self._sending or self.closing:
            self._wake_writer()
            return
        batch = self._queue
        data = b"".join(batch) if len(batch) > 1 else batch[0]
        try:
            sent = os.write(self._fd, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._wake_writer()  # the peer is gone: the writer's send_all finds out and ends the connection
            return
        if sent == len(data):
            self._queue = []
            self._queued_bytes = 0
        else:
            self._queue = [data[sent:]]
            self._queued_bytes = len(data) - sent
            self._wake_writer()

    def push(self, frame: bytes) -> None:
        if self.closing:
            return
        self._queue.append(frame)
        queued = self._queued_bytes + len(frame)
        self._queued_bytes = queued
        if queued > MAX_OUTBOX_BYTES:
            # the peer is not reading: close after what is queued (the queue may start with the
            # tail of a partly written frame, so it is not dropped); the connection gets
            # `connection.CLOSE_GRACE` seconds to flush, then its stream is closed
            self.close(1008, "too slow")
            return
        if not self._dirty:  # else it is already listed for this tick's flush
            self._kick()

    def send_text(self, text: str) -> None:
        self.push(encode_text(text))

    def ping(self, payload: bytes = b"hb") -> None:
        if not self.closing and self.conn.state is ConnectionState.OPEN:
            self.push(self.conn.send(Ping(payload)))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close frame after what is already queued; the writer then ends the connection."""
        if self.closing:
            return
        if self.conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._queue.append(self.conn.send(CloseConnection(code=code, reason=reason)))
        self._mark_closing(code)

    async def run_writer(self) -> None:
        """Send whatever is queued in one write; return after the close frame went out."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                batch, self._queue = self._queue, []
                self._queued_bytes = 0
                if batch:
                    self._sending = True
                    try:
                        await self.stream.send_all(b"".join(batch) if len(batch) > 1 else batch[0])
                    finally:
                        self._sending = False
                if self.closing and not self._queue:
                    return
        finally:
            self._fd = -1  # the stream is closed after this: never write to a recycled fd

    # ---- receiving ----------------------------------------------------------------------------

    async def receive(self) -> str | None:
        """The next complete text message, or None once the connection is closing or closed.

        Raises MessageTooBig (after queueing close 1009) when a message exceeds `max_message`.
        """
        parts: list[str] = []
        size = 0
        while not self.closing:
            for event in self.conn.events():
                if isinstance(event, (TextMessage, BytesMessage)):
                    size += len(event.data.encode()) if isinstance(event, TextMessage) else len(event.data)
                    if size > self.max_message:
                        self.close(1009, "message too big")
                        raise MessageTooBig
                    if isinstance(event, TextMessage):
                        parts.append(event.data)
                    if event.message_finished:
                        if isinstance(event, TextMessage):
                            return "".join(parts)
                        parts, size = [], 0  # binary messages are ignored
                elif isinstance(event, Ping):
                    self.push(self.conn.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self.conn.state is ConnectionState.REMOTE_CLOSING:
                        # the peer closes: answer with the same code, then end
                        self._queue.append(self.conn.send(event.response()))
                        self._mark_closing(event.code)
                    else:
                        self.close(event.code, event.reason or "")  # a protocol error by the peer
                    return None
            if self.closing:
                break
            data = await self.stream.receive_some(65536)
            if not data:
                self._mark_closing(self.close_code)
                return None
            self.last_seen = trio.current_time()
            self.conn.receive_data(data)
        return None


__all__ = ["WebSocket", "encode_text", "upgrade_response", "MessageTooBig", "CloseReason"]
