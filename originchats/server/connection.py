"""One task per TCP connection: HTTP request(s), or the WebSocket upgrade and the read loop.

Resource handling: the stream is closed when this task ends. Each connection has one cancel
scope (no nursery of its own): its deadline is the request deadline while HTTP is read, then the
close grace of its WebSocket. A WebSocket's writer task, when it needs one, runs in the nursery
shared by the connections (`tasks`) and cancels the connection's scope when it is done; the
login deadline is kept by one task for all sockets (ws_limits.LoginDeadlines). `hub.close(conn_id)`
runs on every way out, so presence is always updated. Once a WebSocket is closing (whoever
decided it), the connection gets at most `CLOSE_GRACE` seconds to flush its close frame, so a
peer that stopped reading cannot hold it open. Reading an HTTP request head is bounded by
`REQUEST_TIMEOUT`, a body and an answer by the idle timeout of server/httpio.py. Accepted TCP sockets are server/fastsock.py `FastStream`s (reads and
writes without a scheduler trip when the kernel answers at once). A plain WebSocket upgrade that
arrives whole in the first read is parsed without h11 (server/upgrade.py); every other request,
from the same bytes, goes to h11 under the same deadline and size limit. The upgrade's `101`
response is not written on its own: it is queued in front of the handshake frame, and both leave
in one write (`FrameSender.preface`).
With `[tls]` set, an admitted connection is wrapped in a `trio.SSLStream` (server/tls.py) before
anything is read; a refused one is closed without a handshake.

Admission (guard.Admission): a connection from an address that already has
`network.max_connections_per_ip` open, or that opens them faster than its token bucket allows, is
answered `429 Too Many Requests` (after its request head is read, so the answer is not lost to a
reset) and closed, before any upgrade. A direct peer is counted from the moment it is accepted (an
idle TCP connection holds a slot too); a trusted proxy's connection is counted per WebSocket
upgrade, under the client address its `X-Forwarded-For` names. A WebSocket then gets the input
limits of ws_limits.py (before-login size limit and deadline, the global input budget).

Error handling: a peer that goes away (`BrokenResourceError`, `ClosedResourceError`) ends the
connection quietly. Any other exception is a bug: it is logged (`connection_crashed`) with its
traceback and a WebSocket is closed with 1011; the server and every other connection carry on
(crash barrier).
"""

from __future__ import annotations

import itertools
import logging
import math
from http import HTTPStatus
from typing import Any

import attrs
import h11
import structlog
import trio

from .deflate import Deflate, negotiate, offers
from .fastsock import FastStream
from .guard import Admission, LogSampler, address_key, client_ip, normalize_ip
from .httpio import Exchange, HttpSettings, linger_close
from .hub import Hub
from .upgrade import parse_upgrade, response_101
from .ws import RECEIVE_BYTES, InputBudget, InputLimits, InputRefused, WebSocket, upgrade_response
from .ws_limits import LoginDeadlines

log = structlog.get_logger("originchats.connection")
_peer_ids = itertools.count(1)
MAX_HEADER_BYTES = 16 * 1024
REQUEST_TIMEOUT = 30.0
MAX_DRAIN_BYTES = 1024 * 1024  # an unused request body read past before the next request; more: close
CLOSE_GRACE = 5.0
REFUSE_READ_TIMEOUT = 1.0  # a refused peer's request head is read this long before the 429
MAX_LINGERING = 256  # refused connections read at once; beyond, the 429 goes out at once


async def _read_request(stream: trio.abc.Stream, conn: h11.Connection) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        if isinstance(event, h11.Request):
            return event
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
        # Data / EndOfMessage of a request body we do not use: skip it


async def _drain_body(stream: trio.abc.Stream, conn: h11.Connection, limit: int) -> bool:
    """Read the rest of the request (its body is not used), up to `limit` bytes; False when the peer
    went away or sent more (the connection is then closed rather than read for long)."""
    while conn.their_state is h11.SEND_BODY:  # then DONE, or MUST_CLOSE after `Connection: close`
        event = conn.next_event()
        if event is h11.NEED_DATA:
            if limit <= 0:
                return False
            data = await stream.receive_some(65536)
            limit -= len(data)
            conn.receive_data(data)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return False
    return True


def _bad_request(exc: h11.RemoteProtocolError) -> bytes:
    status = HTTPStatus(exc.error_status_hint)
    return (f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").encode()


@attrs.define(eq=False)
class Guards:
    """The connection-level limits every connection task shares (built from the config in app.py)."""

    admission: Admission = attrs.Factory(Admission)
    input: InputLimits = attrs.Factory(InputLimits)
    budget: InputBudget = attrs.Factory(lambda: InputBudget(128 * 1024 * 1024))
    refusals: LogSampler = attrs.Factory(lambda: LogSampler("connection_refused"))
    frames: LogSampler = attrs.Factory(lambda: LogSampler("frame_rejected"))
    logins: LoginDeadlines = attrs.Factory(LoginDeadlines)  # its `run` task is started by app.py
    http: HttpSettings = attrs.Factory(HttpSettings)
    lingering: int = 0
    # built-in TLS (server/tls.py `Tls`): every accepted connection is wrapped in its context; None: plain
    tls: Any = None
    # permessage-deflate for clients that offer it (server/deflate.py); None: `[compression]` is off
    deflate: Deflate | None = None
    refused: int = 0  # connections answered 429 by admission (GET /metrics)

    def samplers(self) -> list[LogSampler]:
        return [self.refusals, self.frames]


def _too_many(retry_after: int) -> bytes:
    return (f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n").encode()


def peer_ip(stream: trio.abc.Stream) -> str:
    """The address of the socket's peer (kept from `accept` by fastsock.Acceptor); in-memory test
    streams may carry a `peer_ip` attribute."""
    if isinstance(stream, FastStream) and stream.peer:
        return stream.peer
    if isinstance(stream, (trio.SocketStream, FastStream)):
        try:
            addr = stream.socket.getpeername()
        except OSError:
            return ""
        return str(addr[0]) if isinstance(addr, tuple) else str(addr)
    return str(getattr(stream, "peer_ip", "local"))


def _logs(level: int) -> bool:
    """Whether the configured logger writes `level` (asked of the live configuration, which tests change)."""
    check = getattr(structlog.get_config()["wrapper_class"], "is_enabled_for", None)
    try:
        return check is None or bool(check(None, level))  # structlog's filtering loggers do not use self
    except Exception:  # another wrapper class: assume it writes
        return True


class ConnLog:
    """The connection's log fields (`peer`, then `conn_id` once it has one), given to structlog only
    when a line is written: binding a logger builds a new one each time (the configuration is not
    cached, so tests can change it), ~5 us per connection that logs nothing at the default level."""

    __slots__ = ("peer", "conn_id")

    def __init__(self, peer: int) -> None:
        self.peer = peer
        self.conn_id: int | None = None

    def _fields(self) -> dict:
        return {"peer": self.peer} if self.conn_id is None else {"peer": self.peer, "conn_id": self.conn_id}

    def info(self, event: str, **fields: object) -> None:
        if _logs(logging.INFO):
            log.info(event, **self._fields(), **fields)

    def exception(self, event: str, **fields: object) -> None:
        log.exception(event, **self._fields(), **fields)


async def serve_connection(stream: trio.abc.Stream, hub: Hub, guards: Guards, tasks: trio.Nursery) -> None:
    """Serve one accepted connection; `tasks` is where its WebSocket writer task starts, if it needs one."""
    bound = ConnLog(next(_peer_ids))
    peer = normalize_ip(peer_ip(stream))
    held: list[str] = []  # the admission slot this connection holds (its address key)
    try:
        async with stream:
            if not guards.admission.is_trusted(peer):
                key = address_key(peer)
                refused = guards.admission.admit(key, trio.current_time())
                if refused is not None:
                    await _refuse(stream, guards, key, refused, bound)
                    return
                held.append(key)
            if guards.tls is not None:  # after admission: a refused peer costs no handshake
                stream = guards.tls.wrap(stream)
            # the connection's one cancel scope: the request deadline while HTTP is read, then
            # the close grace of its WebSocket (a timer task keeps the login deadline)
            with trio.CancelScope() as scope:
                upgraded = await _serve_http(stream, hub, guards, peer, held, bound, scope)
                if upgraded is not None:  # h11's connection and request are garbage now
                    scope.deadline = math.inf
                    response, trailing, ip, deflate = upgraded
                    await _run_websocket(stream, hub, response, trailing, ip, guards, bound, scope, tasks,
                                         guards.deflate if deflate else None)
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        pass
    except Exception:  # crash barrier: a bug ends this connection only
        bound.exception("connection_crashed")
    finally:
        for key in held:
            guards.admission.release(key)


async def _refuse(stream: trio.abc.Stream, guards: Guards, key: str, refused: tuple[str, int], bound: ConnLog,
                  request_read: bool = False) -> None:
    """Answer 429 and end the connection; the request head is read first (briefly), else closing
    a socket with unread data would reset it and the client might never see the answer."""
    reason, retry_after = refused
    guards.refused += 1
    if guards.refusals.allow(key, trio.current_time()):
        bound.info("connection_refused", reason=reason, ip=key)
    if guards.tls is not None and not request_read:  # no TLS session yet: closed without a handshake (cheap)
        return
    if not request_read and guards.lingering < MAX_LINGERING:
        guards.lingering += 1
        try:
            with trio.move_on_after(REFUSE_READ_TIMEOUT):
                await _read_request(stream, h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES))
        except h11.RemoteProtocolError:
            pass
        finally:
            guards.lingering -= 1
    await stream.send_all(_too_many(retry_after))


async def _serve_http(stream: trio.abc.Stream, hub: Hub, guards: Guards, peer: str, held: list[str],  # type: ignore[no-untyped-def]
                      bound, scope: trio.CancelScope) -> tuple[bytes, bytes, str, bool] | None:
    """Serve HTTP requests; after a WebSocket upgrade return its `101` response (not sent yet: it
    leaves with the handshake frame), the bytes already read past the request, the client's
    address, and whether permessage-deflate was accepted (server/deflate.py). A plain upgrade that arrives whole in the first read is taken without h11
    (server/upgrade.py); anything else goes to h11, from the same bytes and under the same deadline.
    Reading a request head is bounded by `REQUEST_TIMEOUT`: the deadline of the connection's
    `scope`, whose expiry ends the connection. A request that is not an upgrade becomes an
    httpio.Exchange answered by the route table (server/http.py); its handler reads the body, if it
    wants it, under the transport's idle timeout. An unread body is then skipped (up to
    `MAX_DRAIN_BYTES`) before the next request on the connection; an answer that says
    `Connection: close` (a 413) ends it after a short lingering close."""
    conn: h11.Connection | None = None
    while True:
        scope.deadline = trio.current_time() + REQUEST_TIMEOUT
        try:
            if conn is None:
                data = await stream.receive_some(RECEIVE_BYTES)
                fast = parse_upgrade(data, MAX_HEADER_BYTES)
                if fast is not None:
                    ip = await _admit_upgrade(stream, guards, peer, held, fast.headers, bound)
                    if ip is None:
                        return None
                    answer = None if guards.deflate is None or fast.extensions is None else negotiate([fast.extensions])
                    if answer is not None:
                        return response_101(fast.key, answer), fast.trailing, ip, True
                    return fast.response, fast.trailing, ip, False
                conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
                conn.receive_data(data)
            request = await _read_request(stream, conn)
        except h11.RemoteProtocolError as exc:
            await stream.send_all(_bad_request(exc))
            return None
        scope.deadline = math.inf
        if request is None:
            return None
        answer = None if guards.deflate is None else negotiate(offers(list(request.headers)))
        upgrade = upgrade_response(request, answer) if request.target.split(b"?", 1)[0] == b"/" else None
        if upgrade is not None:
            ip = await _admit_upgrade(stream, guards, peer, held, request.headers, bound)
            if ip is None:
                return None
            trailing, _ = conn.trailing_data
            return conn.send(upgrade) or b"", bytes(trailing), ip, answer is not None
        ex = Exchange.start(stream, conn, request, hub, client_ip(peer, request.headers, guards.admission.trusted),
                            guards.http)
        await hub.serve_http(ex, request.target)
        if ex.close or conn.our_state is not h11.DONE:
            if conn.their_state is h11.SEND_BODY:
                await linger_close(stream)
            return None
        scope.deadline = trio.current_time() + REQUEST_TIMEOUT
        drained = await _drain_body(stream, conn, MAX_DRAIN_BYTES)
        if not drained:
            await linger_close(stream)
            return None
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            return None
        conn.start_next_cycle()


async def _admit_upgrade(stream: trio.abc.Stream, guards: Guards, peer: str, held: list[str],  # type: ignore[no-untyped-def]
                         headers, bound) -> str | None:
    """The client's address for an upgrade, or None when it was refused (429 sent). A direct peer
    was admitted when accepted; a trusted proxy's upgrade is admitted here, as the client it names."""
    if held:
        return peer
    ip = client_ip(peer, headers, guards.admission.trusted)
    key = address_key(ip)
    refused = guards.admission.admit(key, trio.current_time())
    if refused is not None:
        await _refuse(stream, guards, key, refused, bound, request_read=True)
        return None
    held.append(key)
    return ip


async def _run_websocket(stream: trio.abc.Stream, hub: Hub, response: bytes, trailing: bytes, ip: str,  # type: ignore[no-untyped-def]
                         guards: Guards, bound, scope: trio.CancelScope, tasks: trio.Nursery,
                         deflate: Deflate | None = None) -> None:
    """The read loop of a WebSocket, inside the connection's `scope`. Its writer task starts in
    `tasks` on demand (ws_send.py); once the socket is closing, the scope gets a deadline of
    CLOSE_GRACE to flush, and the writer cancels it when done (close frame out, or peer gone)."""
    ws = WebSocket(stream, trailing=trailing, limits=guards.input, budget=guards.budget, logins=guards.logins,
                   deflate=deflate)
    conn_id = hub.open(ws, ip)
    ws.preface(response, hub.greets_later)  # the 101 goes out with the handshake, in one write
    bound.conn_id = conn_id
    bound.info("connection_opened")
    try:
        ws.run_in(tasks, scope, CLOSE_GRACE)
        try:
            while True:
                try:
                    text = await ws.receive()
                except InputRefused as exc:  # frame_rejected (sampled per address)
                    if exc.event != "frame_rejected" or guards.frames.allow(address_key(ip), trio.current_time()):
                        bound.info(exc.event, reason=exc.reason, limit=exc.limit)
                    break
                if text is None:
                    break
                ws.busy = True
                await hub.handle_text(conn_id, text)
                ws.busy = hub.busy(conn_id)
                ws.set_logged_in(hub.logged_in(conn_id))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            scope.cancel()
        except Exception:  # crash barrier: a bug closes this connection only (1011)
            bound.exception("connection_crashed")
            ws.close(1011, "internal error")
        finally:
            if not ws.closing:
                ws.close(1000, "")
        await ws.flushed()  # the close frame goes out (bounded by the close grace)
    finally:
        ws.detach()
        hub.close(conn_id)
        if ws.login_expired:
            bound.info("login_timeout", reason="login_timeout", limit=guards.input.login_timeout)
        bound.info("connection_closed", code=ws.close_code)
