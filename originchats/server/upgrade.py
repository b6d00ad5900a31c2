"""The common case of the HTTP side, without h11: a WebSocket upgrade of `GET /` that arrived whole.

Nearly every connection starts with the same request: a `GET /` of a few short headers asking for
a WebSocket, all in the first read. h11's general parser, its `Request` and `Response` events and
their validation cost more than the rest of the upgrade (docs/performance.md, "Connections").
`parse_upgrade` takes that request, and only that one, in a strict subset of HTTP/1.1 that h11
accepts the same way: the request line `GET <target> HTTP/1.1`, CRLF line ends, header names of
token characters, values of visible ASCII and spaces, exactly one `Host`, no body headers, no
repeated header that the upgrade reads, the head (with its blank line) within `max_head` bytes,
and the upgrade headers as `ws.upgrade_response` wants them, with `upgrade` a token of
`Connection` (as h11 requires to switch protocols) and nothing but `keep-alive` beside it.
Everything else (a partial head, another method or target, a plain HTTP route, anything unusual)
returns None and goes to h11 with the bytes already read, so the limits and the answers (400,
404, 431, the timeout) stay h11's.

The answer is the same bytes h11 writes for `ws.upgrade_response` (tests/test_upgrade_fast.py).
"""

from __future__ import annotations

import re

import attrs

from .ws import accept_key, valid_key

_REQUEST_LINE = re.compile(rb"GET (/(?:\?[\x21-\x7e]*)?) HTTP/1\.1")
_HEADER = re.compile(rb"([-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*((?:[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)?)[ \t]*")
# names read here or that make h11 expect a body: any of them twice (or a body header) -> h11
_SINGLE = frozenset({b"host", b"upgrade", b"connection", b"sec-websocket-key", b"sec-websocket-version",
                     b"x-forwarded-for", b"sec-websocket-extensions"})
_BODY = frozenset({b"content-length", b"transfer-encoding"})


@attrs.frozen
class Upgrade:
    headers: list[tuple[bytes, bytes]]  # (lower-case name, value), as h11's `Request.headers` iterates
    response: bytes  # the 101
    trailing: bytes  # what was read past the head (the first frames)
    key: bytes = b""  # Sec-WebSocket-Key (the 101 with an extension is built from it: `response_101`)
    extensions: bytes | None = None  # Sec-WebSocket-Extensions, if sent (server/deflate.py negotiates)


def _upgrade_only(connection: bytes) -> bool:
    """`Connection` names `upgrade` as a token, and at most `keep-alive` besides (what browsers send)."""
    tokens = {t.strip() for t in connection.lower().split(b",")}
    return b"upgrade" in tokens and tokens <= {b"upgrade", b"keep-alive"}


def response_101(key: bytes, extensions: bytes | None = None) -> bytes:
    """The 101 h11 would write for `ws.upgrade_response` (with `Sec-WebSocket-Extensions` when one
    was accepted)."""
    ext = b"" if extensions is None else b"Sec-WebSocket-Extensions: " + extensions + b"\r\n"
    return b"HTTP/1.1 101 \r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + \
        accept_key(key) + b"\r\n" + ext + b"\r\n"


def parse_upgrade(data: bytes, max_head: int) -> Upgrade | None:
    """The upgrade when `data` starts with a whole, plain WebSocket upgrade of `GET /`; else None
    (then h11 reads the request, from these same bytes)."""
    end = data.find(b"\r\n\r\n", 0, max_head)
    if end < 0 or end + 4 > max_head:
        return None
    head = data[:end]
    if b"\n" in head.replace(b"\r\n", b"") or b"\r" in head.replace(b"\r\n", b""):
        return None
    lines = head.split(b"\r\n")
    if _REQUEST_LINE.fullmatch(lines[0]) is None:
        return None
    headers: list[tuple[bytes, bytes]] = []
    seen: dict[bytes, bytes] = {}
    for line in lines[1:]:
        match = _HEADER.fullmatch(line)
        if match is None:
            return None
        name, value = match[1].lower(), match[2]
        if name in _BODY or (name in _SINGLE and name in seen):
            return None
        seen[name] = value
        headers.append((name, value))
    key = seen.get(b"sec-websocket-key")
    if (b"host" not in seen or key is None or seen.get(b"sec-websocket-version") != b"13"
            or b"websocket" not in seen.get(b"upgrade", b"").lower()
            or not _upgrade_only(seen.get(b"connection", b""))
            or not valid_key(key)):
        return None
    return Upgrade(headers, response_101(key), data[end + 4:], key, seen.get(b"sec-websocket-extensions"))
