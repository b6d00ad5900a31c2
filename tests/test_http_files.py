"""The HTTP transport (server/httpio.py, server/http.py): files served through the real serve(),
the route table's placeholders, path traversal, security and CORS headers.

A test-only route `/test-file/<name>` serves `<files>/<name>` with `Exchange.send_file`, the way
the attachment and emoji routes do."""

from __future__ import annotations

import email.utils
import json
import os
from pathlib import Path

import pytest

from originchats.server import file_response, http
from tests.test_http import CORS, http_client, read_until_eof


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "served"
    base.mkdir()
    (tmp_path / "secret.txt").write_bytes(b"not for you")  # next to the served directory

    async def serve_test_file(ex, rest):  # type: ignore[no-untyped-def]
        q = ex.query
        await ex.send_file(base / rest, content_type=q.get("type", "application/octet-stream"),
                           inline=q.get("inline") == "1", download_name=q.get("name"), etag=q.get("etag"))

    monkeypatch.setattr(http, "ROUTES", http.ROUTES.add("/test-file/", prefix=True, GET=serve_test_file))
    return base


async def test_a_file_is_served_with_the_security_headers(server, files):
    (files / "a.png").write_bytes(b"\x89PNG fake")
    client = await http_client(server)
    resp, headers, body = await client.request("GET", "/test-file/a.png?type=image/png&inline=1")
    assert (resp.status_code, body) == (200, b"\x89PNG fake")
    assert headers["content-type"] == "image/png"
    assert headers["content-length"] == "9"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "sandbox"
    assert headers["accept-ranges"] == "bytes"
    assert headers["cache-control"] == "public, max-age=3600"
    assert headers["etag"].startswith('"')
    assert email.utils.parsedate_to_datetime(headers["last-modified"]).timestamp() == int(os.stat(files / "a.png").st_mtime)
    assert "content-disposition" not in headers
    assert CORS.items() <= headers.items()


async def test_a_download_gets_a_safe_attachment_disposition(server, files):
    (files / "x.html").write_bytes(b"<script>alert(1)</script>")
    client = await http_client(server)
    name = 'évil"\r\nSet-Cookie: a=b;.html'
    from urllib.parse import quote
    resp, headers, _ = await client.request("GET", f"/test-file/x.html?type=text/html&name={quote(name)}")
    assert resp.status_code == 200
    dispo = headers["content-disposition"]
    assert dispo.startswith("attachment; ")
    assert "set-cookie" not in headers and "\r" not in dispo and '"' not in dispo.split('filename="')[1][:-1].split('";')[0]
    assert "filename*=UTF-8''%C3%A9vil%22Set-Cookie%3A%20a%3Db%3B.html" in dispo
    resp, headers, _ = await client.request("GET", "/test-file/x.html?type=text/html")
    assert headers["content-disposition"] == "attachment"


async def test_head_has_the_headers_and_no_body(server, files):
    (files / "f.bin").write_bytes(b"x" * 1000)
    client = await http_client(server)
    resp, headers, body = await client.request("HEAD", "/test-file/f.bin")
    assert (resp.status_code, headers["content-length"], body) == (200, "1000", b"")
    resp, _, body = await client.request("GET", "/test-file/f.bin")  # the connection is still in sync
    assert (resp.status_code, len(body)) == (200, 1000)


@pytest.mark.parametrize("range_header,status,content_range,expect", [
    ("bytes=0-9", 206, "bytes 0-9/100", slice(0, 10)),
    ("bytes=90-", 206, "bytes 90-99/100", slice(90, 100)),
    ("bytes=-5", 206, "bytes 95-99/100", slice(95, 100)),
    ("bytes=50-1000", 206, "bytes 50-99/100", slice(50, 100)),
    ("bytes=-500", 206, "bytes 0-99/100", slice(0, 100)),
    ("bytes=100-", 416, "bytes */100", None),
    ("bytes=-0", 416, "bytes */100", None),
    ("bytes=0-1,5-6", 200, None, slice(0, 100)),  # several ranges: the whole file
    ("pages=1-2", 200, None, slice(0, 100)),  # not bytes: ignored
])
async def test_ranges(server, files, range_header, status, content_range, expect):
    data = bytes(range(100))
    (files / "r.bin").write_bytes(data)
    client = await http_client(server)
    resp, headers, body = await client.request("GET", "/test-file/r.bin", [("Range", range_header)])
    assert resp.status_code == status
    assert headers.get("content-range") == content_range
    assert body == (data[expect] if expect else b"")
    assert (await client.request("GET", "/health"))[0].status_code == 200  # keep-alive still in sync


async def test_if_range_that_does_not_match_gets_the_whole_file(server, files):
    (files / "r.bin").write_bytes(b"0123456789")
    client = await http_client(server)
    _, headers, _ = await client.request("HEAD", "/test-file/r.bin")
    resp, _, body = await client.request("GET", "/test-file/r.bin", [("Range", "bytes=2-3"), ("If-Range", headers["etag"])])
    assert (resp.status_code, body) == (206, b"23")
    resp, _, body = await client.request("GET", "/test-file/r.bin", [("Range", "bytes=2-3"), ("If-Range", '"other"')])
    assert (resp.status_code, body) == (200, b"0123456789")


async def test_conditional_requests_get_304(server, files):
    (files / "c.txt").write_bytes(b"cached")
    client = await http_client(server)
    _, headers, _ = await client.request("GET", "/test-file/c.txt")
    etag, modified = headers["etag"], headers["last-modified"]
    resp, got, body = await client.request("GET", "/test-file/c.txt", [("If-None-Match", f'"zzz", W/{etag}')])
    assert (resp.status_code, body, got["etag"]) == (304, b"", etag)
    assert "content-length" not in got and got["x-content-type-options"] == "nosniff"
    resp, _, _ = await client.request("GET", "/test-file/c.txt", [("If-Modified-Since", modified)])
    assert resp.status_code == 304
    # If-None-Match wins over If-Modified-Since; an older date or another tag gets the file
    resp, _, body = await client.request("GET", "/test-file/c.txt", [("If-None-Match", '"zzz"'), ("If-Modified-Since", modified)])
    assert (resp.status_code, body) == (200, b"cached")
    resp, _, body = await client.request("GET", "/test-file/c.txt", [("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")])
    assert (resp.status_code, body) == (200, b"cached")


async def test_a_caller_etag_is_used_quoted(server, files):
    (files / "e.txt").write_bytes(b"e")
    client = await http_client(server)
    _, headers, _ = await client.request("GET", "/test-file/e.txt?etag=abc123")
    assert headers["etag"] == '"abc123"'
    resp, _, _ = await client.request("GET", "/test-file/e.txt?etag=abc123", [("If-None-Match", '"abc123"')])
    assert resp.status_code == 304


async def test_a_big_file_is_streamed_in_chunks(server, files, monkeypatch):
    """An 8 MiB file is read piece by piece (never whole), and arrives intact."""
    data = os.urandom(8 * 1024 * 1024)
    (files / "big.bin").write_bytes(data)
    reads: list[int] = []
    real = file_response.read_chunk

    def counting(f, size):  # type: ignore[no-untyped-def]
        piece = real(f, size)
        reads.append(len(piece))
        return piece

    monkeypatch.setattr(file_response, "read_chunk", counting)
    client = await http_client(server)
    resp, _, body = await client.request("GET", "/test-file/big.bin")
    assert resp.status_code == 200 and body == data
    assert max(reads) <= file_response.FILE_CHUNK < len(data)
    assert len(reads) == len(data) // file_response.FILE_CHUNK
    reads.clear()
    resp, _, body = await client.request("GET", "/test-file/big.bin", [("Range", "bytes=100-")])
    assert body == data[100:] and max(reads) <= file_response.FILE_CHUNK


async def test_files_over_a_real_socket_are_sent_whole_and_in_ranges(nursery, config, files):
    """Over TCP the body leaves by sendfile (file_response._sendfile): whole, a range, HEAD, and
    the keep-alive connection stays in sync after each."""
    from functools import partial

    import trio

    from originchats.server.app import serve
    from tests.test_http import HttpClient

    data = os.urandom(8 * 1024 * 1024 + 5)
    (files / "big.bin").write_bytes(data)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    stop = trio.Event()
    await nursery.start(partial(serve, config, listeners=listeners, stop=stop))
    host, port = listeners[0].socket.getsockname()[:2]
    client = HttpClient(await trio.open_tcp_stream(host, port))
    resp, headers, body = await client.request("GET", "/test-file/big.bin")
    assert (resp.status_code, headers["content-length"], body == data) == (200, str(len(data)), True)
    resp, _, body = await client.request("GET", "/test-file/big.bin", [("Range", "bytes=1000000-")])
    assert (resp.status_code, body == data[1000000:]) == (206, True)
    resp, _, body = await client.request("HEAD", "/test-file/big.bin")
    assert (resp.status_code, body) == (200, b"")
    resp, _, body = await client.request("GET", "/test-file/big.bin", [("Range", "bytes=-3")])
    assert (resp.status_code, body) == (206, data[-3:])
    assert (await client.request("GET", "/health"))[0].status_code == 200
    await client.stream.aclose()
    stop.set()


async def test_a_missing_file_or_a_directory_is_a_json_404(server, files):
    (files / "dir").mkdir()
    client = await http_client(server)
    for target in ("/test-file/nope", "/test-file/dir"):
        resp, headers, body = await client.request("GET", target)
        assert (resp.status_code, json.loads(body)) == (404, {"error": "Not found"})
        assert CORS.items() <= headers.items()


@pytest.mark.parametrize("target", [
    "/test-file/../secret.txt", "/test-file/..%2fsecret.txt", "/test-file/%2e%2e/secret.txt",
    "/test-file/%2E%2E%2Fsecret.txt", "/test-file/..%5csecret.txt", "/test-file/..\\secret.txt",
    "/test-file//etc/passwd", "/test-file/%2fetc%2fpasswd", "/test-file/a%00b", "/test-file/./x",
    "/test-file/%252e%252e%252fsecret.txt", "/emojis/../info", "/attachments/%2e%2e/health",
    "http://localhost/test-file/x",
])
async def test_path_traversal_is_a_404_in_every_route(server, files, target):
    (files / "x").write_bytes(b"x")
    stream = await server.listener.connect()
    await stream.send_all(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    raw = await read_until_eof(stream)
    assert raw.startswith(b"HTTP/1.1 404 ")
    assert raw.endswith(b'{"error": "Not found"}')


async def test_the_attachment_routes_and_unrouted_methods(server):
    client = await http_client(server)
    for method, target, answer in [("GET", "/attachments/abc", "Attachment not found or expired"),
                                   ("GET", "/attachments/upload", "Attachment not found or expired")]:
        resp, headers, body = await client.request(method, target)
        assert (resp.status_code, json.loads(body)) == (404, {"error": answer}), target
        assert CORS.items() <= headers.items()
    # the emoji and server-asset routes (server/assets_http.py) answer the spec's plain-text 404s
    for target, text in [("/emojis/x.png", b"Emoji not found"), ("/server-assets/icon", b"Server asset not found")]:
        resp, headers, body = await client.request("GET", target)
        assert (resp.status_code, body) == (404, text), target
        assert CORS.items() <= headers.items()
    resp, headers, _ = await client.request("POST", "/emojis/x.png", body=b"x")
    assert (resp.status_code, headers["allow"]) == (405, "GET, HEAD, OPTIONS")
    resp, headers, _ = await client.request("GET", "/nowhere/at/all")
    assert resp.status_code == 404
    resp, headers, body = await client.request("HEAD", "/emojis/x.png")
    assert (resp.status_code, body) == (404, b"")


@pytest.mark.parametrize("target", ["/attachments/upload", "/emojis/a/../../b", "/anything", "*"])
async def test_options_anywhere_is_204(server, target):
    client = await http_client(server)
    resp, headers, body = await client.request("OPTIONS", target)
    assert (resp.status_code, body) == (204, b"")
    assert CORS.items() <= headers.items()


async def test_the_exchange_a_handler_sees(make_server, monkeypatch):
    """Method, decoded path, query (first value wins), lower-case headers, and the client address
    through a trusted proxy, as the WebSocket gets it."""
    from originchats.config import NetworkSection

    seen = {}

    async def echo(ex, rest):  # type: ignore[no-untyped-def]
        seen.update(method=ex.method, path=ex.path, rest=rest, query=ex.query, peer=ex.peer,
                    agent=ex.headers.get(b"x-test"))
        await ex.send_json(200, {})

    monkeypatch.setattr(http, "ROUTES", http.ROUTES.add("/echo/", prefix=True, GET=echo))
    server = await make_server(network=NetworkSection(trusted_proxies=["10.0.0.0/8"]))
    for ip, forwarded, peer in [("10.0.0.7", "198.51.100.4", "198.51.100.4"), ("192.0.2.1", "198.51.100.4", "192.0.2.1")]:
        from tests.test_http import HttpClient

        client = HttpClient(await server.listener.connect(ip))
        resp, _, _ = await client.request("HEAD", "/echo/caf%C3%A9%20x?a=1&a=2&b=%2F",
                                          [("X-Forwarded-For", forwarded), ("X-Test", "yes")])
        assert resp.status_code == 200
        assert seen == {"method": b"HEAD", "path": "/echo/café x", "rest": "café x", "query": {"a": "1", "b": "/"},
                        "peer": peer, "agent": b"yes"}
