"""A lean socket path for the connection tasks: accept, read and write without trio's per-call
round trip through the scheduler when the kernel can answer at once.

trio's socket calls checkpoint on every call (a trip through the scheduler even when the data is
there) and go through a generic wrapper; measured on the connect path (docs/performance.md "The
connect path") that machinery cost more than the system calls themselves. Here:

* `FastStream` (an accepted socket as a trio stream, like `trio.SocketStream`) reads
  with the socket's own non-blocking `recv` and waits (`trio.lowlevel.wait_readable`, which parks
  the task and is a schedule point) only when the kernel has nothing; `send_all` writes at once
  and waits for room only when the kernel does not take everything. So that a peer whose data is
  always there cannot keep the event loop to itself, a read that did not wait is followed, every
  `YIELD_EVERY` such reads, by a `trio.lowlevel.checkpoint()` (which also delivers cancellation).
  Errors are translated as `trio.SocketStream` does: a closed socket raises
  `trio.ClosedResourceError`, any other socket error `trio.BrokenResourceError`.
* `Acceptor` takes every connection waiting in the backlog per wake-up (up to `ACCEPT_BATCH`,
  then a checkpoint), instead of one accept and one checkpoint each, and keeps the peer's address
  from `accept` so the connection does not ask for it again.

Closing still goes through the trio socket (`aclose`), so a task waiting on the descriptor is woken
with `ClosedResourceError` as before.
"""

from __future__ import annotations

import errno
import socket as stdlib_socket

import trio

YIELD_EVERY = 16  # reads that found data at once before a read checkpoints anyway
ACCEPT_BATCH = 64  # connections accepted per wake-up before the accept loop checkpoints
# accept errors that concern only the connection being accepted (as trio's SocketListener ignores them)
IGNORED_ACCEPT_ERRNOS = frozenset(getattr(errno, name) for name in
                                  ("ECONNABORTED", "EPERM", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN",
                                   "ENONET", "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH") if hasattr(errno, name))


def _broken(exc: OSError, sock: stdlib_socket.socket) -> Exception:
    if exc.errno == errno.EBADF or sock.fileno() == -1:
        return trio.ClosedResourceError("this socket was already closed")
    return trio.BrokenResourceError(f"socket connection broken: {exc}")


NOTSENT_LOWAT = 2**14


class FastStream(trio.abc.HalfCloseableStream):
    """An accepted TCP socket as a trio stream (what `trio.SocketStream` is, which cannot be
    subclassed), with the reads and writes described above; `socket` is its trio socket."""

    def __init__(self, sock: stdlib_socket.socket, peer: str = "") -> None:
        self.socket = trio.socket.from_stdlib_socket(sock)  # also makes it non-blocking
        self._raw = sock
        self._unyielded = 0
        self.peer = peer
        # trio.SocketStream's defaults: small frames go out at once; at most 16 KiB unsent in
        # the kernel, so a slow reader's backlog stays in the outbox where it is counted
        try:
            sock.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1)
            self.set_unsent_limit(NOTSENT_LOWAT)
        except OSError:  # not TCP
            pass

    def set_unsent_limit(self, limit: int) -> None:
        """Bytes the kernel may hold unsent before a write waits (TCP_NOTSENT_LOWAT). Small for the
        chat (a slow reader's backlog stays countable in the outbox); a file answer raises it for
        its duration, else every 256 KiB piece would take ~16 wake-ups to leave."""
        if hasattr(stdlib_socket, "TCP_NOTSENT_LOWAT"):
            self._raw.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NOTSENT_LOWAT, limit)

    async def aclose(self) -> None:
        self.socket.close()
        await trio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()
        try:
            self._raw.shutdown(stdlib_socket.SHUT_WR)
        except OSError as exc:
            raise _broken(exc, self._raw) from exc

    async def wait_send_all_might_not_block(self) -> None:
        if self._raw.fileno() == -1:
            raise trio.ClosedResourceError
        await trio.lowlevel.wait_writable(self._raw)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        sock = self._raw
        size = max_bytes or 65536
        waited = False
        while True:
            try:
                data = sock.recv(size)
                break
            except BlockingIOError:
                pass  # (not waited for in here: the exception and its traceback would stay alive)
            except OSError as exc:
                raise _broken(exc, sock) from exc
            waited = True
            await trio.lowlevel.wait_readable(sock)  # parks the task: a schedule point
        if waited:
            self._unyielded = 0
        else:
            self._unyielded += 1
            if self._unyielded >= YIELD_EVERY:
                self._unyielded = 0
                await trio.lowlevel.checkpoint()
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        sock = self._raw
        total = len(data)
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise _broken(exc, sock) from exc
        if sent >= total:
            return
        with memoryview(data) as view:
            while sent < total:
                await trio.lowlevel.wait_writable(sock)
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise _broken(exc, sock) from exc


class Acceptor:
    """Accepts from a `trio.SocketListener`'s socket in batches (see the module doc)."""

    def __init__(self, listener: trio.SocketListener) -> None:
        self._listener = listener
        # a second Python object on the listener's descriptor, for a non-blocking `accept`; it is
        # detached (never closed) when done, so the descriptor stays the listener's
        self._sock = stdlib_socket.socket(fileno=listener.socket.fileno())
        self._sock.setblocking(False)
        self._full = False

    def detach(self) -> None:
        self._sock.detach()

    async def accept_batch(self) -> list[FastStream]:
        """One or more accepted connections. Raises OSError for an accept error that is not about a
        single connection (out of descriptors, ...) when nothing was accepted before it."""
        if self._full:
            await trio.lowlevel.checkpoint()
        streams: list[FastStream] = []
        sock = self._sock
        while len(streams) < ACCEPT_BATCH:
            try:
                conn, addr = sock.accept()
            except BlockingIOError:
                conn = None
            except OSError as exc:
                if exc.errno in IGNORED_ACCEPT_ERRNOS:
                    continue
                if streams:
                    break
                if exc.errno == errno.EBADF:
                    raise trio.ClosedResourceError from exc
                raise
            if conn is None:  # nothing waiting (waited for outside the handler, see receive_some)
                if streams:
                    break
                await trio.lowlevel.wait_readable(self._listener.socket)
                continue
            peer = str(addr[0]) if isinstance(addr, tuple) else str(addr)
            try:
                streams.append(FastStream(conn, peer))
            except OSError:
                conn.close()
        self._full = len(streams) >= ACCEPT_BATCH
        return streams
