"""The attachment routes over real HTTP against the real serve() (server/attachments_http.py):
`POST /attachments/upload` with the body clients send, `GET|HEAD /attachments/{id}` streamed with
the security headers, and the statuses of attachments.md §4 as fixed here."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import Any

import pytest

from originchats.config import AttachmentsSection, ServerSection
from originchats.datadir import blob_path, db_path
from tests import media_samples
from tests.test_attachments import DOC
from tests.test_http import CORS, http_client

PNG = media_samples.image("PNG", size=(8, 6))
JSON = [("Content-Type", "application/json")]


def body_for(client: Any, data: bytes, mime: str, name: str = "cat.png", data_uri: bool = True,
             **fields: Any) -> bytes:
    b64 = base64.b64encode(data).decode()
    return json.dumps({"validator_key": client.handshake["val"]["validator_key"],
                       "validator": client.ready["validator"],
                       "file": f"data:{mime};base64,{b64}" if data_uri else b64,
                       "name": name, "mime_type": mime, "channel": "general", **fields}).encode()


async def post(server: Any, body: bytes, headers: list = JSON) -> tuple[int, dict, dict]:
    http = await http_client(server)
    resp, hdrs, raw = await http.request("POST", "/attachments/upload", headers=headers, body=body)
    return resp.status_code, hdrs, json.loads(raw)


async def test_upload_then_download_an_image_inline_with_the_security_headers(server):
    alice = await server.user("alice")
    status, headers, answer = await post(server, body_for(alice, PNG, "image/png"))
    assert status == 201, answer
    assert CORS.items() <= headers.items()
    info = answer["attachment"]
    assert (info["mime_type"], info["width"], info["height"], answer["permanent"]) == ("image/png", 8, 6, False)
    http = await http_client(server)
    resp, headers, body = await http.request("GET", info["url"])
    assert resp.status_code == 200 and body.startswith(b"\x89PNG") and len(body) == info["size"]
    assert headers["content-type"] == "image/png"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("sandbox")
    assert not headers.get("content-disposition", "inline").startswith("attachment")  # a sniffed image: inline
    assert headers["cache-control"] == "public, max-age=3600" and headers["accept-ranges"] == "bytes"
    etag = headers["etag"]
    resp, headers, body = await http.request("HEAD", info["url"])
    assert (resp.status_code, body, headers["content-length"]) == (200, b"", str(info["size"]))
    resp, headers, body = await http.request("GET", info["url"], headers=[("Range", "bytes=0-3")])
    assert (resp.status_code, body) == (206, b"\x89PNG")
    resp, _, _ = await http.request("GET", info["url"], headers=[("If-None-Match", etag)])
    assert resp.status_code == 304


async def test_a_file_that_is_not_an_image_video_audio_or_pdf_is_downloaded_never_shown(make_server):
    server = await make_server(attachments=AttachmentsSection(allowed_types=["*"]))
    alice = await server.user("alice")
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    status, _, answer = await post(server, body_for(alice, html, "text/html", name="x.html"))
    assert status == 201, answer  # stored as bytes nobody named: only ever a download
    assert answer["attachment"]["mime_type"] == "application/octet-stream"
    http = await http_client(server)
    resp, headers, body = await http.request("GET", answer["attachment"]["url"])
    assert resp.status_code == 200 and body == html
    assert headers["content-disposition"].startswith("attachment")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-type"] == "application/octet-stream"


async def test_the_upload_statuses(make_server):
    server = await make_server(attachments=AttachmentsSection(max_size=1000))
    alice = await server.user("alice")
    assert (await post(server, body_for(alice, DOC, "application/pdf"), headers=[("Content-Type", "text/plain")]))[::2] \
        == (415, {"error": "Content-Type must be application/json"})
    assert (await post(server, b"{not json", headers=JSON))[::2] == (400, {"error": "Invalid JSON body"})
    big = body_for(alice, b"%PDF-1.4\n" + b"x" * 5000, "application/pdf")
    assert (await post(server, big))[::2] == (413, {"error": "Request body too large (max 1000 bytes)"})
    no_creds = json.dumps({"file": "AAAA", "name": "a", "mime_type": "application/pdf", "channel": "general"})
    assert (await post(server, no_creds.encode()))[::2] == (
        401, {"error": "validator_key and validator are required for authentication"})
    html = body_for(alice, b"<html><script>x</script></html>", "text/html")
    assert (await post(server, html))[::2] == (415, {"error": "File type not allowed: application/octet-stream"})
    lie = body_for(alice, PNG, "application/pdf")
    assert (await post(server, lie))[0] == 415  # media: the content is not what was declared
    status, _, answer = await post(server, body_for(alice, DOC, "application/pdf", name="doc.pdf", data_uri=False))
    assert status == 201 and answer["attachment"]["mime_type"] == "application/pdf"


async def test_disabled_attachments_answer_503(make_server):
    server = await make_server(attachments=AttachmentsSection(enabled=False))
    alice = await server.user("alice")
    assert (await post(server, body_for(alice, DOC, "application/pdf")))[::2] == (
        503, {"error": "Attachments are disabled"})
    http = await http_client(server)
    resp, _, body = await http.request("GET", "/attachments/abc")
    assert (resp.status_code, json.loads(body)) == (503, {"error": "Attachments are disabled"})


async def test_downloads_of_gone_attachments(server):
    alice = await server.user("alice")
    _, _, a = await post(server, body_for(alice, DOC, "application/pdf", name="a.pdf"))
    _, _, b = await post(server, body_for(alice, PNG, "image/png"))
    http = await http_client(server)
    # deleted
    await alice.send("attachment_delete", attachment_id=a["attachment"]["id"])
    await alice.expect("attachment_deleted")
    resp, headers, body = await http.request("GET", a["attachment"]["url"])
    assert (resp.status_code, json.loads(body)) == (404, {"error": "Attachment not found or expired"})
    # expired (the route judges with the server's clock)
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    [(sha,)] = con.execute("SELECT sha256 FROM attachments WHERE id = ?", (b["attachment"]["id"],)).fetchall()
    con.close()
    blob_path(server.config.storage.data_dir, sha).unlink()  # removed by hand
    resp, headers, body = await http.request("GET", b["attachment"]["url"])
    assert (resp.status_code, json.loads(body)) == (404, {"error": "Attachment file not found"})
    state = server.hub.state
    rec = state.attachments[b["attachment"]["id"]]
    import attrs
    server.hub.state = state.replaced("attachments", state.attachments.set(
        rec.id, attrs.evolve(rec, expires_at=server.hub.now() - 1)))
    resp, headers, body = await http.request("GET", b["attachment"]["url"])
    assert (resp.status_code, json.loads(body)) == (404, {"error": "Attachment not found or expired"})


@pytest.mark.parametrize("url, base", [("wss://chat.example.org/", "https://chat.example.org"),
                                       ("ws://chat.example.org:5613", "http://chat.example.org:5613")])
async def test_attachment_urls_are_http_urls_from_server_url(make_server, url, base):
    server = await make_server(server=ServerSection(url=url))
    alice = await server.user("alice")
    _, _, answer = await post(server, body_for(alice, DOC, "application/pdf"))
    assert answer["attachment"]["url"] == f"{base}/attachments/{answer['attachment']['id']}"


async def test_upload_bodies_read_at_once_are_bounded_per_address(make_server):
    from tests.test_http import HttpClient
    from tests.test_http_upload import start

    server = await make_server(attachments=AttachmentsSection(uploads_in_progress_per_ip=2))
    alice = await server.user("alice")
    slow = [HttpClient(await server.listener.connect("10.0.0.5")) for _ in range(2)]
    for client in slow:  # two bodies still coming from one address
        await start(client, "/attachments/upload", 100_000, b'{"file": "AAAA')
    third = HttpClient(await server.listener.connect("10.0.0.5"))
    resp, _, body = await third.request("POST", "/attachments/upload", headers=JSON,
                                        body=body_for(alice, DOC, "application/pdf"))
    assert (resp.status_code, json.loads(body)) == (503, {"error": "Too many uploads in progress, try again shortly"})
    other = HttpClient(await server.listener.connect("10.0.0.6"))  # another address is not held up
    resp, _, body = await other.request("POST", "/attachments/upload", headers=JSON,
                                        body=body_for(alice, DOC, "application/pdf"))
    assert resp.status_code == 201, body
    for client in slow:
        await client.stream.aclose()
    from tests.client import settle
    await settle()
    again = HttpClient(await server.listener.connect("10.0.0.5"))
    resp, _, body = await again.request("POST", "/attachments/upload", headers=JSON,
                                        body=body_for(alice, DOC, "application/pdf"))
    assert resp.status_code == 201, body
