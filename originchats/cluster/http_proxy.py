"""A gateway passes each plain HTTP request (attachments, emoji, webhooks, /info, ...) to the core's
HTTP port and streams the answer back: the routes need the chat state, which only the core has.

One TCP connection per request (`Connection: close` both ways on the inner hop), the body streamed
in both directions. The client's address goes along as `X-Forwarded-For` (any such header the
client sent is replaced): the core must list its gateways in `network.trusted_proxies`. When the
core cannot be reached the answer is `502 {"error": "Server unavailable, try again"}`.
"""

from __future__ import annotations

from typing import Any

import h11
import structlog
import trio

log = structlog.get_logger("originchats.cluster")
CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 60.0  # the core's answer must start within this (an upload is handled first)
HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
                 b"upgrade", b"x-forwarded-for", b"content-length", b"expect"))


def split_address(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


async def forward(ex: Any, target: bytes, core_http: str) -> None:
    where = split_address(core_http)
    stream = None
    if where is not None:
        with trio.move_on_after(CONNECT_TIMEOUT):
            try:
                stream = await trio.open_tcp_stream(*where)
            except OSError:
                stream = None
    if stream is None:
        ex.close = True
        await ex.send_json(502, {"error": "Server unavailable, try again"})
        return
    async with stream:
        inner = h11.Connection(h11.CLIENT)
        headers = [(name, value) for name, value in ex.headers.items() if name not in HOP]
        length = ex.headers.get(b"content-length")
        chunked = b"chunked" in ex.headers.get(b"transfer-encoding", b"").lower()
        if length is not None:
            headers.append((b"content-length", length))
        elif chunked:
            headers.append((b"transfer-encoding", b"chunked"))
        headers += [(b"x-forwarded-for", ex.peer.encode()), (b"connection", b"close")]
        await stream.send_all(inner.send(h11.Request(method=ex.method, target=target, headers=headers)) or b"")
        while (data := await ex.next_data()) is not None:
            if data:
                await stream.send_all(inner.send(h11.Data(data=data)) or b"")
        await stream.send_all(inner.send(h11.EndOfMessage()) or b"")
        await _answer(ex, stream, inner)


async def _answer(ex: Any, stream: trio.abc.Stream, inner: h11.Connection) -> None:
    with trio.move_on_after(ANSWER_TIMEOUT) as waited:
        while True:
            event = inner.next_event()
            if event is h11.NEED_DATA:
                inner.receive_data(await stream.receive_some(65536))
                continue
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.ConnectionClosed):
                raise trio.BrokenResourceError("the core closed the connection")
    if waited.cancelled_caught:
        ex.close = True
        await ex.send_json(504, {"error": "Server unavailable, try again"})
        return
    head = [(name, value) for name, value in event.headers if name not in HOP or name == b"content-length"]
    if ex.close:
        head.append((b"connection", b"close"))
    ex.responded = True
    await ex.send_all(ex.conn.send(h11.Response(status_code=event.status_code, headers=head,
                                                reason=event.reason)) or b"")
    while True:
        event = inner.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            inner.receive_data(data)
            continue
        if isinstance(event, h11.Data):
            await ex.send_all(ex.conn.send(h11.Data(data=event.data)) or b"")
        elif isinstance(event, h11.EndOfMessage):
            await ex.send_all(ex.conn.send(h11.EndOfMessage()) or b"")
            return
        else:
            ex.close = True
            return
