"""Custom emoji over the real server (extended/emojis.md, its flaws fixed): commands, permission,
broadcasts, ids never reused, images checked and re-encoded before anything is stored, files on
disk under the data directory, and what a restart keeps."""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
from pathlib import Path

import attrs
import pytest
from PIL import Image

from originchats.core.settings import EmojiSettings
from originchats.datadir import db_path
from tests import media_samples as s
from tests.client import until_reply
from tests.conftest import make_config


def uri(data: bytes, subtype: str = "png") -> str:
    return f"data:image/{subtype};base64," + base64.b64encode(data).decode()


PNG = uri(s.image("PNG", size=(32, 32)))
FILE = r"[0-9a-f]{20}\."  # the server's file names: random, with the detected format's extension


def emoji_dir(server) -> Path:  # type: ignore[no-untyped-def]
    return Path(server.config.storage.data_dir) / "files" / "emojis"


def stored(server) -> list[str]:  # type: ignore[no-untyped-def]
    folder = emoji_dir(server)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def image_at(path: Path) -> tuple[tuple[int, int], int]:
    """(size, frame count) of a stored image."""
    with Image.open(path) as image:
        return image.size, getattr(image, "n_frames", 1)


async def add(client, name: str, image: str = PNG, listener: str = "add"):  # type: ignore[no-untyped-def]
    await client.send("emoji_add", name=name, image=image, listener=listener)
    _, reply = await until_reply(client, listener)
    return reply


async def test_add_replies_broadcasts_and_serves_the_lists(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    reply = await add(boss, "  party_1 ")
    file_name = reply["fileName"]
    assert re.fullmatch(FILE + "png", file_name)
    assert reply == {"cmd": "emoji_add", "id": "0", "added": True, "name": "party_1", "fileName": file_name,
                     "listener": "add"}
    await boss.assert_silent()  # one answer for the caller
    # flaw 1 fixed: every other member learns of it at once, in the packet the client handles
    assert await bob.expect("emoji_add") == {"cmd": "emoji_add", "id": "0", "added": True, "name": "party_1",
                                             "fileName": file_name}
    await bob.send("emoji_get_all")
    assert (await bob.expect("emoji_get_all"))["emojis"] == {"0": {"name": "party_1", "fileName": file_name}}
    await bob.send("emoji_get_id", name="PARTY_1")
    assert await bob.expect("emoji_get_id") == {"cmd": "emoji_get_id", "name": "PARTY_1", "id": "0"}
    await bob.send("emoji_get_filename", name="party_1")
    assert await bob.expect("emoji_get_filename") == {"cmd": "emoji_get_filename", "name": "party_1",
                                                      "filepath": file_name}
    await bob.send("emoji_get_id", name="nope")
    await bob.expect_error("Emoji not found", src="emoji_get_id")
    await bob.send("emoji_get_filename", name="nope")
    await bob.expect_error("Emoji not found", src="emoji_get_filename")
    assert stored(server) == [file_name]
    assert image_at(emoji_dir(server) / file_name)[0] == (32, 32)


async def test_empty_list_and_capabilities(server):
    bob = await server.user("bob")
    await bob.send("emoji_get_all")
    assert await bob.expect("emoji_get_all") == {"cmd": "emoji_get_all", "emojis": {}}
    caps = bob.handshake["val"]["capabilities"]
    for cmd in ("emoji_add", "emoji_delete", "emoji_get_all", "emoji_get_filename", "emoji_get_id", "emoji_update"):
        assert cmd in caps


async def test_manage_server_is_required_to_change_emoji(server):
    bob = await server.user("bob")
    denied = "Access denied: 'manage_server' permission required"
    await bob.send("emoji_add", name="x", image=PNG)
    await bob.expect_error(denied, src="emoji_add")
    await bob.send("emoji_update", emoji_id=0, name="y")
    await bob.expect_error(denied, src="emoji_update")
    await bob.send("emoji_delete", emoji_id=0)
    await bob.expect_error(denied, src="emoji_delete")
    assert stored(server) == []


@pytest.mark.parametrize(("fields", "detail"), [
    ({"image": PNG}, "name: Field required"),
    ({"name": "x"}, "image: Field required"),
    ({"name": 5, "image": PNG}, "name: Input should be a valid string"),
    ({"name": "x", "image": "http://example.com/a.png"},
     "image: Value error, expected a data URI data:image/<type>;base64,<data>"),
    ({"name": "x", "image": "data:text/html;base64,PGgxPg=="},
     "image: Value error, expected a data URI data:image/<type>;base64,<data>"),
    ({"name": "x", "image": "data:image/png;base64,@@not base64@@"}, "image: Value error, invalid base64 data"),
])
async def test_malformed_add_is_a_scheme_error(server, fields, detail):
    boss = await server.owner("boss")
    await boss.send("emoji_add", **fields)
    await boss.expect_error(f"Invalid emoji_add command scheme: {detail}", src="emoji_add")
    assert stored(server) == []


@pytest.mark.parametrize("image", [
    uri(s.HTML), uri(s.image("WEBP")),  # not an image; a type not allowed by default
    uri(s.image("PNG")[:40]),  # truncated
    uri(s.png_bomb()),
])
async def test_bad_images_are_refused_and_nothing_is_stored(server, image):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await boss.drain()
    await boss.send("emoji_add", name="bad", image=image)
    await boss.expect_error("Error adding emoji", src="emoji_add")
    await bob.assert_silent()
    assert stored(server) == []
    await boss.send("emoji_get_all")
    assert (await boss.expect("emoji_get_all"))["emojis"] == {}


@pytest.mark.parametrize("name", ["", "   ", "has space", "dash-ed", "x" * 65, "émoji"])
async def test_invalid_names_are_refused_before_any_image_work(server, name):
    boss = await server.owner("boss")
    await boss.send("emoji_add", name=name, image=PNG)
    await boss.expect_error("Error adding emoji", src="emoji_add")
    assert stored(server) == []


async def test_duplicate_name_is_refused_case_insensitively(server):
    boss = await server.owner("boss")
    first = await add(boss, "wave")
    await boss.send("emoji_add", name="WAVE", image=PNG)
    await boss.expect_error("Error adding emoji", src="emoji_add")
    assert stored(server) == [first["fileName"]]


async def test_ids_are_never_reused_even_after_deleting_the_highest_and_restarting(server):
    boss = await server.owner("boss")
    first = await add(boss, "a")
    assert first["id"] == "0"
    assert (await add(boss, "b"))["id"] == "1"
    await boss.send("emoji_delete", emoji_id=1, listener="d")
    _, reply = await until_reply(boss, "d")
    assert reply == {"cmd": "emoji_delete", "id": 1, "deleted": True, "listener": "d"}
    # the original gave "1" again here, so an old reaction to emoji 1 showed the new image
    assert (await add(boss, "c"))["id"] == "2"
    await boss.send("emoji_delete", emoji_id="2")
    await server.restart()
    boss = await server.owner("boss")
    last = await add(boss, "d")
    assert last["id"] == "3"
    await boss.send("emoji_get_all")
    assert (await boss.expect("emoji_get_all"))["emojis"] == {"0": {"name": "a", "fileName": first["fileName"]},
                                                              "3": {"name": "d", "fileName": last["fileName"]}}
    assert stored(server) == sorted([first["fileName"], last["fileName"]])


async def test_delete_broadcasts_removes_the_file_and_an_unknown_id_says_false(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await add(boss, "gone")
    await bob.drain()
    await boss.send("emoji_delete", emoji_id="0")
    assert await bob.expect("emoji_delete") == {"cmd": "emoji_delete", "id": 0, "deleted": True}
    await boss.drain()
    assert stored(server) == []
    await boss.send("emoji_delete", emoji_id=7)
    assert await boss.expect("emoji_delete") == {"cmd": "emoji_delete", "id": 7, "deleted": False}
    await bob.assert_silent()
    await boss.send("emoji_delete", emoji_id="seven")
    await boss.expect_error("Invalid emoji_delete command scheme: emoji_id: Input should be a valid integer",
                            src="emoji_delete")
    await boss.send("emoji_delete")
    await boss.expect_error("Invalid emoji_delete command scheme: emoji_id: Field required", src="emoji_delete")


async def test_update_renames_and_replaces_the_image_in_one_request(server):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    old = (await add(boss, "old"))["fileName"]
    await bob.drain()
    new_image = uri(s.image("GIF", size=(20, 10)), "gif")
    await boss.send("emoji_update", emoji_id=0, name="new", image=new_image, listener="u")
    _, reply = await until_reply(boss, "u")
    assert reply["updated"] is True and reply["id"] == 0 and reply["name"] == "new"
    file_name = reply["fileName"]
    assert re.fullmatch(FILE + "gif", file_name) and file_name != old
    assert await bob.expect("emoji_update") == {"cmd": "emoji_update", "id": 0, "updated": True, "name": "new",
                                                "fileName": file_name}
    # the old file is gone once the change is committed; the new one is what is served
    await boss.drain()
    assert stored(server) == [file_name]
    assert image_at(emoji_dir(server) / file_name)[0] == (20, 10)
    await boss.send("emoji_update", emoji_id=0, image=PNG, listener="u2")
    _, reply = await until_reply(boss, "u2")
    await boss.drain()
    assert (reply["updated"], reply["name"]) == (True, "new")
    assert stored(server) == [reply["fileName"]] and reply["fileName"].endswith(".png")


async def test_update_rename_only_and_what_cannot_be_updated(server):
    boss = await server.owner("boss")
    one = (await add(boss, "one"))["fileName"]
    two = (await add(boss, "two"))["fileName"]
    await boss.send("emoji_update", emoji_id="1", name="deux")
    assert await boss.expect("emoji_update") == {"cmd": "emoji_update", "id": 1, "updated": True, "name": "deux",
                                                 "fileName": two}
    for fields in ({"emoji_id": 1, "name": "ONE"}, {"emoji_id": 9, "name": "nine"}, {"emoji_id": 1, "name": "a b"},
                   {"emoji_id": 1, "image": uri(s.HTML)}):
        await boss.send("emoji_update", **fields)
        assert await boss.expect("emoji_update") == {"cmd": "emoji_update", "id": fields["emoji_id"],
                                                     "updated": False}
    await boss.send("emoji_update", emoji_id=1)
    await boss.expect_error("At least one field to update is required (name or image)", src="emoji_update")
    assert stored(server) == sorted([one, two])


async def test_animated_emoji_stays_animated(server):
    boss = await server.owner("boss")
    reply = await add(boss, "dance", uri(s.animated("GIF", frames=5), "gif"))
    assert image_at(emoji_dir(server) / reply["fileName"])[1] == 5


async def test_large_emoji_is_shrunk_and_exif_stripped(server):
    boss = await server.owner("boss")
    reply = await add(boss, "photo", uri(s.jpeg_with_gps(size=(1000, 500), orientation=1), "jpeg"))
    assert re.fullmatch(FILE + "jpeg", reply["fileName"])
    data = (emoji_dir(server) / reply["fileName"]).read_bytes()
    assert b"SpyCam" not in data
    assert image_at(emoji_dir(server) / reply["fileName"])[0] == (256, 128)


async def test_audit_entries_never_hold_the_image(server):
    boss = await server.owner("boss")
    await add(boss, "a")
    for n, (cmd, fields) in enumerate([("emoji_update", {"emoji_id": 0, "image": PNG, "name": "b"}),
                                       ("emoji_update", {"emoji_id": 5, "name": "c"}),
                                       ("emoji_delete", {"emoji_id": 0}), ("emoji_delete", {"emoji_id": 5})]):
        await boss.send(cmd, listener=str(n), **fields)
        await until_reply(boss, str(n))
    await boss.drain()
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    rows = con.execute("SELECT action, target, details FROM audit_log WHERE action LIKE 'emoji%'"
                       " ORDER BY rowid").fetchall()
    con.close()
    assert [(a, t) for a, t, _ in rows] == [("emoji_add", "0"), ("emoji_update", "0"), ("emoji_update", "5"),
                                             ("emoji_delete", "0"), ("emoji_delete", "5")]
    assert json.loads(rows[1][2]) == {"name": "b", "image": True}
    assert all("base64" not in (d or "") for _, _, d in rows)


async def test_configured_types_and_size(make_server):
    srv = await make_server(emojis=EmojiSettings(allowed_types=("webp",), max_bytes=2000, max_side=16))
    boss = await srv.owner("boss")
    reply = await add(boss, "w", uri(s.image("WEBP", size=(64, 32)), "webp"))
    assert re.fullmatch(FILE + "webp", reply["fileName"])
    assert image_at(emoji_dir(srv) / reply["fileName"])[0] == (16, 8)
    await boss.send("emoji_add", name="p", image=PNG)
    await boss.expect_error("Error adding emoji", src="emoji_add")
    big = Image.effect_noise((200, 200), 90).convert("RGB")
    buf = io.BytesIO()
    big.save(buf, "WEBP", quality=100)
    await boss.send("emoji_add", name="big", image=uri(buf.getvalue(), "webp"))
    await boss.expect_error("Error adding emoji", src="emoji_add")


async def test_orphan_files_are_swept_at_start(server):
    boss = await server.owner("boss")
    keep = (await add(boss, "keep"))["fileName"]
    (emoji_dir(server) / "0123456789abcdef0123.png").write_bytes(b"left by a crash before the commit")
    (emoji_dir(server) / ".abc.part").write_bytes(b"an interrupted write")
    await server.restart()
    assert stored(server) == [keep]
