"""Plain HTTP routes on the WebSocket port: /info, /health, CORS preflight, JSON 404."""

from __future__ import annotations

import json
from typing import Any

import h11

from ..core.state import ServerState

CORS = [
    (b"Access-Control-Allow-Origin", b"*"),
    (b"Access-Control-Allow-Methods", b"GET, HEAD, OPTIONS, POST"),
    (b"Access-Control-Allow-Headers", b"Content-Type, Authorization, Range"),
    (b"Access-Control-Expose-Headers", b"Content-Length, Content-Type, Cache-Control"),
]

INDEX_HTML = (b"<!doctype html><html><head><meta charset=\"utf-8\"><title>OriginChats server</title></head>"
              b"<body><p>This is an OriginChats server. Connect to it with an OriginChats client.</p></body></html>")


def info(state: ServerState, connected_sockets: int) -> dict[str, Any]:
    s = state.settings.server
    online = set()
    for uid in state.conns.online_user_ids():
        user = state.users.get(uid)
        # as in `users_online`: an invisible user is not counted (no invisibility leak)
        if user is not None and not user.deleted and user.status != "invisible":
            online.add(user.id)
    return {
        "server": {"name": s.get("name", ""), "icon": s.get("icon", ""), "banner": s.get("banner", ""),
                   "owner": s.get("owner", {})},
        "stats": {"total_users": state.users.live_count,
                  "connected_users": connected_sockets, "online_users": len(online),
                  "total_channels": len(state.channels), "total_roles": len(state.roles)},
    }


def route(request: h11.Request, state: ServerState, connected_sockets: int) -> tuple[int, list, bytes]:
    """(status, extra headers, body) for a non-WebSocket request."""
    method = request.method.upper()
    path = request.target.split(b"?", 1)[0]
    if method == b"OPTIONS":
        return 204, [], b""
    if method not in (b"GET", b"HEAD"):
        return 405, [(b"Content-Type", b"application/json"), (b"Allow", b"GET, HEAD, OPTIONS")], \
            b'{"error": "Method not allowed"}'
    if path == b"/":
        headers = {k.lower(): v for k, v in request.headers}
        if b"websocket" in headers.get(b"upgrade", b"").lower() and headers.get(b"sec-websocket-version") != b"13":
            # RFC 6455 §4.4: name the version we speak
            return 400, [(b"Content-Type", b"text/plain; charset=utf-8"), (b"Sec-WebSocket-Version", b"13")], \
                b"Bad Request: unsupported WebSocket version"
        return 400, [(b"Content-Type", b"text/plain; charset=utf-8")], b"Bad Request: expected a WebSocket upgrade"
    if path == b"/index.html":
        return 200, [(b"Content-Type", b"text/html; charset=utf-8"), (b"Cache-Control", b"no-cache")], INDEX_HTML
    if path == b"/info":
        body = json.dumps(info(state, connected_sockets)).encode()
        return 200, [(b"Content-Type", b"application/json")], body
    if path == b"/health":
        return 200, [(b"Content-Type", b"application/json")], b'{"status": "ok"}'
    return 404, [(b"Content-Type", b"application/json")], b'{"error": "Not found"}'


def response_bytes(conn: h11.Connection, request: h11.Request, status: int, headers: list, body: bytes) -> bytes:
    all_headers = CORS + headers
    if status != 204:  # RFC 9110 §8.6: no Content-Length in a 204
        all_headers = all_headers + [(b"Content-Length", str(len(body)).encode())]
    out = conn.send(h11.Response(status_code=status, headers=all_headers)) or b""
    if request.method.upper() != b"HEAD" and body:
        out += conn.send(h11.Data(data=body)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    return out
