"""The JSON upload body of POST /attachments/upload, parsed as it streams in (pure: bytes in, bytes out).

The body is one JSON object. Its `file` string (a data URI `data:<anything>;base64,<b64>` or raw
base64; JSON escapes such as `\\/` allowed, escaped line breaks skipped) is base64-decoded on the
fly: `feed(chunk)` returns the file bytes that chunk completed, so the caller can write them to
disk and hash them without ever holding the file. Every other top-level value is collected as raw
JSON text, all of them together capped at `fields_limit` bytes (keys included), and decoded by
`json.loads` when it ends. Any split of the body into chunks gives the same result, including a
split inside an escape or inside a base64 quad.

Errors are `BodyError(status, text)`: 400 `Invalid JSON body` for anything that is not one JSON
object (or ends before it is complete, see `finish`), 400 with a clear text for bad base64, 413
when the decoded file or the fields go past their limit.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

INVALID_JSON = "Invalid JSON body"
INVALID_BASE64 = "Invalid base64 in file (expected a data URI or standard base64)"
MAX_DATA_URI_PREFIX = 1024  # bytes of `data:<anything>;base64,` before the comma

_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_WS = b" \t\r\n"
_HEX4 = re.compile(rb"[0-9a-fA-F]{4}")
_ESCAPES = {ord("/"): b"/", ord("n"): b"", ord("r"): b"", ord("t"): b"",  # line breaks in base64: skipped
            ord('"'): b'"', ord("\\"): b"\\", ord("b"): b"\b", ord("f"): b"\f"}

# states of the object around the values
_START, _FIRST_KEY, _KEY, _KEY_STR, _COLON, _VALUE, _RAW, _FILE, _AFTER, _END = range(10)
# sub-states of the file string
_PREFIX, _URI, _B64_MODE = range(3)


class BodyError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def too_large(file_limit: int) -> BodyError:
    return BodyError(413, f"Request body too large (max {file_limit} bytes)")


class UploadBody:
    """Feed the body's bytes with `feed`, then call `finish`; `fields` and `file_size` hold the result."""

    def __init__(self, *, file_limit: int, fields_limit: int) -> None:
        self.file_limit = file_limit
        self.fields_limit = fields_limit
        self.fields: dict[str, Any] = {}
        self.has_file = False
        self.file_size = 0
        self._state = _START
        self._held = b""  # an incomplete escape of the file string, waiting for its next chunk
        self._key = bytearray()  # raw key text, quotes included
        self._raw = bytearray()  # raw text of the current non-file value
        self._fields_bytes = 0
        self._depth = 0  # nesting of the current raw value
        self._in_str = False
        self._escaped = False
        self._mode = _PREFIX
        self._prefix = bytearray()
        self._pending = b""  # base64 characters not yet making a whole quad
        self._padded = False  # a quad with `=` was decoded: the data has ended

    # -- the file string ---------------------------------------------------------------------
    def _b64(self, text: bytes, out: list[bytes]) -> None:
        if not text:
            return
        if text.translate(None, _B64):
            raise BodyError(400, INVALID_BASE64)
        if self._padded:
            raise BodyError(400, INVALID_BASE64)
        data = self._pending + text
        whole = len(data) - len(data) % 4
        self._pending = data[whole:]
        if whole:
            quads = data[:whole]
            try:
                decoded = binascii.a2b_base64(quads, strict_mode=True)
            except binascii.Error:
                raise BodyError(400, INVALID_BASE64) from None
            self._padded = quads.endswith(b"=")
            self._grow(len(decoded))
            out.append(decoded)

    def _grow(self, n: int) -> None:
        self.file_size += n
        if self.file_size > self.file_limit:
            raise too_large(self.file_limit)

    def _file_text(self, text: bytes, out: list[bytes]) -> None:
        """Decoded characters of the file string (escapes already resolved)."""
        if self._mode == _B64_MODE:
            self._b64(text, out)
            return
        for i in range(len(text)):
            c = text[i:i + 1]
            if self._mode == _PREFIX:
                self._prefix += c
                if not b"data:".startswith(bytes(self._prefix)):
                    self._mode = _B64_MODE
                    self._b64(bytes(self._prefix) + text[i + 1:], out)
                    return
                if len(self._prefix) == 5:
                    self._mode = _URI
            elif self._mode == _URI:
                if c == b",":
                    if not self._prefix.endswith(b";base64"):
                        raise BodyError(400, "The file data URI must be base64 (data:<type>;base64,...)")
                    self._mode = _B64_MODE
                    self._b64(text[i + 1:], out)
                    return
                self._prefix += c
                if len(self._prefix) > MAX_DATA_URI_PREFIX:
                    raise BodyError(400, INVALID_BASE64)

    def _end_file(self, out: list[bytes]) -> None:
        if self._mode == _URI:
            raise BodyError(400, "The file data URI must be base64 (data:<type>;base64,...)")
        if self._mode == _PREFIX and self._prefix:  # a short raw string such as "da"
            self._mode = _B64_MODE
            self._b64(bytes(self._prefix), out)
        rest = self._pending.rstrip(b"=")
        if self._pending and (self._padded or b"=" in rest or len(rest) < 2):
            raise BodyError(400, INVALID_BASE64)
        if rest:  # a last quad without (all of) its padding
            decoded = binascii.a2b_base64(rest + b"=" * (-len(rest) % 4))
            self._grow(len(decoded))
            out.append(decoded)
        self._pending = b""
        self.has_file = True

    def _file(self, data: bytes, i: int, out: list[bytes]) -> int:
        """Consume the file string from `data[i:]`; the index after what was consumed."""
        n = len(data)
        while i < n:
            quote = data.find(b'"', i)  # two memchr scans: far faster than a regex over megabytes
            j = data.find(b"\\", i, n if quote < 0 else quote)
            if j < 0:
                j = n if quote < 0 else quote
            self._file_text(data[i:j], out)
            if j == n:
                return n
            if data[j] == 0x22:  # closing quote
                self._end_file(out)
                self._state = _AFTER
                return j + 1
            kind = data[j + 1] if j + 1 < n else None
            if kind is None:
                self._held = data[j:]
                return n
            if kind == ord("u"):
                if j + 6 > n:
                    self._held = data[j:]
                    return n
                if not _HEX4.fullmatch(data, j + 2, j + 6):
                    raise BodyError(400, INVALID_JSON)
                try:
                    char = chr(int(data[j + 2:j + 6], 16)).encode("utf-8")
                except ValueError:  # a lone surrogate
                    raise BodyError(400, INVALID_BASE64) from None
                self._file_text(b"" if char in (b"\n", b"\r", b"\t", b" ") else char, out)
                i = j + 6
                continue
            if kind not in _ESCAPES:
                raise BodyError(400, INVALID_JSON)
            self._file_text(_ESCAPES[kind], out)
            i = j + 2
        return i

    # -- everything else ---------------------------------------------------------------------
    def _count(self, n: int = 1) -> None:
        self._fields_bytes += n
        if self._fields_bytes > self.fields_limit:
            raise BodyError(413, f"Upload fields too large (max {self.fields_limit} bytes besides the file)")

    def _end_raw(self) -> None:
        try:
            key = json.loads(bytes(self._key))
            self.fields[key] = json.loads(bytes(self._raw))
        except ValueError:
            raise BodyError(400, INVALID_JSON) from None
        self._raw.clear()
        self._state = _AFTER

    def feed(self, chunk: bytes) -> bytes:
        """The file bytes this chunk completes (often b"")."""
        data = self._held + chunk if self._held else chunk
        self._held = b""
        out: list[bytes] = []
        i, n = 0, len(data)
        while i < n:
            state = self._state
            if state == _FILE:
                i = self._file(data, i, out)
                continue
            c = data[i]
            i += 1
            if state == _KEY_STR or state == _RAW:
                self._count()
                buf = self._key if state == _KEY_STR else self._raw
                if self._in_str:
                    buf.append(c)
                    if self._escaped:
                        self._escaped = False
                    elif c == 0x5C:
                        self._escaped = True
                    elif c == 0x22:
                        self._in_str = False
                        if state == _KEY_STR:
                            self._state = _COLON
                        elif self._depth == 0:
                            self._end_raw()
                    continue
                if c in b"{[":
                    self._depth += 1
                elif c in b"}]" and self._depth > 0:
                    self._depth -= 1
                elif self._depth == 0 and (c in b",}" or c in _WS):
                    self._end_raw()
                    i -= 1  # the delimiter is read again as what follows the value
                    continue
                elif c == 0x22:
                    self._in_str = True
                buf.append(c)
                if self._depth == 0 and c in b"}]":
                    self._end_raw()
                continue
            if c in _WS:
                continue
            if state == _START:
                if c != 0x7B:
                    raise BodyError(400, INVALID_JSON)
                self._state = _FIRST_KEY
            elif state in (_FIRST_KEY, _KEY):
                if c == 0x7D and state == _FIRST_KEY:
                    self._state = _END
                elif c == 0x22:
                    self._key = bytearray(b'"')
                    self._count()
                    self._in_str, self._escaped = True, False
                    self._state = _KEY_STR
                else:
                    raise BodyError(400, INVALID_JSON)
            elif state == _COLON:
                if c != 0x3A:
                    raise BodyError(400, INVALID_JSON)
                self._state = _VALUE
            elif state == _VALUE:
                if c == 0x22 and bytes(self._key) == b'"file"':
                    if self.has_file:
                        raise BodyError(400, "Only one file per upload")
                    self._state = _FILE
                    continue
                self._raw = bytearray()
                self._depth, self._in_str, self._escaped = 0, False, False
                self._state = _RAW
                i -= 1
            elif state == _AFTER:
                if c == 0x2C:
                    self._state = _KEY
                elif c == 0x7D:
                    self._state = _END
                else:
                    raise BodyError(400, INVALID_JSON)
            else:  # _END: only whitespace may follow the object
                raise BodyError(400, INVALID_JSON)
        return b"".join(out)

    def finish(self) -> None:
        """The body is complete: it must have been one whole JSON object."""
        if self._state != _END:
            raise BodyError(400, INVALID_JSON)
