"""A gateway passes each plain HTTP request (attachments, emoji, webhooks, /info, ...) to the core's
HTTP port and streams the answer back: the routes need the chat state, which only the core has.

One connection per request, the body streamed both ways: the request body goes up while the answer
is awaited, so an early answer (a 413 after the head, a 405) comes back at once. The client's
connection then does what the core's answer says: closed after it (`Connection: close`, a 413), or
kept, the rest of the unread body skipped as on one process. A request the core drops without an
answer (a bug in a route) is dropped the same way here. The client's address goes along as `X-Forwarded-For` (any such
header the client sent is replaced): the core must list its gateways in `network.trusted_proxies`.
When the core cannot be reached the answer is `502 {"error": "Server unavailable, try again"}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import h11
import trio

from ..core import texts
from ..server.httpio import HttpError

CONNECT_TIMEOUT = 5.0
HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
                 b"upgrade", b"x-forwarded-for", b"content-length", b"expect"))
UNAVAILABLE = {"error": texts.SERVER_UNAVAILABLE}

Connector = Callable[[], Awaitable[trio.abc.Stream]]


def tcp_connector(address: str) -> Connector | None:
    """Connections to `HOST:PORT` (the core's advertised HTTP address); None when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None

    async def connect() -> trio.abc.Stream:
        return await trio.open_tcp_stream(host.strip("[]"), int(port))

    return connect


async def forward(ex: Any, target: bytes, connect: Connector | None) -> None:
    stream = None
    if connect is not None:
        with trio.move_on_after(CONNECT_TIMEOUT):
            try:
                stream = await connect()
            except OSError:
                stream = None
    if stream is None:
        ex.close = True
        await ex.send_json(502, UNAVAILABLE)
        return
    async with stream:
        inner = h11.Connection(h11.CLIENT)
        headers = [(name, value) for name, value in ex.headers.items() if name not in HOP]
        length = ex.headers.get(b"content-length")
        if length is not None:
            headers.append((b"content-length", length))
        elif b"chunked" in ex.headers.get(b"transfer-encoding", b"").lower():
            headers.append((b"transfer-encoding", b"chunked"))
        headers.append((b"x-forwarded-for", ex.peer.encode()))
        await stream.send_all(inner.send(h11.Request(method=ex.method, target=target, headers=headers)) or b"")
        failure: list[HttpError] = []
        async with trio.open_nursery() as both:
            both.start_soon(_pump_body, ex, stream, inner, failure)
            await _relay_answer(ex, stream, inner, failure)
            both.cancel_scope.cancel()  # an early answer: the rest of the body is not wanted here


async def _pump_body(ex: Any, stream: trio.abc.Stream, inner: h11.Connection, failure: list) -> None:
    try:
        while (data := await ex.next_data()) is not None:
            if data:
                await stream.send_all(inner.send(h11.Data(data=data)) or b"")
        await stream.send_all(inner.send(h11.EndOfMessage()) or b"")
    except HttpError as exc:  # the client stalled or went away mid-body: so does the body to the core,
        failure.append(exc)     # which answers it (after dropping what it had taken) as on one process
        try:
            await stream.send_eof()  # type: ignore[attr-defined]
        except (AttributeError, trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.aclose()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the core stopped reading (it answered early): its answer is being relayed


async def _relay_answer(ex: Any, stream: trio.abc.Stream, inner: h11.Connection, failure: list) -> None:
    try:
        event = await _next(stream, inner)
        while not isinstance(event, h11.Response):
            if isinstance(event, h11.ConnectionClosed):
                raise trio.BrokenResourceError
            event = await _next(stream, inner)
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        ex.close = True  # no answer from the core (it dropped the request): none from us either...
        if failure:  # ...unless the client's own body failed
            await ex.send_json(failure[0].status, {"error": failure[0].text})
        return
    head = [(name, value) for name, value in event.headers if name not in HOP or name == b"content-length"]
    if any(name == b"connection" and b"close" in value.lower() for name, value in event.headers):
        ex.close = True
    if ex.close:
        head.append((b"connection", b"close"))
    ex.responded = True
    await ex.send_all(ex.conn.send(h11.Response(status_code=event.status_code, headers=head,
                                                reason=event.reason)) or b"")
    while True:
        try:
            event = await _next(stream, inner)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            ex.close = True
            return
        if isinstance(event, h11.Data):
            await ex.send_all(ex.conn.send(h11.Data(data=event.data)) or b"")
        elif isinstance(event, h11.EndOfMessage):
            await ex.send_all(ex.conn.send(h11.EndOfMessage()) or b"")
            return
        else:
            ex.close = True
            return


async def _next(stream: trio.abc.Stream, inner: h11.Connection) -> Any:
    while True:
        event = inner.next_event()
        if event is not h11.NEED_DATA:
            return event
        inner.receive_data(await stream.receive_some(65536))
