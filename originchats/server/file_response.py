"""A file as an HTTP answer, streamed from disk: HEAD, Range, ETag/Last-Modified, 304, 206, 416.

The file is opened and read in a worker thread, `FILE_CHUNK` bytes at a time, each piece sent
before the next is read, so an answer holds at most one piece in memory whatever the file's size.
The size is taken when the file is opened; if the file shrinks while it is sent, the answer cannot
keep its Content-Length and the connection is closed.

Conditional requests (RFC 9110 §13): `If-None-Match` (weak comparison) wins over
`If-Modified-Since`; either answers 304 for a GET or HEAD. `Range: bytes=a-b`, `a-` or `-n` gets a
206 with `Content-Range`; a range past the end gets 416 with `Content-Range: bytes */size`; several
ranges, a malformed header, or an `If-Range` that does not match get the whole file (200).
"""

from __future__ import annotations

import email.utils
import os
import re
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import h11
import trio

from .fastsock import NOTSENT_LOWAT, FastStream

if TYPE_CHECKING:
    from .httpio import Exchange

FILE_CHUNK = 256 * 1024
FILE_THREADS = 2  # worker threads reading or sending files at once, all answers together (see _limiter)
SENDFILE_MAX = 8 * 1024 * 1024  # bytes one sendfile call may copy
FILE_UNSENT = 4 * 1024 * 1024  # unsent bytes the kernel may hold while a file is sent: its usual maximum
                                # (tcp_wmem); fastsock.NOTSENT_LOWAT, 16 KiB, otherwise
SANDBOX = (b"Content-Security-Policy", b"sandbox")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_LIMITER: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("file_threads")


def _limiter() -> trio.CapacityLimiter:
    """The threads that move file bytes. Few on purpose: the server may be pinned to one CPU, where
    each busy thread takes an equal share of it, so 40 threads copying files would leave the event
    loop (the chat) 1/41 of the CPU; with two it keeps a third at worst."""
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = trio.CapacityLimiter(FILE_THREADS)
        _LIMITER.set(limiter)
        return limiter


def read_chunk(f: BinaryIO, size: int) -> bytes:
    """One piece of a file (run in a worker thread)."""
    return f.read(size)


def _open(path: Path) -> tuple[BinaryIO, os.stat_result]:
    f = open(path, "rb")  # noqa: SIM115  (closed by send_file); a directory raises IsADirectoryError
    return f, os.fstat(f.fileno())


def _quote_etag(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §8.8.3.2), as If-None-Match uses."""
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))


def _http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def not_modified(headers: dict[bytes, bytes], etag: str, last_modified: float) -> bool:
    inm = headers.get(b"if-none-match")
    if inm is not None:
        return _etag_matches(inm.decode("latin-1"), etag)
    ims = headers.get(b"if-modified-since")
    if ims is not None:
        since = _http_date(ims.decode("latin-1"))
        return since is not None and int(last_modified) <= since
    return False


def byte_range(headers: dict[bytes, bytes], size: int, etag: str, last_modified: float) -> tuple[int, int] | None | str:
    """(first, last) inclusive for a satisfiable single range; None for the whole file; "416"."""
    value = headers.get(b"range")
    if value is None:
        return None
    if_range = headers.get(b"if-range")
    if if_range is not None:
        text = if_range.decode("latin-1").strip()
        if text.startswith(('"', 'W/"')):
            if text.startswith("W/") or text != etag:  # If-Range needs a strong match
                return None
        elif _http_date(text) != float(int(last_modified)):
            return None
    m = _RANGE.fullmatch(value.decode("latin-1").strip())
    if m is None or (not m[1] and not m[2]):
        return None  # malformed or several ranges: ignored (RFC 9110 §14.2)
    if not m[1]:  # -n: the last n bytes
        n = int(m[2])
        return "416" if n == 0 or size == 0 else (max(0, size - n), size - 1)
    first = int(m[1])
    last = int(m[2]) if m[2] else size - 1
    if m[2] and last < first:
        return None  # invalid: ignored
    if first >= size:
        return "416"
    return first, min(last, size - 1)


def disposition(inline: bool, name: str | None) -> bytes | None:
    """`attachment` (or `inline`) with an ASCII `filename` fallback and the full name as RFC 8187
    `filename*`; nothing from the name can end the header or add a parameter."""
    if inline and name is None:
        return None
    kind = "inline" if inline else "attachment"
    if not name:
        return kind.encode()
    name = _CONTROL.sub("", name)[:255]
    fallback = _UNSAFE_NAME.sub("_", name).strip(" .")[:100] or "download"
    encoded = urllib.parse.quote(name, safe="")
    return f'{kind}; filename="{fallback}"; filename*=UTF-8\'\'{encoded}'.encode("ascii")


async def send_file(ex: Exchange, path: Path, *, content_type: str, inline: bool, cache_control: bytes,
                    etag: str | None, last_modified: float | None, download_name: str | None) -> None:
    from .httpio import HttpError

    try:
        f, st = await trio.to_thread.run_sync(_open, path, limiter=_limiter())
    except OSError:
        raise HttpError(404, "Not found") from None
    try:
        size = st.st_size
        etag = _quote_etag(etag) if etag else f'"{size:x}-{st.st_mtime_ns:x}"'
        mtime = st.st_mtime if last_modified is None else last_modified
        common = [(b"Accept-Ranges", b"bytes"), (b"ETag", etag.encode("latin-1")),
                  (b"Last-Modified", email.utils.formatdate(mtime, usegmt=True).encode()),
                  (b"Cache-Control", cache_control), SANDBOX]
        if not_modified(ex.headers, etag, mtime):
            await ex.send_all(ex.response_head(304, common, None) + ex.end_bytes())
            return
        wanted = byte_range(ex.headers, size, etag, mtime)
        if wanted == "416":
            head = ex.response_head(416, [*common, (b"Content-Range", f"bytes */{size}".encode()),
                                          (b"Content-Type", b"text/plain; charset=utf-8")], 0)
            await ex.send_all(head + ex.end_bytes())
            return
        headers = [*common, (b"Content-Type", content_type.encode("latin-1"))]
        dispo = disposition(inline, download_name)
        if dispo is not None:
            headers.append((b"Content-Disposition", dispo))
        status, first, length = 200, 0, size
        if isinstance(wanted, tuple):
            status, first, length = 206, wanted[0], wanted[1] - wanted[0] + 1
            headers.append((b"Content-Range", f"bytes {wanted[0]}-{wanted[1]}/{size}".encode()))
        await ex.send_all(ex.response_head(status, headers, length))
        if ex.head:
            await ex.send_all(ex.end_bytes())
            return
        stream = ex.stream
        if isinstance(stream, FastStream):  # a TCP socket: the kernel copies from the page cache
            stream.set_unsent_limit(FILE_UNSENT)
            try:
                complete = await _sendfile(ex, stream, f, first, length)
            finally:
                stream.set_unsent_limit(NOTSENT_LOWAT)
        else:
            complete = await _send_pieces(ex, f, first, length)
        if not complete:  # the file shrank: the promised length cannot be kept
            ex.close = True
            return
        await ex.send_all(ex.end_bytes())
    finally:
        f.close()


async def _send_pieces(ex: Exchange, f: BinaryIO, first: int, length: int) -> bool:
    if first:
        await trio.to_thread.run_sync(f.seek, first)
    left = length
    while left > 0:
        piece = await trio.to_thread.run_sync(read_chunk, f, min(FILE_CHUNK, left), limiter=_limiter())
        if not piece:
            return False
        left -= len(piece)
        await ex.send_all(ex.conn.send(h11.Data(data=piece)) or b"")
    return True


class _Span:
    """`length` bytes of the open file as h11 `Data`: h11 only counts them and passes the object
    through (`send_with_data_passthrough`, h11's documented sendfile support)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


async def _sendfile(ex: Exchange, stream: FastStream, f: BinaryIO, offset: int, count: int) -> bool:
    """os.sendfile in worker threads, on the non-blocking socket: each call sends what the kernel
    takes at once; then the task waits (on the trio thread) until the socket is writable again."""
    parts = ex.conn.send_with_data_passthrough(h11.Data(data=_Span(count)))  # type: ignore[arg-type]
    assert parts is not None and len(parts) == 1, "a Content-Length body is passed through whole"
    sock = stream.socket
    while count > 0:
        try:
            sent = await trio.to_thread.run_sync(os.sendfile, sock.fileno(), f.fileno(), offset,
                                                 min(count, SENDFILE_MAX), limiter=_limiter())
        except BlockingIOError:
            with trio.move_on_after(ex.settings.idle_timeout):
                await trio.lowlevel.wait_writable(sock)
                continue
            raise trio.BrokenResourceError("peer stopped reading") from None
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from exc
        if sent == 0:
            return False
        offset += sent
        count -= sent
    return True

