"""The page a browser gets for a plain `GET /` (issue 11, part 6): name, icon, counts, the WebSocket
URL, registration; no outside assets and a strict CSP.

The first tests read the answer over HTTP from the real server (in-memory streams). The last one
loads the page in real headless Chromium (Debian's `chromium`, driven by Playwright's Python API
with `executable_path`; never a downloaded browser build: scripts/test installs the Debian package
when it is missing) from the real server on a loopback TCP port, and checks what it renders, that
it asked nothing of anyone but the server, and that the console shows no CSP violation.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
import h11
import pytest
import trio

from originchats.config import CrackedSection, ServerSection
from tests import media_samples
from tests.client import Client, sign_in
from tests.tcp import serving
from tests.test_http import http_client

CHROMIUM = "/usr/bin/chromium"
# as the issue says, plus those that keep a fresh profile from calling home
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NASTY = 'Cats <script>alert("pwned")</script> & <b>co</b>'


async def get_page(server: Any, headers: list[tuple[str, str]] | None = None) -> tuple[int, dict[str, str], str]:
    client = await http_client(server)
    resp, got, body = await client.request("GET", "/", headers)
    return resp.status_code, got, body.decode()


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert match, f"no #{element_id} in the page"
    return match.group(1)


async def test_a_plain_get_of_root_is_the_server_page(server):
    status, headers, page = await get_page(server)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert text_of(page, "name") == "My OriginChats Server"
    assert text_of(page, "ws-url") == "ws://localhost/"  # the request's Host, plain: ws
    assert (text_of(page, "members"), text_of(page, "online")) == ("0", "0")
    assert text_of(page, "registration").startswith("Open: ")
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # nothing from anywhere


async def test_the_csp_allows_only_the_page_s_own_style_and_images(server):
    _, headers, page = await get_page(server)
    policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
    style = re.fullmatch(r".*<style>(.*)</style>.*", page, re.S).group(1)  # type: ignore[union-attr]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy == {"default-src": "'none'", "img-src": "'self'", "style-src": f"'sha256-{digest}'",
                      "base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'"}
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


async def test_counts_follow_members_and_who_is_online(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await bob.close()
    _, _, page = await get_page(server)
    assert (text_of(page, "members"), text_of(page, "online")) == ("2", "1")
    await alice.close()


async def test_every_value_is_escaped(make_server):
    srv = await make_server(server=ServerSection(name=NASTY))
    _, _, page = await get_page(srv, [("X-Ignored", "<script>")])
    assert "<script" not in page and "<b>" not in page
    assert text_of(page, "name") == NASTY.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") \
        .replace('"', "&quot;")
    assert f"<title>{text_of(page, 'name')}</title>" in page


async def test_a_host_header_that_is_not_a_host_is_not_echoed(server):
    client = await http_client(server)
    request = h11.Request(method="GET", target="/", headers=[("Host", 'x"><img src=//evil.example>')])
    await client.stream.send_all(client.conn.send(request) + client.conn.send(h11.EndOfMessage()))
    _, _, body = await client.response()
    page = body.decode()
    assert "evil" not in page
    assert text_of(page, "ws-url") == "ws://127.0.0.1:5613/"  # the listening address instead


@pytest.mark.parametrize("url,expected", [("https://Chat.Example.org/", "wss://chat.example.org/"),
                                          ("http://chat.example.org:8080", "ws://chat.example.org:8080/"),
                                          ("wss://chat.example.org", "wss://chat.example.org/")])
async def test_the_websocket_url_comes_from_server_url_when_set(make_server, url, expected):
    srv = await make_server(server=ServerSection(url=url))
    _, _, page = await get_page(srv)
    assert text_of(page, "ws-url") == expected


@pytest.mark.parametrize("mode,allow,expected", [
    ("cracked-only", False, "Closed: only existing accounts can sign in"),
    ("cracked", True, "Open: choose a name and a password in your client; Rotur accounts can sign in too"),
    ("rotur", True, "Sign in with a Rotur account"),
])
async def test_registration_is_shown_as_configured(make_server, mode, allow, expected):
    srv = await make_server(auth_mode=mode, cracked=CrackedSection(allow_registration=allow, argon2_memory_kib=64,
                                                                   argon2_time_cost=1))
    _, _, page = await get_page(srv)
    assert text_of(page, "registration") == expected


async def test_a_broken_websocket_upgrade_is_still_a_400(server):
    client = await http_client(server)
    resp, headers, body = await client.request("GET", "/", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                            ("Sec-WebSocket-Version", "8")])
    assert (resp.status_code, headers["sec-websocket-version"]) == (400, "13")
    client = await http_client(server)
    resp, _, body = await client.request("GET", "/", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                      ("Sec-WebSocket-Version", "13")])  # no key
    assert (resp.status_code, body) == (400, b"Bad Request: expected a WebSocket upgrade")


# ---- in real headless Chromium ---------------------------------------------------------------------


def chromium() -> str:
    """Debian's chromium, or a failure that says how to get it (never skipped: CI must run this)."""
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: this test needs Debian's chromium package (`apt-get install -y "
                    "chromium` as root; scripts/test does it when run as root). A browser build downloaded by "
                    "Playwright is never used.", pytrace=False)
    return CHROMIUM


@attrs.frozen
class Seen:
    texts: dict[str, str]
    requests: list[str]
    console: list[str]
    icon_width: int
    styled: bool
    scripts: int


def load_in_chromium(url: str, profile: str) -> Seen:
    """Open `url` in headless Chromium and read what it shows (runs in a worker thread: Playwright's
    sync API has an event loop of its own)."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    console: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(profile, executable_path=chromium(), headless=True,
                                                        args=CHROMIUM_FLAGS, service_workers="block")
        try:
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            response = page.goto(url, wait_until="load", timeout=20_000)
            assert response is not None and response.status == 200
            texts = {key: page.inner_text(f"#{key}") for key in ("name", "ws-url", "members", "online",
                                                                   "registration")}
            icon_width = page.evaluate("document.getElementById('icon').naturalWidth")
            # the style block ran (its hash is in the CSP): the card has its rounded corners
            styled = page.evaluate("getComputedStyle(document.querySelector('main')).borderTopLeftRadius") == "12px"
            scripts = page.evaluate("document.scripts.length")
        finally:
            context.close()
    return Seen(texts, requests, console, icon_width, styled, scripts)


async def test_the_page_in_headless_chromium(nursery, config, tmp_path):
    chromium()
    data_dir = Path(config.storage.data_dir)
    (data_dir / "server-assets").mkdir(parents=True)
    (data_dir / "server-assets" / "logo.png").write_bytes(media_samples.image("PNG", size=(48, 48)))
    config = attrs.evolve(config, server=ServerSection(name=NASTY, icon="logo.png"))
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)  # a fresh --user-data-dir
    async with serving(nursery, config) as (host, port, _):
        members = []
        for name in ("alice", "bob"):
            client = Client(await trio.open_tcp_stream(host, port))
            await client.open(nursery)
            await client.expect("handshake")
            members.append(await sign_in(client, name, "pass1234"))
        await members[1].close()
        try:
            with trio.fail_after(60):
                seen = await trio.to_thread.run_sync(load_in_chromium, f"http://{host}:{port}/", profile)
        finally:
            for member in members:
                await trio.aclose_forcefully(member.stream)
            shutil.rmtree(profile, ignore_errors=True)

    assert seen.texts == {"name": NASTY, "ws-url": f"ws://{host}:{port}/", "members": "2", "online": "1",
                          "registration": "Open: choose a name and a password in your client; "
                                          "Rotur accounts can sign in too"}
    origin = f"http://{host}:{port}/"
    assert seen.requests and all(url.startswith(origin) for url in seen.requests), seen.requests
    assert f"{origin}server-assets/icon" in {url.partition("?")[0] for url in seen.requests}
    assert seen.icon_width == 48  # the icon came from the server's own route
    assert not [line for line in seen.console if "Content Security Policy" in line or "pageerror" in line], \
        seen.console
    assert seen.styled and seen.scripts == 0
