"""A small WebSocket server connection on a trio stream, over the sans-I/O libraries h11 and wsproto.

Why not trio-websocket: measured on this machine (../shared/bench/README.md), trio-websocket paid a
lock and an await per receiver per frame and delivered ~8 k frames/s to 300 receivers, while this
shape (frames encoded once, a writer per connection that coalesces its queue into one `send_all`)
delivered 113-139 k/s. Server frames are unmasked, so one encoded broadcast frame is valid for
every receiver: `encode_text` runs once per broadcast, `WebSocket.push` once per receiver.

h11 parses the HTTP request (the same port serves plain HTTP routes); an upgrade request gets a
`101` here and the rest of the byte stream goes to wsproto's `FrameDecoder`, which parses and
checks the frames (masking, lengths, opcodes, reserved bits) and hands over payloads as bytes.
Messages are assembled here from those bytes and decoded from UTF-8 once, when complete: a partial
message is held as the raw bytes that arrived (wsproto's `Connection` would hand over decoded
`str` pieces, which take 4 bytes per character once one wide character is among them). Limits:
* `max_message` bytes per message (close 1009); `InputLimits.max_message_before_login` until the
  socket logs in, `InputLimits.max_message` after;
* `InputLimits.login_timeout`: a socket not logged in by then is closed (1008 "login timeout");
* an `InputBudget` bounds the bytes of unfinished messages held across all connections (policy
  "refuse the newcomer": the socket whose fragment would go past it is closed, 1013).
Binary messages are ignored (the protocol is text only), but count against the size limit.
"""

from __future__ import annotations

import base64
import hashlib
import os

import attrs
import structlog
import h11
import trio
from wsproto.frame_protocol import (LOCAL_ONLY_CLOSE_REASONS, MAX_CLOSE_REASON, MAX_PROTOCOL_CLOSE_REASON,
                                    MIN_CLOSE_REASON, CloseReason, FrameDecoder, FrameProtocol, Opcode,
                                    ParseFailed)

from .tick import OncePerTick

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


RECEIVE_BYTES = 65536  # one read from the socket
LOGIN_TIMEOUT_CODE, LOGIN_TIMEOUT_REASON = 1008, "login timeout"
BUSY_CODE, BUSY_REASON = 1013, "server busy"  # the input budget is exhausted


class InputRefused(Exception):
    """The socket's input broke a limit (`limit`); the close frame is already queued. `event` and
    `reason` are for the log."""

    event = "input_refused"
    reason = ""

    def __init__(self, limit: float = 0) -> None:
        super().__init__(limit)
        self.limit = limit


class MessageTooBig(InputRefused):
    event, reason = "frame_rejected", "too_big"


class BudgetExhausted(InputRefused):
    event, reason = "frame_rejected", "input_budget"


class LoginTimeout(InputRefused):
    event, reason = "login_timeout", "login_timeout"


@attrs.frozen
class InputLimits:
    max_message: int = 4 * 1024 * 1024  # bytes per message once logged in
    max_message_before_login: int = 16 * 1024  # before
    login_timeout: float = 30.0  # seconds from the upgrade to the login


def _find_malloc_trim():  # type: ignore[no-untyped-def]
    """glibc's `malloc_trim`, or None (another C library)."""
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        fn = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


_malloc_trim = _find_malloc_trim()
TRIM_AFTER = 16 * 1024 * 1024  # bytes of held input given back before the C heap is trimmed


@attrs.define(eq=False)
class InputBudget:
    """The bytes of unfinished incoming messages held by all sockets together, at most `limit`.

    Named policy, "refuse the newcomer": a socket whose next fragment would take the total past
    `limit` is closed with 1013 "server busy" (its held bytes are given back); sockets already
    holding bytes keep them. What is charged is the allocation of each held buffer, so the total
    is the memory actually held. Complete messages that arrive in one read are never held.

    Memory goes back to the system when held messages go: once `TRIM_AFTER` bytes were given back
    since the last time, glibc's `malloc_trim` returns the free pages of the C heap (else glibc
    keeps much of it, having raised its mmap threshold to the size of the big buffers it freed).
    """

    limit: int
    used: int = 0
    _given: int = 0  # since the last trim

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n
        self._given += n
        if self._given >= TRIM_AFTER and self._given >= 2 * self.used:
            self._given = 0
            if _malloc_trim is not None:
                _malloc_trim(0)


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a peer's close frame; ParseFailed when it is malformed (RFC 6455 §5.5.1, §7.4)."""
    if not payload:
        return CloseReason.NO_STATUS_RCVD, ""
    if len(payload) == 1:
        raise ParseFailed("CLOSE with 1 byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not MIN_CLOSE_REASON <= code <= MAX_CLOSE_REASON or code in LOCAL_ONLY_CLOSE_REASONS:
        raise ParseFailed("CLOSE with invalid code")
    if code <= MAX_PROTOCOL_CLOSE_REASON:
        try:
            CloseReason(code)
        except ValueError:
            raise ParseFailed("CLOSE with unknown reserved code") from None
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ParseFailed("invalid UTF-8 in CLOSE reason", CloseReason.INVALID_FRAME_PAYLOAD_DATA) from None


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
        self._tick = OncePerTick(self._flush_all, "originchats.flusher")

    def add(self, ws: WebSocket) -> None:
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
class WebSocket:
    """One accepted WebSocket. `receive()` yields text messages; `push()` queues encoded frames.

    Exactly one task calls `receive` and one runs `run_writer`; `push` is synchronous and never
    blocks, so a broadcast never waits for a slow receiver.
    """

    stream: trio.abc.Stream
    trailing: bytes = b""
    max_message: int = 4 * 1024 * 1024  # the limit now (see `limits`)
    # with limits: the socket starts with the before-login limit and deadline (`set_logged_in`)
    limits: InputLimits | None = None
    budget: InputBudget | None = None
    login_deadline: float | None = None  # trio time; None once logged in (or without limits)
    _frames: FrameDecoder = attrs.field(init=False)
    _proto: FrameProtocol = attrs.field(init=False)  # serializes our control frames
    _opcode: Opcode | None = None  # of the message being received
    _size: int = 0  # its bytes so far
    _held: bytearray | None = None  # its text so far (when it did not arrive in one read)
    _charged: int = 0  # of the budget, for _held
    _close_sent: bool = False
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
        self._frames = FrameDecoder(client=False, extensions=[])
        self._proto = FrameProtocol(client=False, extensions=[])
        if self.trailing:
            self._frames.receive_bytes(self.trailing)
        self.last_seen = trio.current_time()
        if self.limits is not None:
            self.set_logged_in(False)

    def set_logged_in(self, logged_in: bool) -> None:
        """Switch between the before-login limits (a deadline and a small message limit) and the
        normal ones; cheap to call after every command."""
        limits = self.limits
        if limits is None or logged_in == (self.login_deadline is None):
            return
        if logged_in:
            self.login_deadline = None
            self.max_message = limits.max_message
        else:
            self.login_deadline = trio.current_time() + limits.login_timeout
            self.max_message = limits.max_message_before_login

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
        """The connection is over (its stream is about to close): never write to its fd again, and
        give back the input it held."""
        self._fd = -1
        self._tasks = None
        self._drop_held()

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
        if not self.closing:
            self.push(bytes(self._proto.ping(payload)))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close frame after what is already queued; the writer then ends the connection."""
        if self.closing:
            return
        self._send_close(code, reason)
        self._mark_closing(code)

    def _send_close(self, code: int, reason: str) -> None:
        if not self._close_sent:
            self._close_sent = True
            self._queue.append(bytes(self._proto.close(code, reason)))

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

        Raises an `InputRefused` (after queueing the close frame) when the input breaks a limit:
        `MessageTooBig` (1009), `BudgetExhausted` (1013), `LoginTimeout` (1008).
        """
        while not self.closing:
            text = self._next_message()
            if text is not None or self.closing:
                return text
            deadline = self.login_deadline
            if deadline is None:
                data = await self.stream.receive_some(RECEIVE_BYTES)
            else:
                data = None
                with trio.move_on_at(deadline):
                    data = await self.stream.receive_some(RECEIVE_BYTES)
                if data is None:
                    self.close(LOGIN_TIMEOUT_CODE, LOGIN_TIMEOUT_REASON)
                    raise LoginTimeout(self.limits.login_timeout if self.limits else 0)
            if not data:
                self._mark_closing(self.close_code)
                return None
            self.last_seen = trio.current_time()
            self._frames.receive_bytes(data)
        return None

    def _next_message(self) -> str | None:
        """Process the frames received so far: the first complete text message, else None (more
        data needed, or the connection is now closing)."""
        frames = self._frames
        while True:
            try:
                frame = frames.process_buffer()
                if frame is None:
                    return None
                opcode = frame.opcode
                if opcode.iscontrol():
                    if opcode is Opcode.PING:
                        self.push(bytes(self._proto.pong(frame.payload)))
                    elif opcode is Opcode.CLOSE:
                        # the peer closes: answer with the same code, then end
                        code, reason = parse_close(frame.payload)
                        self._send_close(code, reason)
                        self._mark_closing(code)
                        return None
                    continue  # a pong
                if opcode is Opcode.CONTINUATION:
                    if self._opcode is None:
                        raise ParseFailed("unexpected CONTINUATION")
                elif self._opcode is not None:
                    raise ParseFailed(f"expected CONTINUATION, got {opcode!r}")
                else:
                    self._opcode = opcode
            except ParseFailed as exc:  # a protocol error by the peer
                self.close(exc.code, str(exc))
                return None
            payload = frame.payload
            self._size += len(payload)
            if self._size > self.max_message:
                self.close(1009, "message too big")
                self._drop_held()
                raise MessageTooBig(self.max_message)
            finished = frame.frame_finished and frame.message_finished
            if self._opcode is not Opcode.TEXT:  # binary messages are ignored (counted, not kept)
                if finished:
                    self._opcode, self._size = None, 0
                continue
            held = self._held
            if held is None:
                if finished:  # the whole message in one piece: never held, decoded at once
                    self._opcode, self._size = None, 0
                    return self._decode(payload)
                held = self._held = bytearray()
            held += payload
            self._charge(held)
            if finished:
                self._opcode, self._size = None, 0
                try:
                    return self._decode(held)
                finally:
                    self._drop_held()

    def _decode(self, data: bytes | bytearray) -> str | None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.close(CloseReason.INVALID_FRAME_PAYLOAD_DATA, "invalid UTF-8")
            return None

    def _charge(self, held: bytearray) -> None:
        """Charge the budget for what `held` has allocated now (the memory it really takes)."""
        if self.budget is None:
            return
        alloc = held.__alloc__()
        if alloc > self._charged:
            if not self.budget.take(alloc - self._charged):
                self._drop_held()
                self.close(BUSY_CODE, BUSY_REASON)
                raise BudgetExhausted(self.budget.limit)
            self._charged = alloc

    def _drop_held(self) -> None:
        self._held = None
        if self._charged:
            if self.budget is not None:
                self.budget.give(self._charged)
            self._charged = 0


__all__ = ["WebSocket", "encode_text", "upgrade_response", "InputRefused", "MessageTooBig", "BudgetExhausted",
           "LoginTimeout", "InputLimits", "InputBudget", "CloseReason"]
