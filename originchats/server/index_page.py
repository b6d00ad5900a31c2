"""The page a browser gets for a plain `GET /` (issue 11, part 6): what this server is and how to
join it.

It shows the server's name and icon, its member and online counts, the WebSocket URL to paste into
a client and whether registration is open. It is one self-contained document: no script at all,
the icon from this server's own `/server-assets/icon` route, and one inline style block allowed by
its hash in the `Content-Security-Policy` (`default-src 'none'`: nothing else may load, no script
may run, no form may post, no other site may frame it). Every value is HTML-escaped: the name is
the operator's (and `server_update` can change it), the host comes from the request.

The WebSocket URL: from `server.url` when it is set (http -> ws, https -> wss), else from the
request's `Host` (when it is a plain host[:port]) with `wss` on a TLS connection and `ws`
otherwise, else from the listening address.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import urllib.parse

import trio

from ..core.state import ServerState
from .httpio import Exchange

STYLE = (
    "body{margin:0;font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d1f23}"
    "main{max-width:34rem;margin:3rem auto;padding:1.5rem 2rem;background:#fff;border-radius:12px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.12)}"
    "header{display:flex;align-items:center;gap:1rem}"
    "header img{width:64px;height:64px;border-radius:16px;object-fit:cover}"
    "h1{font-size:1.6rem;margin:0;overflow-wrap:anywhere}"
    "code{display:block;padding:.6rem .8rem;background:#eef0f3;border-radius:6px;font-size:1rem;"
    "overflow-wrap:anywhere;user-select:all}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem;margin:1.2rem 0 0}"
    "dt{color:#5b616b}dd{margin:0;font-weight:600}"
    "@media (prefers-color-scheme:dark){body{background:#17181b;color:#e6e7ea}main{background:#222428}"
    "code{background:#2d3035}dt{color:#a3a8b1}}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = ("default-src 'none'; img-src 'self'; style-src 'sha256-" + STYLE_HASH + "'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'").encode()
HEADERS = [(b"Content-Security-Policy", CSP), (b"Cache-Control", b"no-cache"), (b"Referrer-Policy", b"no-referrer"),
           (b"X-Frame-Options", b"DENY")]
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:[0-9]{1,5})?")


def websocket_url(state: ServerState, host: bytes, tls: bool) -> str:
    s = state.settings
    if s.server.get("url") and "://" in s.public_base:  # public_base: server.url, lower-cased, as http(s)
        scheme, _, rest = s.public_base.partition("://")
        secure = tls if "://" not in str(s.server["url"]) else scheme == "https"
        return ("wss" if secure else "ws") + "://" + rest + "/"
    scheme = "wss" if tls else "ws"
    text = host.decode("latin-1").strip()
    if _HOST.fullmatch(text):
        return f"{scheme}://{text.lower()}/"
    rest = s.public_base.partition("://")[2] or "127.0.0.1"
    return f"{scheme}://{rest}/"


def registration(state: ServerState) -> str:
    s = state.settings
    if s.auth_mode == "rotur":
        return "Sign in with a Rotur account"
    text = ("Open: choose a name and a password in your client" if s.allow_registration
            else "Closed: only existing accounts can sign in")
    return text + ("; Rotur accounts can sign in too" if s.auth_mode == "cracked" else "")


def icon_src(state: ServerState) -> str | None:
    """The icon served by this server (never an outside URL: the page loads nothing from elsewhere)."""
    if "icon" not in state.server_assets:
        return None
    version = str(state.settings.server.get("icon", "")).partition("?v=")[2]
    return "/server-assets/icon" + (f"?v={urllib.parse.quote(version, safe='')}" if version else "")


def render(state: ServerState, *, members: int, online: int, ws_url: str) -> bytes:
    e = html.escape
    name = str(state.settings.server.get("name", "")) or "OriginChats server"
    icon = icon_src(state)
    link = f'<link rel="icon" href="{e(icon)}">' if icon else ""
    img = f'<img id="icon" src="{e(icon)}" alt="">' if icon else ""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(name)}</title>{link}<style>{STYLE}</style></head><body><main>"
        f'<header>{img}<h1 id="name">{e(name)}</h1></header>'
        "<p>This is an OriginChats chat server. To join, open an OriginChats client and add this server "
        "with the address below.</p>"
        f'<code id="ws-url">{e(ws_url)}</code>'
        f'<dl><dt>Members</dt><dd id="members">{members}</dd>'
        f'<dt>Online now</dt><dd id="online">{online}</dd>'
        f'<dt>Registration</dt><dd id="registration">{e(registration(state))}</dd></dl>'
        "</main></body></html>"
    )
    return page.encode()


async def send_page(ex: Exchange, members: int, online: int) -> None:
    state = ex.hub.state
    url = websocket_url(state, ex.headers.get(b"host", b""), isinstance(ex.stream, trio.SSLStream))
    body = render(state, members=members, online=online, ws_url=url)
    await ex.send_bytes(200, body, b"text/html; charset=utf-8", HEADERS)
