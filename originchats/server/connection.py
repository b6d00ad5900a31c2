"""One task per TCP connection: HTTP request(s), or the WebSocket upgrade and the read loop.

Resource handling: the stream is closed when this task ends. A WebSocket gets a writer task in a
nursery owned here; `hub.close(conn_id)` runs on every way out, so presence is always updated.

Error handling: a peer that goes away (`BrokenResourceError`, `ClosedResourceError`) ends the
connection quietly. Any other exception is a bug: it is logged with its traceback and the
connection is closed with 1011; the server and every other connection carry on (crash barrier).
"""

from __future__ import annotations

import itertools

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


async def _read_request(stream: trio.abc.Stream, conn: h11.Connection) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            return event
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
        # Data / EndOfMessage of a request body we do not use: skip it


async def serve_connection(stream: trio.abc.Stream, hub: Hub, max_message: int) -> None:
    peer = next(_peer_ids)
    bound = log.bind(peer=peer)
    try:
        async with stream:
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
            while True:
                with trio.move_on_after(REQUEST_TIMEOUT) as scope:
                    try:
                        request = await _read_request(stream, conn)
                    except h11.RemoteProtocolError:
                        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        return
                if scope.cancelled_caught or request is None:
                    return
                upgrade = upgrade_response(request) if request.target.split(b"?", 1)[0] == b"/" else None
                if upgrade is not None:
                    await stream.send_all(conn.send(upgrade) or b"")
                    trailing, _ = conn.trailing_data
                    await _run_websocket(stream, hub, trailing, max_message, bound)
                    return
                status, headers, body = http.route(request, hub.state, len(hub.sockets))
                await stream.send_all(http.response_bytes(conn, request, status, headers, body))
                # drain the request body, then serve the next request on this connection
                while conn.our_state is h11.DONE and conn.their_state is not h11.DONE:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        pass


async def _run_websocket(stream: trio.abc.Stream, hub: Hub, trailing: bytes, max_message: int, bound) -> None:  # type: ignore[no-untyped-def]
    ws = WebSocket(stream, trailing=trailing, max_message=max_message)
    conn_id = hub.open(ws)
    bound = bound.bind(conn_id=conn_id)
    bound.info("connection_opened")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_writer, ws, nursery.cancel_scope)
            try:
                while True:
                    try:
                        text = await ws.receive()
                    except MessageTooBig:
                        bound.info("frame_rejected", reason="too_big", limit=max_message)
                        break
                    if text is None:
                        break
                    await hub.handle_text(conn_id, text)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                nursery.cancel_scope.cancel()
            except Exception:
                bound.exception("connection_crashed")
                ws.close(1011, "internal error")
            finally:
                if not ws.closing:
                    ws.close(1000, "")
            # let the writer flush the close frame, but never wait long for a stuck peer
            nursery.cancel_scope.deadline = min(nursery.cancel_scope.deadline, trio.current_time() + 5)
    finally:
        hub.close(conn_id)
        bound.info("connection_closed", code=ws.close_code)


async def _writer(ws: WebSocket, scope: trio.CancelScope) -> None:
    try:
        await ws.run_writer()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    # once the writer is done (close frame sent, or the peer is gone) the read loop ends too
    scope.cancel()
