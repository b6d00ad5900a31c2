"""GET /emojis/{file-or-id} and GET /server-assets/icon|banner over HTTP against the real server,
and server_update with an icon or banner image (served at once, no restart)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from originchats.config import ListenSection, ServerSection
from originchats.core.settings import AssetSettings
from tests import media_samples as s
from tests.client import until_reply
from tests.test_http import CORS, http_client


def uri(data: bytes, subtype: str = "png") -> str:
    return f"data:image/{subtype};base64," + base64.b64encode(data).decode()


async def add_emoji(client, name: str, data: bytes, subtype: str = "png") -> dict:  # type: ignore[no-untyped-def]
    await client.send("emoji_add", name=name, image=uri(data, subtype), listener=name)
    _, reply = await until_reply(client, name)
    assert reply["added"] is True, reply
    return reply


async def test_emoji_is_served_by_file_name_and_by_id_but_not_by_name(server):
    boss = await server.owner("boss")
    reply = await add_emoji(boss, "smile", s.image("PNG", size=(12, 12)))
    http = await http_client(server)
    resp, headers, body = await http.request("GET", f"/emojis/{reply['fileName']}")
    assert resp.status_code == 200
    assert Image.open(io.BytesIO(body)).size == (12, 12)
    assert headers["content-type"] == "image/png"
    assert headers["cache-control"] == "public, max-age=3600"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "sandbox"
    assert "content-disposition" not in headers
    assert CORS.items() <= headers.items()
    resp, headers, by_id = await http.request("GET", "/emojis/0")
    assert (resp.status_code, by_id) == (200, body)
    # by id the image may change: clients revalidate (ETag, 304)
    assert headers["cache-control"] == "no-cache"
    resp, _, _ = await http.request("GET", "/emojis/0", headers=[("If-None-Match", headers["etag"])])
    assert resp.status_code == 304
    resp, headers, body = await http.request("HEAD", "/emojis/0")
    assert (resp.status_code, body, headers["content-length"]) == (200, b"", str(len(by_id)))
    for target in ("/emojis/smile", "/emojis/7", "/emojis/0.png", "/emojis/%2e%2e%2ffiles",
                   "/emojis/..%2F..%2Foriginchats.sqlite3", "/emojis/.hidden"):
        resp, headers, body = await http.request("GET", target)
        assert resp.status_code == 404, target


async def test_unknown_emoji_is_a_plain_text_404(server):
    http = await http_client(server)
    resp, headers, body = await http.request("GET", "/emojis/3")
    assert (resp.status_code, body) == (404, b"Emoji not found")
    assert headers["content-type"].startswith("text/plain")


async def test_animated_emoji_is_served_animated(server):
    boss = await server.owner("boss")
    reply = await add_emoji(boss, "dance", s.animated("GIF", frames=4), "gif")
    http = await http_client(server)
    resp, headers, body = await http.request("GET", f"/emojis/{reply['fileName']}")
    assert headers["content-type"] == "image/gif"
    assert Image.open(io.BytesIO(body)).n_frames == 4


async def test_replaced_and_deleted_emoji_images_stop_being_served(server):
    boss = await server.owner("boss")
    old = (await add_emoji(boss, "e", s.image("PNG", colour=(1, 2, 3))))["fileName"]
    await boss.send("emoji_update", emoji_id=0, image=uri(s.image("PNG", size=(5, 5))), listener="u")
    _, reply = await until_reply(boss, "u")
    await boss.drain()
    http = await http_client(server)
    assert (await http.request("GET", f"/emojis/{old}"))[0].status_code == 404
    resp, _, body = await http.request("GET", "/emojis/0")
    assert resp.status_code == 200 and Image.open(io.BytesIO(body)).size == (5, 5)
    assert (await http.request("GET", f"/emojis/{reply['fileName']}"))[0].status_code == 200
    await boss.send("emoji_delete", emoji_id=0)
    await boss.drain()
    for target in ("/emojis/0", f"/emojis/{reply['fileName']}"):
        assert (await http.request("GET", target))[0].status_code == 404


# ---- server assets ------------------------------------------------------------------------------


async def test_icon_sent_as_an_image_is_served_at_once_and_advertised(make_server):
    srv = await make_server(server=ServerSection(url="wss://Chat.Example.org/"))
    boss = await srv.owner("boss")
    alice = await srv.user("alice")
    await boss.drain()
    http = await http_client(srv)
    resp, _, body = await http.request("GET", "/server-assets/icon")
    assert (resp.status_code, body) == (404, b"Server asset not found")
    photo = s.jpeg_with_gps(size=(3000, 1500), orientation=1)
    await boss.send("server_update", icon=uri(photo, "jpeg"), listener="s")
    _, reply = await until_reply(boss, "s")
    icon = reply["icon"]
    assert re.fullmatch(r"https://chat\.example\.org/server-assets/icon\?v=[0-9a-f]{12}", icon), icon
    assert (await alice.expect("server_update"))["icon"] == icon
    fresh = await srv.connect()
    assert fresh.handshake["val"]["server"]["icon"] == icon
    resp, headers, body = await http.request("GET", "/server-assets/icon")
    assert resp.status_code == 200 and headers["content-type"] == "image/jpeg"
    assert b"SpyCam" not in body
    assert Image.open(io.BytesIO(body)).size == (1920, 960)  # [assets] max_side
    assert headers["x-content-type-options"] == "nosniff"
    # a new image: a new URL (clients fetch it again), the new bytes at once, the old file gone
    await boss.send("server_update", icon=uri(s.image("PNG", size=(64, 64))), listener="s2")
    _, reply = await until_reply(boss, "s2")
    await boss.drain()
    assert reply["icon"] != icon
    resp, headers, body = await http.request("GET", "/server-assets/icon")
    assert headers["content-type"] == "image/png" and Image.open(io.BytesIO(body)).size == (64, 64)
    folder = Path(srv.config.storage.data_dir) / "files" / "assets"
    assert len(list(folder.iterdir())) == 1
    # and after a restart
    await srv.restart()
    http = await http_client(srv)
    resp, headers, again = await http.request("GET", "/server-assets/icon")
    assert (resp.status_code, again) == (200, body)
    assert (await http.request("GET", "/server-assets/banner"))[0].status_code == 404
    # back to a plain URL: the stored image is no longer served, and its file goes
    boss = await srv.owner("boss")
    await boss.send("server_update", icon="https://img.example/i.png", listener="s3")
    await until_reply(boss, "s3")
    await boss.drain()
    assert (await http.request("GET", "/server-assets/icon"))[0].status_code == 404
    assert list(folder.iterdir()) == []
    await srv.restart()
    http = await http_client(srv)
    assert (await http.request("GET", "/server-assets/icon"))[0].status_code == 404


async def test_icon_and_banner_in_one_update_and_the_default_base(make_server):
    srv = await make_server(listen=ListenSection(host="127.0.0.1", port=5613))
    boss = await srv.owner("boss")
    await boss.send("server_update", icon=uri(s.image("PNG")), banner=uri(s.image("GIF"), "gif"), listener="s")
    _, reply = await until_reply(boss, "s")
    assert reply["icon"].startswith("http://127.0.0.1:5613/server-assets/icon?v=")
    assert reply["banner"].startswith("http://127.0.0.1:5613/server-assets/banner?v=")
    http = await http_client(srv)
    assert (await http.request("GET", "/server-assets/banner"))[1]["content-type"] == "image/gif"
    assert (await http.request("GET", "/server-assets/icon"))[1]["content-type"] == "image/png"


@pytest.mark.parametrize(("value", "text"), [
    (uri(s.HTML), "Icon image refused: The image must be one of: gif, jpeg, jpg, png, webp"),
    (uri(s.image("PNG")[:30]), "Icon image refused: The file could not be decoded as an image"),
    (uri(s.png_bomb()), "Icon image refused: Image too large (max 40000000 pixels)"),
    ("data:image/png;base64,%%%", "Icon image refused: invalid base64"),
    ("data:text/html;base64,PGgxPg==", "Icon must be an http(s) URL of at most 2048 characters"),
])
async def test_bad_icon_images_are_refused_and_nothing_changes(server, value, text):
    boss = await server.owner("boss")
    await boss.send("server_update", icon=value)
    await boss.expect_error(text, src="server_update")
    http = await http_client(server)
    assert (await http.request("GET", "/server-assets/icon"))[0].status_code == 404
    folder = Path(server.config.storage.data_dir) / "files" / "assets"
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_asset_size_limit(make_server):
    srv = await make_server(assets=AssetSettings(max_bytes=100))
    boss = await srv.owner("boss")
    await boss.send("server_update", banner=uri(s.image("PNG", size=(64, 64))))
    await boss.expect_error("Banner image refused: Image too large (max 100 bytes)", src="server_update")


async def test_an_icon_file_configured_at_start_is_served(server):
    import attrs

    folder = Path(server.config.storage.data_dir) / "server-assets"
    folder.mkdir()
    (folder / "logo.png").write_bytes(s.image("PNG", size=(30, 20)))
    server.config = attrs.evolve(server.config, server=ServerSection(icon="some/dir/logo.png", banner="missing.png",
                                                                     url="https://chat.example"))
    await server.restart()
    client = await server.connect()
    icon = client.handshake["val"]["server"]["icon"]
    assert re.fullmatch(r"https://chat\.example/server-assets/icon\?v=[0-9a-f]{12}", icon), icon
    http = await http_client(server)
    resp, headers, body = await http.request("GET", "/server-assets/icon")
    assert (resp.status_code, headers["content-type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(body)).size == (30, 20)
    assert (await http.request("GET", "/server-assets/banner"))[0].status_code == 404
    assert client.handshake["val"]["server"]["banner"] == "missing.png"  # left as configured
