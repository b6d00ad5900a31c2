"""A small WebSocket server connection on a trio stream, over the sans-I/O libraries h11 and wsproto.

Why not trio-websocket: measured on this machine (../shared/bench/README.md), trio-websocket paid a
lock and an await per receiver per frame and delivered ~8 k frames/s to 300 receivers, while this
shape (frames encoded once, a writer per connection that coalesces its queue into one `send_all`)
delivered 113-139 k/s. The sending half (frames out, the outbox, the flusher) is ws_send.py
`FrameSender`, which `WebSocket` extends; this module is the handshake and the reading half.

h11 parses the HTTP request (the same port serves plain HTTP routes); an upgrade request gets a
`101` here and the rest of the byte stream goes to wsproto's `FrameDecoder`, which parses and
checks the frames (masking, lengths, opcodes, reserved bits) and hands over payloads as bytes.
Messages are assembled here from those bytes and decoded from UTF-8 once, when complete: a partial
message is held as the raw bytes that arrived (wsproto's `Connection` would hand over decoded
`str` pieces, which take 4 bytes per character once one wide character is among them). The limits on input are in ws_limits.py (message size before and after login, the login deadline,
the budget of unfinished messages).
Binary messages are ignored (the protocol is text only), but count against the size limit.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import attrs
import h11
import trio
from wsproto.frame_protocol import (LOCAL_ONLY_CLOSE_REASONS, MAX_CLOSE_REASON, MAX_PROTOCOL_CLOSE_REASON,
                                    MIN_CLOSE_REASON, CloseReason, FrameDecoder, Opcode, ParseFailed)

from .ws_limits import (BUSY_CODE, BUSY_REASON, LOGIN_TIMEOUT_CODE, LOGIN_TIMEOUT_REASON, RECEIVE_BYTES,
                        BudgetExhausted, InputBudget, InputLimits, InputRefused, LoginDeadlines, MessageTooBig)
from .deflate import TAIL, InboundRsv1
from .ws_send import MAX_OUTBOX_BYTES, SERVER_FRAMES, Flusher, FrameSender, encode_text

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: what the input budget is charged for a decompressor held across reads (a 32 KiB window and
#: zlib's inflate state, rounded up)
INFLATE_COST = 48 * 1024


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key.strip() + WS_GUID).digest())


def upgrade_response(request: h11.Request, extensions: bytes | None = None) -> h11.InformationalResponse | None:
    """The 101 for a valid WebSocket upgrade of `GET /` (with `Sec-WebSocket-Extensions:
    extensions` when given), else None."""
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
        *([] if extensions is None else [(b"Sec-WebSocket-Extensions", extensions)]),
    ])


def valid_key(key: bytes) -> bool:
    """RFC 6455 §4.2.1: the key is the base64 encoding of 16 bytes."""
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:
        return False


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


@attrs.define(eq=False)
class WebSocket(FrameSender):
    """One accepted WebSocket. `receive()` yields text messages; `push()` (ws_send.py) queues
    encoded frames.

    Exactly one task calls `receive` and one runs `run_writer`; `push` is synchronous and never
    blocks, so a broadcast never waits for a slow receiver.
    """

    trailing: bytes = b""
    max_message: int = 4 * 1024 * 1024  # the limit now (see `limits`)
    # with limits: the socket starts with the before-login limit and deadline (`set_logged_in`)
    limits: InputLimits | None = None
    budget: InputBudget | None = None
    login_deadline: float | None = None  # trio time; None once logged in (or without limits)
    logins: LoginDeadlines | None = None  # who closes the socket at `login_deadline`
    login_expired: bool = False  # closed for want of a login in time
    busy: bool = False  # a command of this socket is being handled (its login may be under way)
    _frames: FrameDecoder = attrs.field(init=False, factory=lambda: FrameDecoder(client=False, extensions=[]))
    _opcode: Opcode | None = None  # of the message being received
    _size: int = 0  # its bytes so far
    _held: bytearray | None = None  # its text so far (when it did not arrive in one read)
    _charged: int = 0  # of the budget, for _held
    last_seen: float = 0.0  # trio time of the last bytes received (dead-peer detection)
    # permessage-deflate (server/deflate.py): RSV1 of the current message, and its decompressor
    _inbound: InboundRsv1 | None = None
    _inflate: Any = None  # a zlib decompressobj while a compressed message is being received
    _inflate_charged: int = 0  # of the budget, for it

    def __attrs_post_init__(self) -> None:
        if self.deflate is not None:
            self._inbound = InboundRsv1()
            self._frames = FrameDecoder(client=False, extensions=[self._inbound])  # type: ignore[list-item]
        if self.trailing:
            self._frames.receive_bytes(self.trailing)
        self.last_seen = trio.current_time()
        if self.limits is not None:
            if self.logins is None:  # nothing else would close it at its login deadline
                raise ValueError("a WebSocket with input limits needs `logins` to keep its login deadline")
            self.set_logged_in(False)

    def set_logged_in(self, logged_in: bool) -> None:
        """Switch between the before-login limits (a deadline and a small message limit) and the
        normal ones; cheap to call after every command."""
        limits = self.limits
        if limits is None:
            return
        if logged_in == (self.login_deadline is None):
            if not logged_in and self.login_deadline <= trio.current_time():  # type: ignore[operator]
                self.expire_login()  # it fell due while a command was handled
            return
        if logged_in:
            self.login_deadline = None
            self.max_message = limits.max_message
        else:
            self.login_deadline = deadline = trio.current_time() + limits.login_timeout
            self.max_message = limits.max_message_before_login
            self.logins.add(deadline, self)  # type: ignore[union-attr]

    def expire_login(self) -> None:
        """The login deadline passed (ws_limits.LoginDeadlines): close (1008 "login timeout"), unless
        a command is being handled (a login under way): then `set_logged_in` decides after it, as
        a read after the deadline would have."""
        if self.busy or self.closing:
            return
        self.login_expired = True
        self.close(LOGIN_TIMEOUT_CODE, LOGIN_TIMEOUT_REASON)

    def detach(self) -> None:
        """The connection is over (its stream is about to close): never write to its fd again, and
        give back the input it held."""
        super().detach()
        self._drop_held()
        self._drop_inflate()

    async def receive(self) -> str | None:
        """The next complete text message, or None once the connection is closing or closed.

        Raises an `InputRefused` (after queueing the close frame) when the input breaks a limit:
        `MessageTooBig` (1009), `BudgetExhausted` (1013). The login deadline is not kept here but
        by `logins` (ws_limits.LoginDeadlines), which closes the socket (1008).
        """
        while not self.closing:
            text = self._next_message()
            if text is not None or self.closing:
                return text
            data = await self.stream.receive_some(RECEIVE_BYTES)
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
                        self.push(bytes(SERVER_FRAMES.pong(frame.payload)))
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
                payload = frame.payload
                finished = frame.frame_finished and frame.message_finished
                if self._inbound is not None and self._inbound.compressed:
                    payload = self._inflated(payload, finished)
            except ParseFailed as exc:  # a protocol error by the peer
                self.close(exc.code, str(exc))
                self._drop_inflate()
                return None
            self._size += len(payload)
            if self._size > self.max_message:
                self.close(1009, "message too big")
                self._drop_held()
                self._drop_inflate()
                raise MessageTooBig(self.max_message)
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

    def _inflated(self, payload: bytes, finished: bool) -> bytes:
        """The decompressed bytes of a piece of a compressed message: at most one byte more than
        the message may still take (the caller then closes 1009), so a bomb is never inflated
        past the limit. The decompressor lives for one message (no client context takeover); one
        held across reads is charged to the input budget."""
        inflate = self._inflate
        if inflate is None:
            inflate = self._inflate = zlib.decompressobj(-15)
        room = self.max_message - self._size + 1  # > 0: the size was within the limit so far
        try:
            out = inflate.decompress(payload, room)
            if finished and len(out) < room:
                out += inflate.decompress(TAIL, room - len(out))
        except zlib.error:
            raise ParseFailed("invalid compressed data", CloseReason.INVALID_FRAME_PAYLOAD_DATA) from None
        if finished:
            self._drop_inflate()
        elif not self._inflate_charged and self.budget is not None:
            if not self.budget.take(INFLATE_COST):
                self._drop_held()
                self._drop_inflate()
                self.close(BUSY_CODE, BUSY_REASON)
                raise BudgetExhausted(self.budget.limit)
            self._inflate_charged = INFLATE_COST
        return out

    def _drop_inflate(self) -> None:
        self._inflate = None
        if self._inflate_charged:
            if self.budget is not None:
                self.budget.give(self._inflate_charged)
            self._inflate_charged = 0

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


__all__ = ["WebSocket", "FrameSender", "Flusher", "encode_text", "upgrade_response", "accept_key", "valid_key",
           "parse_close", "InputRefused", "MessageTooBig", "BudgetExhausted", "InputLimits",
           "InputBudget", "CloseReason", "MAX_OUTBOX_BYTES", "BUSY_CODE", "BUSY_REASON", "LOGIN_TIMEOUT_CODE",
           "LOGIN_TIMEOUT_REASON", "RECEIVE_BYTES"]
