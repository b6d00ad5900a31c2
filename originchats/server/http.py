"""The plain HTTP routes on the WebSocket port (attachments.md §4): a table of paths and handlers.

`dispatch(ex)` answers one request (server/httpio.py `Exchange`): `OPTIONS` on any path is the CORS
preflight (204); a path that could escape a directory (`..` or `.` segments, empty segments,
backslashes, NUL or control characters, `%` left after decoding, anything but an origin-form
target) is a 404 before any handler sees it; then the exact path, else the longest prefix, picks
the handler for the method (a GET handler also answers HEAD). A path routed for other methods
answers a JSON 405, an unknown path a JSON 404. `HttpError` from a handler becomes
`{"error": text}`; any other exception ends the connection (connection.py logs it).

A handler is `async def handler(ex: Exchange, rest: str) -> None`, where `rest` is what follows a
prefix ("" for an exact path). The attachment, emoji and server-asset routes are placeholders
until server/attachments_http.py and server/assets_http.py fill them: one line each in `ROUTES`.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, Awaitable, Callable

import attrs

from ..core.state import ServerState
from . import assets_http, attachments_http, index_page, webhooks_http
from .httpio import CORS, Exchange, HttpError  # noqa: F401  (CORS: re-exported for older imports)
from .metrics import CONTENT_TYPE as METRICS_TYPE

Handler = Callable[[Exchange, str], Awaitable[None]]

_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\%]")


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


# -- handlers --------------------------------------------------------------------------------
async def root(ex: Exchange, rest: str) -> None:
    """A GET of `/` that is not a valid WebSocket upgrade (valid ones never reach the router): a
    broken upgrade is a 400; a plain GET (a browser) gets the page of server/index_page.py."""
    text = b"text/plain; charset=utf-8"
    if b"websocket" in ex.headers.get(b"upgrade", b"").lower():
        if ex.headers.get(b"sec-websocket-version") != b"13":  # RFC 6455 §4.4: name the version we speak
            await ex.send_bytes(400, b"Bad Request: unsupported WebSocket version", text,
                                [(b"Sec-WebSocket-Version", b"13")])
            return
        await ex.send_bytes(400, b"Bad Request: expected a WebSocket upgrade", text)
        return
    await index(ex, rest)


async def index(ex: Exchange, rest: str) -> None:
    stats = info(ex.hub.state, len(ex.hub.sockets))["stats"]
    await index_page.send_page(ex, members=stats["total_users"], online=stats["online_users"])


async def server_info(ex: Exchange, rest: str) -> None:
    await ex.send_json(200, info(ex.hub.state, len(ex.hub.sockets)))


async def health(ex: Exchange, rest: str) -> None:
    await ex.send_json(200, {"status": "ok"})


async def metrics(ex: Exchange, rest: str) -> None:
    """GET /metrics (server/metrics.py): a 404 unless `[metrics]` is on and served on this port; a
    401 without the bearer token."""
    m = ex.hub.metrics
    if m is None or m.separate:
        await not_found(ex, "")
    elif not m.allowed(ex.headers.get(b"authorization")):
        await ex.send_json(401, {"error": "Unauthorized"}, [(b"WWW-Authenticate", b'Bearer realm="metrics"')])
    else:
        await ex.send_bytes(200, m.render(), METRICS_TYPE, [(b"Cache-Control", b"no-store")])


async def not_found(ex: Exchange, rest: str) -> None:
    await ex.send_json(404, {"error": "Not found"})


# -- the table -------------------------------------------------------------------------------
@attrs.frozen
class Routes:
    exact: dict[str, dict[bytes, Handler]]
    prefixes: dict[str, dict[bytes, Handler]]  # "/emojis/" -> handlers of "/emojis/<rest>"

    def add(self, path: str, prefix: bool = False, **handlers: Handler) -> Routes:
        """A copy with `path` routed (`GET=handler`, `POST=handler`); tests add routes this way."""
        table = dict(self.prefixes if prefix else self.exact)
        table[path] = {m.encode(): h for m, h in handlers.items()}
        return attrs.evolve(self, **{"prefixes" if prefix else "exact": table})

    def find(self, path: str, method: bytes = b"GET") -> tuple[dict[bytes, Handler], str] | None:
        """The handlers for `path` (by method) and the rest after its prefix: the exact path's,
        unless it has no `method` handler and the longest matching prefix has one (`GET
        /attachments/upload` is a download of the id "upload", as in the original)."""
        exact = self.exact.get(path)
        if exact is not None and method in exact:
            return exact, ""
        best = None
        for prefix in self.prefixes:
            if path.startswith(prefix) and len(path) > len(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        if best is not None and (exact is None or method in self.prefixes[best]):
            return self.prefixes[best], path[len(best):]
        return None if exact is None else (exact, "")


ROUTES = Routes(
    exact={
        "/": {b"GET": root},
        "/index.html": {b"GET": index},
        "/info": {b"GET": server_info},
        "/health": {b"GET": health},
        "/metrics": {b"GET": metrics},
        "/attachments/upload": {b"POST": attachments_http.upload},
        "/webhooks": {b"POST": webhooks_http.post},
    },
    prefixes={
        "/attachments/": {b"GET": attachments_http.download},
        "/emojis/": {b"GET": assets_http.emoji},
        "/server-assets/": {b"GET": assets_http.server_asset},
        "/webhooks/": {b"POST": webhooks_http.post},
    },
)


def safe_path(target: bytes) -> tuple[str, dict[str, str]] | None:
    """(decoded path, query) of a request target, or None when it is not a plain, safe path."""
    raw, _, query = target.partition(b"?")
    if not raw.startswith(b"/") or b"\\" in raw:
        return None
    try:
        path = urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    segments = path[1:].split("/")
    if _UNSAFE.search(path) or "" in segments[:-1] or any(seg in (".", "..") for seg in segments):
        return None
    params: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        params.setdefault(key, value)
    return path, params


def _allow(handlers: dict[bytes, Handler]) -> bytes:
    methods = list(handlers)
    if b"GET" in handlers:
        methods.insert(methods.index(b"GET") + 1, b"HEAD")
    return b", ".join([*methods, b"OPTIONS"])


async def dispatch(ex: Exchange, target: bytes) -> None:
    """Answer one request (the Exchange's `path` and `query` are filled here)."""
    if ex.method == b"OPTIONS":
        await ex.send_empty(204)
        return
    parsed = safe_path(target)
    method = b"GET" if ex.method == b"HEAD" else ex.method
    ex.head = ex.method == b"HEAD"
    found = None
    if parsed is not None:
        ex.path, ex.query = parsed
        found = ROUTES.find(ex.path, method)
    try:
        if found is None:
            await not_found(ex, "")
            return
        handlers, rest = found
        handler = handlers.get(method)
        if handler is None:
            await ex.send_json(405, {"error": "Method not allowed"}, [(b"Allow", _allow(handlers))])
            return
        await handler(ex, rest)
        if not ex.responded:
            raise RuntimeError(f"the handler of {ex.path} did not answer")
    except HttpError as exc:
        if ex.responded:  # too late for an error answer: end the connection instead
            ex.close = True
            return
        ex.close = ex.close or exc.close
        await ex.send_json(exc.status, {"error": exc.text})

