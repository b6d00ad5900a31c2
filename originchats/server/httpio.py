"""One plain HTTP request and its answer (`Exchange`): what route handlers read and send.

server/connection.py parses a request head with h11, builds an `Exchange` and hands it to the route
table (server/http.py). A handler reads the body (`read_body` for small ones, `read_upload` for the
streamed JSON upload of attachments.md §4) and answers once (`send_json`, `send_bytes`,
`send_file`). A handler may also raise `HttpError(status, text)`: the router answers it as
`{"error": text}`.

Every answer carries the CORS headers of attachments.md §4 and `X-Content-Type-Options: nosniff`;
a file also `Content-Security-Policy: sandbox`, so a file opened in a browser cannot run script
as this origin. Reading the body and writing the answer are each bounded by an idle timeout
(`HttpSettings.idle_timeout`) that is renewed while bytes flow: a slow peer is cut after a gap,
and since every connection is its own task it never delays another. After an error in the middle
of a body (413, truncated, bad JSON), the answer says `Connection: close` and the connection ends
without reading the rest.

Files are streamed (server/file_response.py): read from disk in `FILE_CHUNK` pieces in a worker
thread, never whole in memory. The upload is decoded as it arrives (server/upload_body.py) into a
temp file, hashed on the way.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterable

import attrs
import h11
import trio

from . import file_response
from .upload_body import BodyError, UploadBody, too_large

if TYPE_CHECKING:
    from .hub import Hub

CORS = [
    (b"Access-Control-Allow-Origin", b"*"),
    (b"Access-Control-Allow-Methods", b"GET, HEAD, OPTIONS, POST"),
    (b"Access-Control-Allow-Headers", b"Content-Type, Authorization, Range"),
    (b"Access-Control-Expose-Headers", b"Content-Length, Content-Type, Cache-Control"),
]
NOSNIFF = (b"X-Content-Type-Options", b"nosniff")
READ_FAILED = "Failed to read request body"
RECEIVE_BYTES = 256 * 1024  # one read of a request body
LINGER_SECONDS = 2.0  # after an answer that ends a connection mid-body (413), its input is dropped this long...
LINGER_BYTES = 16 * 1024 * 1024  # ...or up to this many bytes, so the peer reads the answer before the close
WRITE_BATCH = 1024 * 1024  # decoded upload bytes gathered before one write (and hash) in a thread

Headers = Iterable[tuple[bytes, bytes]]


@attrs.frozen
class HttpSettings:
    """The `[http]` section, as the transport uses it."""

    idle_timeout: float = 30.0  # seconds without a byte of a body coming in, or of an answer going out
    upload_fields_bytes: int = 64 * 1024  # an upload's JSON besides its `file`, keys included


class HttpError(Exception):
    """An answer `{"error": text}` with `status`; `close` ends the connection after it."""

    def __init__(self, status: int, text: str, *, close: bool = False) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.close = close


@attrs.frozen
class UploadedFile:
    path: Path  # a temp file under the `tmp_dir` given to read_upload; the caller moves or deletes it
    size: int
    sha256: str  # hex


@attrs.frozen
class UploadForm:
    fields: dict[str, Any]
    file: UploadedFile | None


class _Timeout(Exception):
    pass


@attrs.define(eq=False)
class Exchange:
    method: bytes  # upper-case; a HEAD is routed as a GET and `head` is set
    path: str  # percent-decoded, without the query
    query: dict[str, str]  # first value wins
    headers: dict[bytes, bytes]  # lower-case names; a repeated header's values joined with ", "
    peer: str  # the client's address (after trusted-proxy handling)
    hub: Hub
    stream: trio.abc.Stream
    conn: h11.Connection
    settings: HttpSettings = attrs.Factory(HttpSettings)
    head: bool = False
    responded: bool = False
    close: bool = False  # end the connection after this answer
    body_read: int = 0

    @classmethod
    def start(cls, stream: trio.abc.Stream, conn: h11.Connection, request: h11.Request, hub: Hub, peer: str,
              settings: HttpSettings) -> Exchange:
        """The exchange of a request whose head h11 has read (`path` and `query` are set by the router)."""
        headers: dict[bytes, bytes] = {}
        for name, value in request.headers:  # h11 gives lower-case names
            headers[name] = headers[name] + b", " + value if name in headers else value
        return cls(method=request.method.upper(), path="", query={}, headers=headers, peer=peer, hub=hub,
                   stream=stream, conn=conn, settings=settings)

    # -- reading -----------------------------------------------------------------------------
    async def _receive(self) -> bytes:
        with trio.move_on_after(self.settings.idle_timeout):
            return await self.stream.receive_some(RECEIVE_BYTES)
        raise _Timeout

    async def next_data(self) -> bytes | None:
        """The next piece of the request body, None at its end; HttpError 400 (closing) when the peer
        stops sending for the idle timeout or goes away before the end."""
        try:
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    if self.conn.they_are_waiting_for_100_continue:  # `Expect: 100-continue`: go on
                        await self.send_all(self.conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
                    self.conn.receive_data(await self._receive())
                elif isinstance(event, h11.Data):
                    self.body_read += len(event.data)
                    return bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    return None
                else:  # ConnectionClosed, or PAUSED (the peer sent a new request: this one is done)
                    if event is h11.PAUSED:
                        return None
                    raise _Timeout
        except (_Timeout, h11.RemoteProtocolError):
            self.close = True
            raise HttpError(400, READ_FAILED, close=True) from None

    def body_done(self) -> bool:
        return self.conn.their_state is not h11.SEND_BODY

    def declared_length(self) -> int | None:
        value = self.headers.get(b"content-length")
        return int(value) if value is not None and value.isdigit() else None  # h11 checked its syntax

    def _check_declared(self, limit: int, file_limit: int) -> None:
        length = self.declared_length()
        if length is not None and length > limit:
            raise HttpError(413, too_large(file_limit).text, close=True)

    async def read_body(self, limit: int) -> bytes:
        """The whole (small) body; 413 (closing) as soon as it passes `limit` bytes."""
        self._check_declared(limit, limit)
        parts: list[bytes] = []
        size = 0
        while (data := await self.next_data()) is not None:
            size += len(data)
            if size > limit:
                raise HttpError(413, too_large(limit).text, close=True)
            parts.append(data)
        return b"".join(parts)

    async def read_upload(self, *, body_limit: int, file_limit: int, tmp_dir: Path) -> UploadForm:
        """Parse the JSON upload body as it streams in (see server/upload_body.py), its `file`
        decoded into a new temp file under `tmp_dir`. On any error the temp file is removed."""
        self._check_declared(body_limit, file_limit)
        parser = UploadBody(file_limit=file_limit, fields_limit=self.settings.upload_fields_bytes)
        fd, name = await trio.to_thread.run_sync(lambda: tempfile.mkstemp(prefix="upload-", dir=tmp_dir))
        path = Path(name)
        out = os.fdopen(fd, "wb")
        sha = hashlib.sha256()
        ok = False
        try:
            batch: list[bytes] = []
            batched = size = 0
            while (data := await self.next_data()) is not None:
                size += len(data)
                if size > body_limit:
                    raise too_large(file_limit)
                decoded = parser.feed(data)
                if decoded:
                    batch.append(decoded)
                    batched += len(decoded)
                    if batched >= WRITE_BATCH:
                        await trio.to_thread.run_sync(_write, out, sha, batch)
                        batch, batched = [], 0
            parser.finish()
            await trio.to_thread.run_sync(_write, out, sha, batch)
            await trio.to_thread.run_sync(out.close)
            ok = True
        except BodyError as exc:
            raise HttpError(exc.status, exc.text, close=not self.body_done()) from None
        finally:
            if not ok:
                out.close()
                path.unlink(missing_ok=True)
        upload = UploadedFile(path, parser.file_size, sha.hexdigest()) if parser.has_file else None
        if upload is None:
            path.unlink(missing_ok=True)
        return UploadForm(fields=parser.fields, file=upload)

    # -- answering ---------------------------------------------------------------------------
    async def send_all(self, data: bytes) -> None:
        """Write to the peer; a peer that takes nothing for the idle timeout is dropped."""
        if not data:
            return
        with trio.move_on_after(self.settings.idle_timeout):
            await self.stream.send_all(data)
            return
        raise trio.BrokenResourceError("peer stopped reading")

    def response_head(self, status: int, headers: Headers, length: int | None) -> bytes:
        if self.responded:
            raise RuntimeError("this request was already answered")
        self.responded = True
        all_headers = [*CORS, NOSNIFF, *headers]
        if length is not None and status != 204 and status != 304:  # RFC 9110 §8.6
            all_headers.append((b"Content-Length", str(length).encode()))
        if self.close:
            all_headers.append((b"Connection", b"close"))
        return self.conn.send(h11.Response(status_code=status, headers=all_headers)) or b""

    def body_bytes(self, data: bytes) -> bytes:
        return (self.conn.send(h11.Data(data=data)) or b"") if data and not self.head else b""

    def end_bytes(self) -> bytes:
        return self.conn.send(h11.EndOfMessage()) or b""

    async def send_bytes(self, status: int, body: bytes, content_type: bytes, headers: Headers = ()) -> None:
        head = self.response_head(status, [(b"Content-Type", content_type), *headers], len(body))
        await self.send_all(head + self.body_bytes(body) + self.end_bytes())

    async def send_json(self, status: int, obj: Any, headers: Headers = ()) -> None:
        """Compact JSON with a space after `:` and `,` (the original's `{"error": "..."}`)."""
        await self.send_bytes(status, json.dumps(obj).encode(), b"application/json", headers)

    async def send_empty(self, status: int, headers: Headers = ()) -> None:
        await self.send_all(self.response_head(status, headers, 0) + self.end_bytes())

    async def send_file(self, path: Path, *, content_type: str, inline: bool,
                        cache_control: bytes = b"public, max-age=3600", etag: str | None = None,
                        last_modified: float | None = None, download_name: str | None = None) -> None:
        """Stream a file (HEAD, Range, conditional requests: see server/file_response.py);
        HttpError 404 when it cannot be opened."""
        await file_response.send_file(self, path, content_type=content_type, inline=inline,
                                      cache_control=cache_control, etag=etag, last_modified=last_modified,
                                      download_name=download_name)


async def linger_close(stream: trio.abc.Stream) -> None:
    """Before closing on a request whose body was not read (a 413): end our side, then read and drop
    what the peer still sends, briefly. Closing a socket with unread input resets it, and the peer
    could lose the answer it has not read yet (a "lingering close", as web servers do)."""
    with trio.move_on_after(LINGER_SECONDS):
        try:
            if isinstance(stream, trio.abc.HalfCloseableStream):
                await stream.send_eof()
            left = LINGER_BYTES
            while left > 0 and (data := await stream.receive_some(RECEIVE_BYTES)):
                left -= len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


def _write(out: BinaryIO, sha: Any, parts: list[bytes]) -> None:
    for part in parts:
        sha.update(part)
        out.write(part)
