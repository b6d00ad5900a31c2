"""A small HTTP/1.1 client for web pushes: keep-alive connections per push service, h11 on trio.

A push is one POST whose answer matters only for its status, and a server pushes the same few
services (FCM, Mozilla, Apple) over and over. httpx spent ~0.45 ms of CPU per push here, more
than the encryption; this spends a fraction of that (docs/performance.md, "integrations"), which is
CPU the broadcasts get back. What it keeps of a general client:
* one pool per (scheme, host, port): at most `per_origin` idle connections are kept; a connection
  that the service closed while idle (readable before we sent) is thrown away, never written to;
* TLS with certificate and host name checks (the URL's host is the SNI name), to the address the
  caller checked (server/push.py resolves the host and refuses private addresses before a
  connection is opened; a pooled connection already went to a checked address);
* answers of any framing h11 parses (length, chunked, close-delimited), their bodies discarded;
  a head over `MAX_HEAD` bytes is an error; no redirect is followed.
"""

from __future__ import annotations

import ssl
from typing import Any

import h11
import trio

#: the largest answer head accepted (status line and headers)
MAX_HEAD = 16 * 1024
#: the most push services whose idle connections are kept
MAX_ORIGINS = 1000
#: how much of an answer is read at once
CHUNK = 16 * 1024

Key = tuple[str, str, int]  # (scheme, host, port) as the URL says


def default_ssl_context() -> ssl.SSLContext:
    """The system's trust store, or certifi's bundle where the system has none."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class Conn:
    """One keep-alive connection: its stream and its h11 state."""

    __slots__ = ("stream", "h11", "sock")

    def __init__(self, stream: trio.abc.Stream, sock: Any) -> None:
        self.stream = stream
        self.sock = sock  # the trio socket underneath, to see whether the service closed it
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)

    def stale(self) -> bool:
        """Readable while idle: the service closed it (or sent what it should not have)."""
        try:
            return bool(self.sock.is_readable())
        except OSError:
            return True

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            with trio.move_on_after(1):
                try:
                    await self.stream.aclose()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError):
                    pass

    async def post(self, target: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, bool]:
        """Send one request and read its answer; (status, whether the connection can be reused)."""
        conn = self.h11
        data = conn.send(h11.Request(method="POST", target=target, headers=headers))
        data += conn.send(h11.Data(data=body))  # type: ignore[operator]
        data += conn.send(h11.EndOfMessage())  # type: ignore[operator]
        await self.stream.send_all(data)
        status = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self.stream.receive_some(CHUNK))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the push service closed the connection before answering")
            # informational answers and body data are not needed
        reusable = conn.our_state is h11.DONE and conn.their_state is h11.DONE
        if reusable:
            conn.start_next_cycle()
        return status, reusable


class PushHTTP:
    """The pools. `post` is the only call; the caller bounds it with a deadline."""

    def __init__(self, per_origin: int) -> None:
        self.per_origin = per_origin
        self.ssl_context: ssl.SSLContext | None = None  # made at the first https push (tests put their CA's here)
        self._idle: dict[Key, list[Conn]] = {}

    def pooled(self, key: Key) -> Conn | None:
        """An idle connection to `key` the service has not closed (stale ones are dropped)."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.stale():
                return conn
            _close_soon(conn)
        return None

    async def connect(self, key: Key, address: str) -> Conn:
        """A new connection to `address` (already checked by the caller) for `key`."""
        scheme, host, port = key
        tcp = await trio.open_tcp_stream(address, port)
        sock = tcp.socket
        if scheme != "https":
            return Conn(tcp, sock)
        if self.ssl_context is None:
            self.ssl_context = default_ssl_context()
        stream = trio.SSLStream(tcp, self.ssl_context, server_hostname=host, https_compatible=True)
        try:
            await stream.do_handshake()
        except BaseException:
            await tcp.aclose()
            raise
        return Conn(stream, sock)

    async def post(self, key: Key, conn: Conn, target: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """POST on `conn` (from `pooled` or `connect`); it goes back to the pool when reusable."""
        try:
            status, reusable = await conn.post(target, headers, body)
        except BaseException:
            await conn.aclose()
            raise
        idle = self._idle.get(key)
        if idle is None and reusable and len(self._idle) < MAX_ORIGINS:  # a bound on services remembered
            idle = self._idle[key] = []
        if reusable and idle is not None and len(idle) < self.per_origin:
            idle.append(conn)
        else:
            await conn.aclose()
        return status

    async def aclose(self) -> None:
        pools, self._idle = self._idle, {}
        for idle in pools.values():
            for conn in idle:
                await conn.aclose()


def _close_soon(conn: Conn) -> None:
    """A stale connection: its socket is closed at once (nothing is left to say on it)."""
    try:
        conn.sock.close()
    except OSError:
        pass
