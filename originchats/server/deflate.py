"""WebSocket compression: permessage-deflate (RFC 7692), negotiated without context takeover.

Browsers always offer `permessage-deflate`. We accept an offer with both
`server_no_context_takeover` and `client_no_context_takeover` in the answer, so every message is
compressed on its own, in both directions:

* out: a frame's compressed bytes depend on nothing but its payload, so a broadcast is compressed
  ONCE (server/ws_send.py `compressed_frame`) and the same bytes go to every receiver that
  negotiated the extension (server/sockets.py `send`), beside the plain frame for the others. Only payloads of at least
  `threshold` bytes are compressed: most chat frames are smaller and go out as they are, at no
  cost; history pages and channel lists shrink. (The original compresses per receiver.)
* in: a client's compressed message is inflated by a decompressor made for that message and
  dropped after it, so an idle connection keeps no zlib state (a window is 32 KiB). The size limit
  of a message (`limits.max_frame_size`, and the before-login one) applies to the decompressed
  bytes, and inflating stops one byte past it: a decompression bomb is refused with close 1009
  ("message too big") after at most that much output. Invalid deflate data closes with 1007.

A client that does not offer the extension (or offers only parameters we do not take, such as a
`server_max_window_bits` below 15: the shared frame is compressed with a 32 KiB window) gets plain
frames, as before.

The reading side needs wsproto's frame decoder to let RSV1 through on the first frame of a
message; `InboundRsv1` is that extension (it does not inflate: server/ws.py does, with the limit).
"""

from __future__ import annotations

import zlib

import attrs
from wsproto.frame_protocol import CloseReason, Opcode, RsvBits

NAME = b"permessage-deflate"
#: the answer to an accepted offer (Sec-WebSocket-Extensions of the 101)
RESPONSE = b"permessage-deflate; server_no_context_takeover; client_no_context_takeover"
TAIL = b"\x00\x00\xff\xff"  # what RFC 7692 §7.2.1 strips from each compressed message
_PARAMS = frozenset({b"server_no_context_takeover", b"client_no_context_takeover", b"client_max_window_bits",
                     b"server_max_window_bits"})


@attrs.frozen
class Deflate:
    """The `[compression]` settings as the sending side uses them; one instance for the server."""

    threshold: int = 1024
    level: int = 1

    def compress(self, data: bytes) -> bytes:
        """The compressed payload of one message (RFC 7692 §7.2.1: a sync flush, its tail removed)."""
        c = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        body = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        return body[:-4] if body.endswith(TAIL) else body


def _answer(params: list[bytes]) -> bytes | None:
    """Our answer to one offer (its parameters after the name), or None when we cannot take it."""
    seen = set()
    for param in params:
        name, eq, value = param.partition(b"=")
        name, value = name.strip().lower(), value.strip().strip(b'"')
        if name not in _PARAMS or name in seen:
            return None
        seen.add(name)
        if name == b"client_max_window_bits":
            if eq and not (value.isdigit() and 8 <= int(value) <= 15):
                return None
        elif name == b"server_max_window_bits":
            if value != b"15":  # we compress with a 32 KiB window (one frame for every receiver)
                return None
        elif eq:
            return None
    # RFC 7692 §7.1.2.1: an accepted server_max_window_bits is echoed
    return RESPONSE + b"; server_max_window_bits=15" if b"server_max_window_bits" in seen else RESPONSE


def negotiate(values: list[bytes]) -> bytes | None:
    """Our `Sec-WebSocket-Extensions` answer when the header values of an upgrade hold an offer of
    permessage-deflate that we accept (the first such offer), else None."""
    for value in values:
        for offer in value.split(b","):
            name, *params = offer.split(b";")
            if name.strip().lower() == NAME:
                answer = _answer(params)
                if answer is not None:
                    return answer
    return None


def offers(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    """The `Sec-WebSocket-Extensions` values of a request (names lower-cased or not)."""
    return [v for k, v in headers if k.lower() == b"sec-websocket-extensions"]


class InboundRsv1:
    """For wsproto's FrameDecoder: RSV1 is allowed on the first frame of a data message (it marks a
    compressed message: `compressed` says whether the current one is); anywhere else it is a
    protocol error. Payloads pass through untouched."""

    name = NAME.decode()

    def __init__(self) -> None:
        self.compressed = False

    def enabled(self) -> bool:
        return True

    def frame_inbound_header(self, proto: object, opcode: Opcode, rsv: RsvBits,
                             payload_length: int) -> RsvBits | CloseReason:
        if opcode.iscontrol() or opcode is Opcode.CONTINUATION:
            if rsv.rsv1:
                return CloseReason.PROTOCOL_ERROR
        else:
            self.compressed = rsv.rsv1
        return RsvBits(True, False, False)

    def frame_inbound_payload_data(self, proto: object, data: bytes) -> bytes:
        return data

    def frame_inbound_complete(self, proto: object, fin: bool) -> None:
        return None
