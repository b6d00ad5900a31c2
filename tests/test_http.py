"""HTTP on the WebSocket port (README §1): /info, /health, CORS preflight, 404, keep-alive, bad requests."""

from __future__ import annotations

import json
from typing import Any

import h11
import httpx
import pytest
import structlog.testing
import trio
import trio.testing

from originchats.server import connection, http
from tests.client import Client
from tests.tcp import serving

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, HEAD, OPTIONS, POST",
    "access-control-allow-headers": "Content-Type, Authorization, Range",
    "access-control-expose-headers": "Content-Length, Content-Type, Cache-Control",
}


class HttpClient:
    """A keep-alive HTTP/1.1 client (h11) over any trio stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def send(self, method: str, target: str, headers: list[tuple[str, str]] | None = None,
                   body: bytes = b"") -> None:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        all_headers = [("Host", "localhost"), *(headers or [])]
        if body:
            all_headers.append(("Content-Length", str(len(body))))
        await self.stream.send_all(self.conn.send(h11.Request(method=method, target=target, headers=all_headers)))
        if body:
            await self.stream.send_all(self.conn.send(h11.Data(data=body)))
        await self.stream.send_all(self.conn.send(h11.EndOfMessage()))

    async def response(self) -> tuple[h11.Response | h11.InformationalResponse, dict[str, str], bytes]:
        head: Any = None
        body = b""
        with trio.fail_after(10):
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    self.conn.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, (h11.Response, h11.InformationalResponse)):
                    head = event
                    if isinstance(event, h11.InformationalResponse):
                        break
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
        headers = {k.decode().lower(): v.decode() for k, v in head.headers}
        return head, headers, body

    async def request(self, method: str, target: str, headers: list[tuple[str, str]] | None = None,  # type: ignore[no-untyped-def]
                      body: bytes = b""):
        await self.send(method, target, headers, body)
        return await self.response()


async def http_client(server) -> HttpClient:  # type: ignore[no-untyped-def]
    return HttpClient(await server.listener.connect())


async def read_until_eof(stream: trio.abc.Stream, timeout: float = 5) -> bytes:
    out = b""
    with trio.fail_after(timeout):
        while data := await stream.receive_some(65536):
            out += data
    return out


async def test_info_has_the_documented_shape(server):
    client = await http_client(server)
    resp, headers, body = await client.request("GET", "/info")
    assert resp.status_code == 200
    assert headers["content-type"] == "application/json"
    assert {k: headers[k] for k in CORS} == CORS
    info = json.loads(body)
    assert info == {
        "server": {"name": "My OriginChats Server", "icon": "", "banner": "", "owner": {"name": "Admin"}},
        "stats": {"total_users": 0, "connected_users": 0, "online_users": 0, "total_channels": 1,
                  "total_roles": info["stats"]["total_roles"]},
    }
    assert info["stats"]["total_roles"] >= 1


async def test_info_stats_are_live(server):
    client = await http_client(server)
    anon = await server.connect()
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    await alice.send("roles_list")
    roles = (await alice.expect("roles_list"))["roles"]
    _, _, body = await client.request("GET", "/info")
    assert json.loads(body)["stats"] == {"total_users": 2, "connected_users": 3, "online_users": 2,
                                         "total_channels": 1, "total_roles": len(roles)}
    # an invisible user is not counted online (as in users_online), a second socket of alice is
    await bob.send("status_set", status="invisible")
    await bob.expect("user_disconnect")
    await bob.expect("status_set")
    alice2 = await server.user("alice")
    _, _, body = await client.request("GET", "/info")
    assert json.loads(body)["stats"]["online_users"] == 1
    assert json.loads(body)["stats"]["connected_users"] == 4
    await anon.close()
    await alice2.close()
    await trio.testing.wait_all_tasks_blocked()
    _, _, body = await client.request("GET", "/info")
    assert json.loads(body)["stats"]["connected_users"] == 2


async def test_health_answers_ok(server):
    client = await http_client(server)
    resp, headers, body = await client.request("GET", "/health")
    assert (resp.status_code, json.loads(body)) == (200, {"status": "ok"})
    assert headers["access-control-allow-origin"] == "*"


async def test_options_is_a_cors_preflight(server):
    client = await http_client(server)
    resp, headers, body = await client.request("OPTIONS", "/anything/at/all")
    assert resp.status_code == 204
    assert body == b""
    assert "content-length" not in headers
    assert {k: headers[k] for k in CORS} == CORS


async def test_unknown_get_is_a_json_404(server):
    client = await http_client(server)
    resp, headers, body = await client.request("GET", "/nope?x=1")
    assert resp.status_code == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "Not found"}
    assert headers["access-control-allow-origin"] == "*"


async def test_index_html_tells_browsers_to_use_a_client(server):
    client = await http_client(server)
    resp, headers, body = await client.request("GET", "/index.html")
    assert resp.status_code == 200
    assert headers["cache-control"] == "no-cache"
    assert b"OriginChats" in body


async def test_head_has_headers_and_no_body(server):
    client = await http_client(server)
    resp, headers, body = await client.request("HEAD", "/info")
    assert resp.status_code == 200
    assert int(headers["content-length"]) > 0
    assert body == b""
    resp, _, body = await client.request("GET", "/health")  # the connection is still in sync
    assert json.loads(body) == {"status": "ok"}


async def test_other_methods_get_405(server):
    client = await http_client(server)
    resp, headers, body = await client.request("DELETE", "/info")
    assert resp.status_code == 405
    assert headers["allow"] == "GET, HEAD, OPTIONS"
    assert json.loads(body) == {"error": "Method not allowed"}


async def test_keep_alive_serves_two_requests_on_one_connection(server):
    client = await http_client(server)
    first, _, body1 = await client.request("GET", "/health")
    second, _, body2 = await client.request("GET", "/info")
    assert (first.status_code, second.status_code) == (200, 200)
    assert json.loads(body1) == {"status": "ok"}
    assert "stats" in json.loads(body2)


async def test_pipelined_requests_are_answered_in_order(server):
    stream = await server.listener.connect()
    await stream.send_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = await read_until_eof(stream)
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 404 " in raw and raw.endswith(b'{"error": "Not found"}')


async def test_a_request_body_is_skipped_and_the_connection_reused(server):
    stream = await server.listener.connect()
    await stream.send_all(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                          b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = await read_until_eof(stream)
    assert raw.startswith(b"HTTP/1.1 405 ")
    assert raw.endswith(b'{"status": "ok"}')


async def test_garbage_gets_400_and_the_server_keeps_serving(server):
    stream = await server.listener.connect()
    await stream.send_all(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
    raw = await read_until_eof(stream)
    assert raw.startswith(b"HTTP/1.1 400 ")
    client = await http_client(server)
    resp, _, _ = await client.request("GET", "/health")
    assert resp.status_code == 200


async def test_oversized_headers_get_431(server):
    stream = await server.listener.connect()
    await stream.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n")
    raw = await read_until_eof(stream)
    assert raw.startswith(b"HTTP/1.1 431 ")


async def test_a_peer_that_never_finishes_its_request_is_dropped(server, autojump_clock):
    stream = await server.listener.connect()
    await stream.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\n")  # no blank line: never complete
    start = trio.current_time()
    assert await read_until_eof(stream, 60) == b""
    assert trio.current_time() - start >= connection.REQUEST_TIMEOUT
    # an idle keep-alive connection is dropped the same way
    client = await http_client(server)
    await client.request("GET", "/health")
    start = trio.current_time()
    assert await read_until_eof(client.stream, 60) == b""
    assert trio.current_time() - start >= connection.REQUEST_TIMEOUT


async def test_a_crash_while_routing_ends_that_request_only(server, monkeypatch):
    async def boom(*args: Any) -> Any:
        raise RuntimeError("bug in a route")

    monkeypatch.setattr(http, "ROUTES", http.ROUTES.add("/info", GET=boom))
    with structlog.testing.capture_logs() as logs:
        stream = await server.listener.connect()
        await stream.send_all(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await read_until_eof(stream) == b""
        await trio.testing.wait_all_tasks_blocked()
    assert [e["log_level"] for e in logs if e["event"] == "connection_crashed"] == ["error"]
    monkeypatch.undo()
    client = await http_client(server)
    resp, _, _ = await client.request("GET", "/health")
    assert resp.status_code == 200
    ws = await server.user("alice")
    await ws.send("ping")
    await ws.expect("pong")


async def test_real_tcp_socket_serves_http_and_websocket(nursery, config):
    async with serving(nursery, config) as (host, port, stop):
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as web:
            health = await web.get("/health")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            info = await web.get("/info")
            assert info.json()["stats"]["connected_users"] == 0
            assert info.headers["access-control-allow-origin"] == "*"
            assert (await web.get("/missing")).json() == {"error": "Not found"}
        # keep-alive over the real socket, with a raw h11 client
        raw = HttpClient(await trio.open_tcp_stream(host, port))
        assert (await raw.request("GET", "/health"))[0].status_code == 200
        assert (await raw.request("GET", "/info"))[0].status_code == 200
        await raw.stream.aclose()
        # and a WebSocket on the same port
        client = Client(await trio.open_tcp_stream(host, port))
        await client.open(nursery)
        await client.expect("handshake")
        await client.send("register", username="tcpuser", password="pass1234")
        await client.expect("auth_success")
        await client.expect("ready")
        await client.drain()
        await client.send("ping", listener="p")
        await client.expect("pong", val="pong", listener="p")
        stop.set()
        assert await client.wait_closed() == 1001
        await client.stream.aclose()


@pytest.mark.parametrize("headers,expect_version_header", [
    ([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "8"),
      ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], True),
    ([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")], False),
    ([("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
      ("Sec-WebSocket-Key", "not base64 of 16 bytes")], False),
])
async def test_a_bad_upgrade_gets_400_and_the_server_keeps_serving(server, headers, expect_version_header):
    client = await http_client(server)
    resp, got, _ = await client.request("GET", "/", headers)
    assert resp.status_code == 400
    assert (got.get("sec-websocket-version") == "13") is expect_version_header
    ws = await server.connect()
    assert ws.handshake["cmd"] == "handshake"


def test_route_table_without_a_server():
    """The table is plain data: exact paths, then the longest prefix; `rest` is what follows it."""
    assert http.ROUTES.find("/health")[0][b"GET"] is http.health
    assert http.ROUTES.find("/info/") is None
    assert http.ROUTES.find("/attachments/upload", b"POST")[0].keys() == {b"POST"}
    assert http.ROUTES.find("/attachments/upload", b"GET")[1] == "upload"  # a download, as in the original
    assert http.ROUTES.find("/attachments/abc")[1] == "abc"
    assert http.ROUTES.find("/emojis/") is None  # a prefix needs something after it
