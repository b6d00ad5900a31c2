"""The records that cross Redis between gateways and the core, packed into one binary blob per batch.

Pure: no I/O. A gateway sends the core one `Inbound` batch per scheduler tick (what its sockets did
in that tick), and the core sends each gateway one `Outbound` batch per tick (what its sockets must
get). Every record names a connection by the gateway's own id for it (`local`), so the ids are
namespaced by gateway; the core keeps its own id per (gateway, local).

A frame that goes to many connections of one gateway is carried once, with the list of its
receivers: the core never sends one copy per receiver. Frames are whole WebSocket frames (header and
payload), encoded once by the core; the gateway writes them to its sockets as they are.

Both batch kinds carry a sequence number per (sender instance, receiver instance), so a receiver can
drop a batch it already took (a retried send after an ambiguous failure) and see a gap (batches
lost with a Redis restart). Layout, little-endian: a header, then records that each start with a
one-byte kind. Unknown kinds end the parse (`WireError`): both sides run the same version.
"""

from __future__ import annotations

import json
import struct
from array import array
from typing import Any

import attrs

VERSION = 1
_IN_HEAD = struct.Struct("<BQQQH")  # version, gateway boot, core epoch, seq, len(name)
_OUT_HEAD = struct.Struct("<BQQQ")  # version, core epoch, gateway boot, seq
_U32 = struct.Struct("<I")
_U32x2 = struct.Struct("<II")
_CLOSE = struct.Struct("<IHH")  # local, code, len(reason)
_DONE = struct.Struct("<IB")  # local, logged in
_OPEN = struct.Struct("<IBH")  # local, permessage-deflate negotiated, len(ip)

# inbound record kinds
OPEN, TEXT, BAD, CLOSED = b"O"[0], b"M"[0], b"U"[0], b"X"[0]
# outbound record kinds
FRAME, CLOSE, DONE, RESET = b"F"[0], b"C"[0], b"D"[0], b"R"[0]


class WireError(ValueError):
    """A blob that is not a batch of this version."""


@attrs.define(eq=False)
class Inbound:
    """What one gateway's sockets did, in order: opened (with the client's address and whether it
    negotiated permessage-deflate: the core compresses a big frame once, as on one process), sent a text
    frame, sent one that is not a command (`BAD`: the error to answer, decided at the gateway), closed."""

    gateway: str
    boot: int  # random per gateway process: a restarted gateway is a new one
    epoch: int  # the core instance this is meant for (0: none known yet)
    seq: int
    records: list[tuple[int, int, Any]] = attrs.Factory(list)  # (kind, local, value)

    def open(self, local: int, ip: str, deflate: bool = False) -> None:
        self.records.append((OPEN, local, (ip, deflate)))

    def text(self, local: int, text: str) -> None:
        self.records.append((TEXT, local, text))

    def bad(self, local: int, val: str, reason: str, listener: str | None, fields: dict[str, Any]) -> None:
        self.records.append((BAD, local, (val, reason, listener, fields)))

    def closed(self, local: int) -> None:
        self.records.append((CLOSED, local, None))

    def pack(self) -> bytes:
        name = self.gateway.encode()
        out = [_IN_HEAD.pack(VERSION, self.boot, self.epoch, self.seq, len(name)), name]
        for kind, local, value in self.records:
            if kind == TEXT:
                data = value.encode("utf-8", "surrogatepass")
                out += [bytes((kind,)), _U32x2.pack(local, len(data)), data]
            elif kind == OPEN:
                ip = value[0].encode()
                out += [bytes((kind,)), _OPEN.pack(local, 1 if value[1] else 0, len(ip)), ip]
            elif kind == BAD:
                data = json.dumps(value, default=str).encode()
                out += [bytes((kind,)), _U32x2.pack(local, len(data)), data]
            else:
                out += [bytes((kind,)), _U32.pack(local)]
        return b"".join(out)

    @classmethod
    def unpack(cls, blob: bytes) -> Inbound:
        try:
            version, boot, epoch, seq, n = _IN_HEAD.unpack_from(blob)
            if version != VERSION:
                raise WireError(f"batch version {version}, expected {VERSION}")
            at = _IN_HEAD.size
            batch = cls(gateway=blob[at:at + n].decode(), boot=boot, epoch=epoch, seq=seq)
            at += n
            records = batch.records
            size = len(blob)
            while at < size:
                kind = blob[at]
                at += 1
                if kind == TEXT:
                    local, length = _U32x2.unpack_from(blob, at)
                    at += 8
                    records.append((kind, local, blob[at:at + length].decode("utf-8", "surrogatepass")))
                    at += length
                elif kind == OPEN:
                    local, deflate, length = _OPEN.unpack_from(blob, at)
                    at += _OPEN.size
                    records.append((kind, local, (blob[at:at + length].decode(), bool(deflate))))
                    at += length
                elif kind == BAD:
                    local, length = _U32x2.unpack_from(blob, at)
                    at += 8
                    val, reason, listener, fields = json.loads(blob[at:at + length])
                    records.append((kind, local, (val, reason, listener, fields)))
                    at += length
                elif kind == CLOSED:
                    (local,) = _U32.unpack_from(blob, at)
                    at += 4
                    records.append((kind, local, None))
                else:
                    raise WireError(f"unknown inbound record {kind!r}")
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            if isinstance(exc, WireError):
                raise
            raise WireError(str(exc)) from None
        return batch


@attrs.define(eq=False)
class Outbound:
    """What one gateway's sockets must get, in order. A frame pushed to several connections in a row
    (one broadcast) is one `FRAME` record with all of them."""

    epoch: int
    boot: int
    seq: int = 0
    records: list[tuple[int, Any, Any]] = attrs.Factory(list)  # (kind, a, b)
    # the frame the last record carries and its receivers (a broadcast adds one receiver at a time)
    last_frame: bytes | None = None
    last_locals: array | None = None

    def frame(self, frame: bytes, local: int) -> None:
        if frame is self.last_frame:  # the same broadcast, one more receiver
            self.last_locals.append(local)  # type: ignore[union-attr]
            return
        locals_ = array("I", (local,))
        self.records.append((FRAME, frame, locals_))
        self.last_frame, self.last_locals = frame, locals_

    def close(self, local: int, code: int, reason: str) -> None:
        self.records.append((CLOSE, local, (code, reason)))
        self.last_frame = None

    def done(self, local: int, logged_in: bool) -> None:
        self.records.append((DONE, local, logged_in))
        self.last_frame = None

    def reset(self) -> None:
        self.records.append((RESET, 0, None))
        self.last_frame = None

    def __bool__(self) -> bool:
        return bool(self.records)

    def pack(self) -> bytes:
        out = [_OUT_HEAD.pack(VERSION, self.epoch, self.boot, self.seq)]
        for kind, a, b in self.records:
            if kind == FRAME:
                out += [bytes((kind,)), _U32x2.pack(len(a), len(b)), a, b.tobytes()]
            elif kind == CLOSE:
                reason = b[1].encode()[:123]
                out += [bytes((kind,)), _CLOSE.pack(a, b[0], len(reason)), reason]
            elif kind == DONE:
                out += [bytes((kind,)), _DONE.pack(a, 1 if b else 0)]
            else:
                out.append(bytes((kind,)))
        return b"".join(out)

    @classmethod
    def unpack(cls, blob: bytes) -> Outbound:
        try:
            version, epoch, boot, seq = _OUT_HEAD.unpack_from(blob)
            if version != VERSION:
                raise WireError(f"batch version {version}, expected {VERSION}")
            batch = cls(epoch=epoch, boot=boot, seq=seq)
            records = batch.records
            at, size = _OUT_HEAD.size, len(blob)
            while at < size:
                kind = blob[at]
                at += 1
                if kind == FRAME:
                    length, count = _U32x2.unpack_from(blob, at)
                    at += 8
                    frame = blob[at:at + length]
                    at += length
                    locals_ = array("I")
                    locals_.frombytes(blob[at:at + 4 * count])
                    at += 4 * count
                    records.append((kind, frame, locals_))
                elif kind == CLOSE:
                    local, code, length = _CLOSE.unpack_from(blob, at)
                    at += _CLOSE.size
                    records.append((kind, local, (code, blob[at:at + length].decode("utf-8", "replace"))))
                    at += length
                elif kind == DONE:
                    local, flag = _DONE.unpack_from(blob, at)
                    at += _DONE.size
                    records.append((kind, local, bool(flag)))
                elif kind == RESET:
                    records.append((kind, 0, None))
                else:
                    raise WireError(f"unknown outbound record {kind!r}")
        except (struct.error, ValueError) as exc:
            if isinstance(exc, WireError):
                raise
            raise WireError(str(exc)) from None
        return batch
