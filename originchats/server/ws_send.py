"""The sending half of a WebSocket: frames, the per-socket outbox, and the tick flusher.

Server frames are unmasked, so one encoded broadcast frame is valid for every receiver:
`encode_text` runs once per broadcast, `FrameSender.push` once per receiver. With
permessage-deflate (server/deflate.py, no context takeover) the same holds for the compressed
frame of a big broadcast: compressed once, pushed to each receiver that negotiated it. `push` only appends
to the socket's queue and never blocks, so a broadcast never waits for a slow receiver; the
`Flusher` then writes each socket's queued frames with one non-blocking `write`, and only what the
kernel does not take is left to the connection's writer task (started on demand). A client more
than `MAX_OUTBOX_BYTES` behind is closed (1008 "too slow").

The reading half (frames in, input limits) is server/ws.py `WebSocket`, which extends
`FrameSender`.
"""

from __future__ import annotations

import os

import attrs
import structlog
import trio
from wsproto.frame_protocol import FrameProtocol

from .deflate import Deflate
from .fastsock import FastStream
from .tick import OncePerTick

#: Builds the server's control frames (ping, pong, close). For a server without extensions they
#: depend on nothing but their arguments, so one instance serves every socket: a FrameProtocol per
#: socket (a decoder, buffers, a generator) was a dozen more objects per idle connection for the
#: garbage collector to walk (docs/performance.md, "The connect path, second round").
SERVER_FRAMES = FrameProtocol(client=False, extensions=[])
MAX_OUTBOX_BYTES = 16 * 1024 * 1024  # a client this far behind is dropped (close 1008 "too slow")
log = structlog.get_logger("originchats.ws")


def encode_text(text: str) -> bytes:
    """One unmasked, unfragmented text frame."""
    return text_frame(text.encode("utf-8", "replace"))  # a lone surrogate must not crash a broadcast


def text_frame(data: bytes) -> bytes:
    """One unmasked, unfragmented text frame of UTF-8 `data`."""
    return _frame(0x81, data)


def compressed_frame(deflate: Deflate, data: bytes) -> bytes:
    """One unmasked, unfragmented compressed text frame (FIN, RSV1, opcode 1) of `data`."""
    return _frame(0xC1, deflate.compress(data))


def reply_frame(deflate: Deflate | None, text: str) -> bytes:
    """The frame of one socket's own text: compressed when the socket negotiated permessage-deflate
    (`deflate`) and the text is big enough."""
    if deflate is None:
        return encode_text(text)
    data = text.encode("utf-8", "replace")
    return compressed_frame(deflate, data) if len(data) >= deflate.threshold else text_frame(data)


def _frame(first: int, payload: bytes) -> bytes:
    """An unmasked frame: `first` is its first byte (FIN, RSV bits, opcode), then `payload`."""
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


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
        self.dirty: list[FrameSender] = []
        self._tick = OncePerTick(self._flush_all, "originchats.flusher")

    def add(self, ws: FrameSender) -> None:
        self.dirty.append(ws)
        self._tick.arm()

    def _flush_all(self) -> None:
        dirty, self.dirty = self.dirty, []
        for ws in dirty:
            try:
                ws.flush()
            except Exception:  # never let one socket stop the flushing of the others
                log.exception("flush_failed")


@attrs.define(eq=False)
class FrameSender:
    """The outgoing side of one accepted WebSocket: `push()` queues encoded frames.

    Exactly one task runs `run_writer` (on demand, see `run_in`); `push` is synchronous and never
    blocks.
    """

    stream: trio.abc.Stream
    _close_sent: bool = False  # serializes our control frames (above)
    _queue: list[bytes] = attrs.Factory(list)
    _queued_bytes: int = 0
    _woken: bool = False  # the writer has something to do (queued frames, a close)
    _wake: trio.Event | None = None  # what the writer task waits on, only while it waits
    closing: bool = False
    close_code: int | None = None
    # direct writes (see Flusher): the socket's fd while the writer task is alive, else -1
    _flusher: Flusher | None = None
    _fd: int = -1
    _dirty: bool = False
    _sending: bool = False  # the writer task is inside send_all: it owns the socket
    # Where the writer task is started, only when needed (a close, a slow reader, a stream without
    # fd), which saves a task per idle connection: a nursery shared by the connections. None:
    # run_writer is driven by the caller (unit tests).
    _tasks: trio.Nursery | None = None
    # the connection's cancel scope: cancelled when the writer is done, and given a deadline of
    # `_close_grace` seconds once closing
    _scope: trio.CancelScope | None = None
    _close_grace: float = 5.0
    _writer_started: bool = False
    _writer_done: trio.Event | None = None  # set when the writer task ended (or could not start)
    # permessage-deflate, when this client negotiated it (server/deflate.py); None: plain frames
    deflate: Deflate | None = None
    too_slow: bool = False  # closed for falling MAX_OUTBOX_BYTES behind (counted by /metrics)

    def use_flusher(self, flusher: Flusher) -> None:
        """Write through `flusher` when the stream is a real socket (not in-memory test streams)."""
        if isinstance(self.stream, (trio.SocketStream, FastStream)):
            self._flusher = flusher
            self._fd = self.stream.socket.fileno()

    def run_in(self, nursery: trio.Nursery, scope: trio.CancelScope, close_grace: float) -> None:
        """Start the writer in `nursery` on demand. `scope` is the connection's: cancelled once the
        writer is done (close frame sent, or the peer gone); once closing, it gets a deadline
        `close_grace` seconds away (a peer that stopped reading cannot hold it open)."""
        self._tasks = nursery
        self._scope = scope
        self._close_grace = close_grace
        if self.closing:
            scope.deadline = min(scope.deadline, trio.current_time() + close_grace)
        if self._woken:  # something was queued before (the handshake, on a memory stream)
            self._wake_writer()

    async def flushed(self) -> None:
        """Until the writer task is done: the close frame is out, or the peer is gone. Call it
        once closing, inside the connection's scope (whose deadline bounds the wait)."""
        if self._writer_done is None:
            self._writer_done = trio.Event()
        if not self._writer_started:
            self._writer_done.set()  # nothing to wait for: never started, or it could not
        await self._writer_done.wait()

    def detach(self) -> None:
        """The connection is over (its stream is about to close): never write to its fd again."""
        self._fd = -1
        self._tasks = None
        self._scope = None

    def _wake_writer(self) -> None:
        self._woken = True
        if self._wake is not None:
            self._wake.set()
        if self._tasks is not None and not self._writer_started:
            self._writer_started = True
            try:
                self._tasks.start_soon(self._writer_task)
            except RuntimeError:  # the nursery is closing: the connection is ending anyway
                self._writer_started = False

    async def _writer_task(self) -> None:
        try:
            await self.run_writer()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:  # crash barrier: a bug ends this connection only
            log.exception("connection_crashed", where="writer")
        finally:
            self._writer_started = True
            if self._writer_done is None:
                self._writer_done = trio.Event()
            self._writer_done.set()
            # once the writer is done the read loop ends too
            if self._scope is not None:
                self._scope.cancel()

    def _mark_closing(self, code: int | None) -> None:
        self.closing = True
        self.close_code = code
        scope = self._scope
        if scope is not None:
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
            self.too_slow = True
            return
        if not self._dirty:  # else it is already listed for this tick's flush
            self._kick()

    def preface(self, data: bytes, wait: bool = False) -> None:
        """Put `data` (the upgrade's `101` response) before everything queued so far, before any of
        it was written: the response and the handshake frame leave in one `write`. `wait`: the
        handshake is not queued yet (a gateway's, from the core): `data` leaves with it."""
        self._queue.insert(0, data)
        self._queued_bytes += len(data)
        if not wait and not self._dirty and not self._woken:
            self._kick()

    def send_text(self, text: str) -> None:
        self.push(reply_frame(self.deflate, text))

    def ping(self, payload: bytes = b"hb") -> None:
        if not self.closing:
            self.push(bytes(SERVER_FRAMES.ping(payload)))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close frame after what is already queued; the writer then ends the connection."""
        if self.closing:
            return
        self._send_close(code, reason)
        self._mark_closing(code)

    def _send_close(self, code: int, reason: str) -> None:
        if not self._close_sent:
            self._close_sent = True
            self._queue.append(bytes(SERVER_FRAMES.close(code, reason)))

    async def run_writer(self) -> None:
        """Send whatever is queued in one write; return after the close frame went out."""
        try:
            while True:
                if not self._woken:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    self._wake = None
                else:
                    await trio.lowlevel.checkpoint()
                self._woken = False
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
