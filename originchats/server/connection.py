"""One task per TCP connection: HTTP request(s), or the WebSocket upgrade and the read loop.

Resource handling: the stream is closed when this task ends. A WebSocket gets a writer task in a
nursery owned here; `hub.close(conn_id)` runs on every way out, so presence is always updated.
Once a WebSocket is closing (whoever decided it), the connection gets at most `CLOSE_GRACE`
seconds to flush its close frame, so a peer that stopped reading cannot hold it open. Reading an
HTTP request (headers and body) is bounded by `REQUEST_TIMEOUT`.

Error handling: a peer that goes away (`BrokenResourceError`, `ClosedResourceError`) ends the
connection quietly. Any other exception is a bug: it is logged (`connection_crashed`) with its
traceback and a WebSocket is closed with 1011; the server and every other connection carry on
(crash barrier).
"""

from __future__ import annotations

import itertools
import json
import re
from http import HTTPStatus

import h11
import structlog
import trio

from . import http
from .hub import Hub
from .ws import MessageTooBig, WebSocket, upgrade_response

log = structlog.get_logger("originchats.connection")
_peer_ids = itertools.count(1)
MAX_HEADER_BYTES = 16 * 1024
REQUEST_TIMEOUT = 30.0
CLOSE_GRACE = 5.0
INVALID_JSON = '{"cmd":"error","val":"Invalid JSON"}'

# JSON may spell a lone UTF-16 surrogate (`"\ud800"`): Python decodes it into a str that cannot be
# encoded as UTF-8, stored in SQLite or sent to anyone. Only texts with such an escape are checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def has_lone_surrogate(text: str) -> bool:
    """True when the JSON `text` decodes to a string (key or value) with an unpaired surrogate."""
    if _SURROGATE_ESCAPE.search(text) is None:
        return False
    try:
        stack = [json.loads(text)]
    except (ValueError, RecursionError):
        return False  # the hub answers "Invalid JSON"
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


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


async def _drain_body(stream: trio.abc.Stream, conn: h11.Connection) -> bool:
    """Read the rest of the request (its body is not used); False when the peer went away."""
    while conn.their_state is h11.SEND_BODY:  # then DONE, or MUST_CLOSE after `Connection: close`
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return False
    return True


def _bad_request(exc: h11.RemoteProtocolError) -> bytes:
    status = HTTPStatus(exc.error_status_hint)
    return (f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").encode()


def peer_ip(stream: trio.abc.Stream) -> str:
    """The address of the socket's peer; in-memory test streams may carry a `peer_ip` attribute."""
    if isinstance(stream, trio.SocketStream):
        try:
            addr = stream.socket.getpeername()
        except OSError:
            return ""
        return str(addr[0]) if isinstance(addr, tuple) else str(addr)
    return str(getattr(stream, "peer_ip", "local"))


async def serve_connection(stream: trio.abc.Stream, hub: Hub, max_message: int) -> None:
    bound = log.bind(peer=next(_peer_ids))
    try:
        async with stream:
            trailing = await _serve_http(stream, hub, max_message, bound)
            if trailing is not None:  # upgraded: h11's connection and request are garbage now
                await _run_websocket(stream, hub, trailing, max_message, bound)
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        pass
    except Exception:  # crash barrier: a bug ends this connection only
        bound.exception("connection_crashed")


async def _serve_http(stream: trio.abc.Stream, hub: Hub, max_message: int, bound) -> bytes | None:  # type: ignore[no-untyped-def]
    """Serve HTTP requests; after a WebSocket upgrade return the bytes already read past it."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    while True:
        request = None
        with trio.move_on_after(REQUEST_TIMEOUT):
            try:
                request = await _read_request(stream, conn)
            except h11.RemoteProtocolError as exc:
                await stream.send_all(_bad_request(exc))
                return
        if request is None:
            return
        upgrade = upgrade_response(request) if request.target.split(b"?", 1)[0] == b"/" else None
        if upgrade is not None:
            await stream.send_all(conn.send(upgrade) or b"")
            trailing, _ = conn.trailing_data
            return bytes(trailing)
        status, headers, body = http.route(request, hub.state, len(hub.sockets))
        await stream.send_all(http.response_bytes(conn, request, status, headers, body))
        drained = False
        with trio.move_on_after(REQUEST_TIMEOUT):
            drained = await _drain_body(stream, conn)
        if not drained or conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()


async def _run_websocket(stream: trio.abc.Stream, hub: Hub, trailing: bytes, max_message: int, bound) -> None:  # type: ignore[no-untyped-def]
    ws = WebSocket(stream, trailing=trailing, max_message=max_message)
    conn_id = hub.open(ws, peer_ip(stream))
    bound = bound.bind(conn_id=conn_id)
    bound.info("connection_opened")
    try:
        async with trio.open_nursery() as nursery:
            # the writer task starts on demand, and a closing socket gets CLOSE_GRACE to flush
            ws.run_in(nursery, CLOSE_GRACE)
            try:
                while True:
                    try:
                        text = await ws.receive()
                    except MessageTooBig:
                        bound.info("frame_rejected", reason="too_big", limit=max_message)
                        break
                    if text is None:
                        break
                    if has_lone_surrogate(text):
                        await hub.settle(conn_id)  # after the replies to earlier requests
                        ws.send_text(INVALID_JSON)
                        bound.info("command_rejected", reason="lone_surrogate", size=len(text))
                        continue
                    await hub.handle_text(conn_id, text)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                nursery.cancel_scope.cancel()
            except Exception:  # crash barrier: a bug closes this connection only (1011)
                bound.exception("connection_crashed")
                ws.close(1011, "internal error")
            finally:
                if not ws.closing:
                    ws.close(1000, "")
    finally:
        ws.detach()
        hub.close(conn_id)
        bound.info("connection_closed", code=ws.close_code)
