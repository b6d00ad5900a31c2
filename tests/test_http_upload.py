"""Request bodies through the real serve(): `Exchange.read_upload` (the streamed JSON upload of
attachments.md §4) and `read_body`, behind a test-only route as the attachment route uses them.

The route answers what it got: the fields, the file's size and SHA-256 as read_upload reported
them, and the SHA-256 of the temp file's bytes on disk (then deletes it, as a caller must)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import partial
from pathlib import Path

import h11
import pytest
import trio

from originchats.server import http
from tests.test_http import HttpClient, http_client, read_until_eof

BODY_LIMIT = 10_000
FILE_LIMIT = 5000


@pytest.fixture
def tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    up = tmp_path / "uploads"
    up.mkdir()

    async def upload(ex, rest):  # type: ignore[no-untyped-def]
        form = await ex.read_upload(body_limit=BODY_LIMIT, file_limit=FILE_LIMIT, tmp_dir=up)
        answer: dict = {"fields": form.fields, "file": None}
        if form.file is not None:
            on_disk = form.file.path.read_bytes()
            assert form.file.path.parent == up
            answer["file"] = {"size": form.file.size, "sha256": form.file.sha256,
                              "disk_sha256": hashlib.sha256(on_disk).hexdigest()}
            form.file.path.unlink()
        await ex.send_json(201, answer)

    async def small(ex, rest):  # type: ignore[no-untyped-def]
        body = await ex.read_body(100)
        await ex.send_json(200, {"got": body.decode()})

    monkeypatch.setattr(http, "ROUTES", http.ROUTES.add("/test-upload", POST=upload).add("/test-body", POST=small))
    return up


def upload_body(data: bytes, data_uri: bool = True, **fields: object) -> bytes:
    b64 = base64.b64encode(data).decode()
    return json.dumps({"file": f"data:image/png;base64,{b64}" if data_uri else b64, **fields}).replace("/", "\\/").encode()


async def start(client: HttpClient, target: str, length: int | None, first: bytes) -> None:
    """A request whose body is only partly sent (chunked when `length` is None)."""
    headers = [("Host", "x"), ("Content-Type", "application/json")]
    headers.append(("Content-Length", str(length)) if length is not None else ("Transfer-Encoding", "chunked"))
    await client.stream.send_all(client.conn.send(h11.Request(method="POST", target=target, headers=headers)))
    if first:
        await client.stream.send_all(client.conn.send(h11.Data(data=first)))


@pytest.mark.parametrize("data_uri", [True, False])
async def test_an_upload_is_decoded_to_a_temp_file(server, tmp_dir, data_uri):
    data = os.urandom(3000)
    client = await http_client(server)
    resp, _, body = await client.request("POST", "/test-upload", [("Content-Type", "application/json")],
                                         upload_body(data, data_uri, name="cat.png", channel="general"))
    assert resp.status_code == 201
    answer = json.loads(body)
    digest = hashlib.sha256(data).hexdigest()
    assert answer == {"fields": {"name": "cat.png", "channel": "general"},
                      "file": {"size": 3000, "sha256": digest, "disk_sha256": digest}}
    # keep-alive: the next upload on the same connection
    resp, _, body = await client.request("POST", "/test-upload", body=upload_body(b"hello"))
    assert json.loads(body)["file"]["size"] == 5
    assert list(tmp_dir.iterdir()) == []


async def test_expect_100_continue_is_answered_before_the_body(server, tmp_dir):
    client = await http_client(server)
    raw = upload_body(b"hello")
    headers = [("Host", "x"), ("Content-Length", str(len(raw))), ("Expect", "100-continue")]
    await client.stream.send_all(client.conn.send(h11.Request(method="POST", target="/test-upload", headers=headers)))
    resp, _, _ = await client.response()  # sent nothing of the body yet
    assert resp.status_code == 100
    await client.stream.send_all(client.conn.send(h11.Data(data=raw)) + client.conn.send(h11.EndOfMessage()))
    resp, _, body = await client.response()
    assert (resp.status_code, json.loads(body)["file"]["size"]) == (201, 5)


async def test_a_declared_length_over_the_limit_is_refused_before_the_body(server, tmp_dir):
    client = await http_client(server)
    await start(client, "/test-upload", 10_000_000, b'{"file": "QUFB')  # the rest is never sent
    resp, headers, body = await client.response()
    assert (resp.status_code, json.loads(body)) == (413, {"error": f"Request body too large (max {FILE_LIMIT} bytes)"})
    assert headers["connection"] == "close"
    assert await read_until_eof(client.stream) == b""  # and the connection ends
    assert list(tmp_dir.iterdir()) == []


async def test_a_chunked_body_that_grows_past_the_limit_is_refused_at_once(server, tmp_dir):
    """No length declared: 413 as soon as the body passes its limit, the rest never sent."""
    client = await http_client(server)
    await start(client, "/test-upload", None, b'{"name": "' + b"x" * BODY_LIMIT)
    resp, _, body = await client.response()
    assert (resp.status_code, json.loads(body)) == (413, {"error": f"Request body too large (max {FILE_LIMIT} bytes)"})
    assert await read_until_eof(client.stream) == b""
    assert list(tmp_dir.iterdir()) == []


async def test_a_file_that_decodes_past_its_limit_is_refused_at_once(server, tmp_dir):
    """The body is within its limit, the decoded file is not: 413 once the decoded bytes pass it."""
    client = await http_client(server)
    raw = upload_body(os.urandom(FILE_LIMIT + 1000))
    assert len(raw) < BODY_LIMIT
    await start(client, "/test-upload", len(raw), raw[:7000])  # ~5200 bytes decoded; the rest never sent
    resp, _, body = await client.response()
    assert (resp.status_code, json.loads(body)) == (413, {"error": f"Request body too large (max {FILE_LIMIT} bytes)"})
    assert await read_until_eof(client.stream) == b""
    assert list(tmp_dir.iterdir()) == []


@pytest.mark.parametrize("raw,status,text", [
    (b'{"file": "QUFB", "name": }', 400, "Invalid JSON body"),
    (b'["not", "an", "object"]', 400, "Invalid JSON body"),
    (b'{"file": "QUFB*QUFB"}', 400, "Invalid base64 in file (expected a data URI or standard base64)"),
    (b'{"file": "data:text/plain,hi"}', 400, "The file data URI must be base64 (data:<type>;base64,...)"),
    (b'{"name": "' + b"x" * 70_000 + b'"}', 413, "Upload fields too large (max 65536 bytes besides the file)"),
])
async def test_bad_bodies_get_a_clear_answer_and_leave_no_file(server, tmp_dir, raw, status, text, monkeypatch):
    monkeypatch.setattr("tests.test_http_upload.BODY_LIMIT", 100_000)
    client = await http_client(server)
    resp, _, body = await client.request("POST", "/test-upload", body=raw)
    assert (resp.status_code, json.loads(body)) == (status, {"error": text})
    assert list(tmp_dir.iterdir()) == []


async def test_a_truncated_body_is_a_400_and_leaves_no_file(server, tmp_dir):
    client = await http_client(server)
    raw = upload_body(os.urandom(3000))
    await start(client, "/test-upload", len(raw), raw[:2000])
    await client.stream.send_eof()
    resp, _, body = await client.response()
    assert (resp.status_code, json.loads(body)) == (400, {"error": "Failed to read request body"})
    assert list(tmp_dir.iterdir()) == []


async def test_a_stalled_upload_is_cut_after_the_idle_timeout_and_blocks_no_one(server, tmp_dir, autojump_clock):
    idle = server.config.http.idle_timeout_seconds
    slow = await http_client(server)
    raw = upload_body(os.urandom(3000))
    await start(slow, "/test-upload", len(raw), raw[:1000])
    started = trio.current_time()
    # meanwhile another connection is served at once
    other = await http_client(server)
    resp, _, _ = await other.request("GET", "/health")
    assert resp.status_code == 200 and trio.current_time() - started < 1
    await trio.sleep(idle - 5)  # (the client's read gives up after 10 s)
    resp, _, body = await slow.response()
    assert (resp.status_code, json.loads(body)) == (400, {"error": "Failed to read request body"})
    assert idle <= trio.current_time() - started < idle + 1
    assert await read_until_eof(slow.stream) == b""
    assert list(tmp_dir.iterdir()) == []


async def test_a_slow_but_steady_upload_is_not_cut(server, tmp_dir, autojump_clock):
    """The deadline is renewed while bytes flow: 100 pieces 10 s apart take far longer than the
    idle timeout and still complete."""
    idle = server.config.http.idle_timeout_seconds
    client = await http_client(server)
    data = os.urandom(3000)
    raw = upload_body(data)
    await start(client, "/test-upload", len(raw), b"")
    started = trio.current_time()
    step = len(raw) // 100 + 1
    for i in range(0, len(raw), step):
        await client.stream.send_all(client.conn.send(h11.Data(data=raw[i:i + step])))
        await trio.sleep(idle / 3)
    await client.stream.send_all(client.conn.send(h11.EndOfMessage()))
    resp, _, body = await client.response()
    assert trio.current_time() - started > 10 * idle
    assert (resp.status_code, json.loads(body)["file"]["size"]) == (201, 3000)


async def test_read_body_reads_a_small_body_and_refuses_a_large_one(server, tmp_dir):
    client = await http_client(server)
    resp, _, body = await client.request("POST", "/test-body", body=b"hello")
    assert json.loads(body) == {"got": "hello"}
    resp, _, _ = await client.request("GET", "/health")  # still in sync
    assert resp.status_code == 200
    big = await http_client(server)
    await start(big, "/test-body", None, b"x" * 150)  # chunked, unfinished
    resp, _, body = await big.response()
    assert (resp.status_code, json.loads(body)) == (413, {"error": "Request body too large (max 100 bytes)"})


async def test_a_413_reaches_a_client_still_sending_over_tcp(nursery, config, tmp_dir):
    """Over a real socket, a client still pushing a body declared too large reads the 413 (sent
    before the body; the server then drops the input briefly and closes)."""
    from originchats.server.app import serve

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    stop = trio.Event()
    await nursery.start(partial(serve, config, listeners=listeners, stop=stop))
    host, port = listeners[0].socket.getsockname()[:2]
    client = HttpClient(await trio.open_tcp_stream(host, port))

    async def push() -> None:
        await start(client, "/test-upload", 50_000_000, b"")
        try:
            for _ in range(50_000_000 // 65536):
                await client.stream.send_all(b"A" * 65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async with trio.open_nursery() as pushing:
        pushing.start_soon(push)
        await trio.sleep(0.3)  # the body is on its way, the answer waits unread (a real-socket test)
        resp, _, body = await client.response()
        pushing.cancel_scope.cancel()
    assert (resp.status_code, json.loads(body)) == (413, {"error": f"Request body too large (max {FILE_LIMIT} bytes)"})
    await client.stream.aclose()
    stop.set()
