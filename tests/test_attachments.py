"""Attachments (extended/attachments.md): uploads accepted by the shell's upload path
(server/attachments_upload.py `accept`, what the HTTP route answers), then seen through the real
protocol (`attachment_get`, `attachment_delete`, `message_new` with `attachments`), on the real
server with its real data directory."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from originchats.config import AttachmentsSection, RateLimitingSection
from originchats.core.attachments import lifetime_days, size_days, url_base
from originchats.core.settings import AttachmentSettings, Settings
from originchats.datadir import blob_path, blobs_dir, db_path, uploads_tmp_dir
from originchats.server import attachments_upload
from originchats.server.attachments_upload import UploadedFile
from tests import media_samples
from tests.client import settle
from tests.modhelpers import LOCAL, members

PNG = media_samples.image("PNG", size=(8, 6))


def pdf(tag: bytes) -> bytes:
    """A small file sniffed as a PDF (stored as it is, not re-encoded)."""
    return b"%PDF-1.4\n%" + tag + b"\n%%EOF\n"


def as_file(data: bytes) -> bytes:
    return data if data.startswith((b"%PDF", b"\x89PNG")) else pdf(data)


DOC = pdf(b"doc")
DAY = 86400.0


def temp_file(server: Any, data: bytes) -> UploadedFile:
    tmp = uploads_tmp_dir(server.config.storage.data_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"up-{hashlib.sha256(data).hexdigest()[:8]}-{len(list(tmp.iterdir()))}"
    path.write_bytes(data)
    return UploadedFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


async def upload(server: Any, client: Any, data: bytes | None = DOC, *, validator: str | None = None,
                 key: str | None = None, **fields: Any) -> tuple[int, dict]:
    """An upload as `client` (its socket's key, its session token), through the shell's upload path."""
    body = {"validator_key": key if key is not None else client.handshake["val"]["validator_key"],
            "validator": validator if validator is not None else client.ready["validator"],
            "name": "doc.pdf", "channel": "general", **fields}
    if data is not None:
        data = as_file(data)
        body.setdefault("mime_type", "image/png" if data.startswith(b"\x89PNG") else "application/pdf")
    body = {k: v for k, v in body.items() if v is not None}
    file = temp_file(server, data) if data is not None else None
    return await attachments_upload.accept(server.hub, server.hub.ops.blobs, body, file)


async def uploaded(server: Any, client: Any, data: bytes = DOC, **fields: Any) -> dict:
    status, body = await upload(server, client, data, **fields)
    assert status == 201, body
    return body["attachment"]


def rows(server: Any, sql: str, *args: Any) -> list[tuple]:
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def blob(server: Any, data: bytes) -> Path:
    return blob_path(server.config.storage.data_dir, hashlib.sha256(as_file(data)).hexdigest())


async def quiet(*clients: Any) -> None:
    """Until the server is idle, then read away what each client was sent."""
    await settle()
    for client in clients:
        await client.drain()


# ---- upload, get, attach ------------------------------------------------------------------------


async def test_a_cracked_account_uploads_with_its_session_and_attaches_the_file(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    status, body = await upload(server, alice, PNG, name="cat.png")
    assert status == 201
    info = body["attachment"]
    assert body["permanent"] is False
    assert info["name"] == "cat.png" and info["mime_type"] == "image/png"
    assert (info["width"], info["height"]) == (8, 6)
    assert info["url"] == f"/attachments/{info['id']}"  # no server.url: a relative URL
    [(sha, size, inline)] = rows(server, "SELECT sha256, size, inline FROM attachments")
    stored = blob_path(server.config.storage.data_dir, sha)
    assert stored.stat().st_size == size == info["size"] and inline == 1
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    assert list(uploads_tmp_dir(server.config.storage.data_dir).iterdir()) == []  # the temp file is gone

    await bob.send("attachment_get", attachment_id=f"  {info['id']} ")
    assert (await bob.expect("attachment_info"))["attachment"] == info

    await alice.send("message_new", channel="general", content="", attachments=[{"id": info["id"]}])
    packet = await bob.expect("message_new")
    assert packet["message"]["attachments"] == [info]
    await alice.expect("message_new")
    assert rows(server, "SELECT attachment_id FROM message_attachments") == [(info["id"],)]
    # the stored message keeps the info object
    await bob.send("messages_get", channel="general")
    history = await bob.expect("messages_get")
    assert history["messages"][-1]["attachments"] == [info]


async def test_upload_authentication_is_tied_to_a_live_socket_and_its_own_credentials(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    assert await upload(server, alice, validator="") == (401, {"error": "validator_key and validator are required for authentication"})
    # a key this server never issued
    assert (await upload(server, alice, key="originChats-" + "x" * 32))[0] == 401
    # a key of another user's socket with one's own token; a wrong token
    assert await upload(server, alice, key=bob.handshake["val"]["validator_key"]) == (401, {"error": "Invalid credentials"})
    assert (await upload(server, alice, validator="not-my-token"))[0] == 401
    # a socket that has not logged in
    anon = await server.connect()
    assert (await upload(server, alice, key=anon.handshake["val"]["validator_key"]))[0] == 401
    # the socket closed: its key no longer works
    await alice.close()
    await settle()
    assert (await upload(server, alice))[0] == 401
    assert rows(server, "SELECT COUNT(*) FROM attachments") == [(0,)]
    assert list(blobs_dir(server.config.storage.data_dir).glob("*/*")) == []


async def test_bad_uploads_get_their_status_and_store_nothing(server):
    alice = await server.user("alice")
    assert await upload(server, alice, data=None) == (400, {"error": "Missing required fields: file, name, mime_type, channel"})
    assert (await upload(server, alice, name=""))[0] == 400
    assert await upload(server, alice, channel="nope") == (404, {"error": "Channel does not exist"})
    assert (await upload(server, alice, expires_in_days="soon"))[0] == 400
    assert (await upload(server, alice, mime_type="text/html"))[0] == 415  # not what the bytes are
    assert (await upload(server, alice, b"<svg/>", mime_type="text/plain"))[0] == 415
    assert rows(server, "SELECT COUNT(*) FROM attachments") == [(0,)]
    assert list(blobs_dir(server.config.storage.data_dir).glob("*/*")) == []
    assert list(uploads_tmp_dir(server.config.storage.data_dir).iterdir()) == []


async def test_no_send_permission_banned_or_timed_out_members_cannot_upload(make_server, autojump_clock):
    server = await make_server(rate_limiting=RateLimitingSection(enabled=True, messages_per_minute=1000,
                                                                 burst_limit=1000))
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss, alice, bob = m["boss"], m["alice"], m["bob"]
    await boss.send("channel_create", name="news", type="text", permissions={"view": ["user"], "send": ["owner"]})
    await boss.drain()
    assert await upload(server, alice, channel="news") == (403, {"error": "You don't have permission to send in this channel"})
    await boss.send("user_timeout", user=LOCAL + "alice", timeout=60)
    await boss.expect("user_timeout")
    assert await upload(server, alice) == (403, {"error": "You are timed out and cannot upload"})
    await trio.sleep(61)
    assert (await upload(server, alice))[0] == 201
    # a ban closes the sockets, so no key of the banned member is live; the check is there anyway
    key, token = bob.handshake["val"]["validator_key"], bob.ready["validator"]
    await boss.send("user_ban", user=LOCAL + "bob")
    await boss.expect("user_ban")
    assert (await upload(server, bob, key=key, validator=token))[0] == 401


async def test_the_upload_throttle_is_enforced_per_user(make_server, autojump_clock):
    server = await make_server(attachments=AttachmentsSection(uploads_per_minute=2))
    alice = await server.user("alice")
    bob = await server.user("bob")
    await uploaded(server, alice, b"1")
    await uploaded(server, alice, b"2")
    assert await upload(server, alice, b"3") == (429, {"error": "Too many uploads: at most 2 per minute, try again shortly"})
    await uploaded(server, bob, b"3")  # another user's slots are their own
    await trio.sleep(61)
    await uploaded(server, alice, b"3")


async def test_disabled_attachments(make_server):
    server = await make_server(attachments=AttachmentsSection(enabled=False))
    alice = await server.user("alice")
    assert alice.handshake["val"]["attachments"]["enabled"] is False
    assert await upload(server, alice) == (503, {"error": "Attachments are disabled"})
    await alice.send("message_new", channel="general", content="x", attachments=[{"id": "a"}])
    await alice.expect_error("Attachments are disabled", src="message_new")
    await alice.send("message_new", channel="general", content="x", attachments=[])  # none: fine
    await alice.expect("message_new")


async def test_handshake_and_capabilities(server):
    client = await server.connect()
    val = client.handshake["val"]
    assert val["attachments"] == {"enabled": True, "max_size": 104857600,
                                  "allowed_types": ["image/*", "video/*", "audio/*", "application/pdf"],
                                  "max_attachments_per_user": -1, "permanent_tiers": ["pro", "max"]}
    assert {"attachment_get", "attachment_delete"} <= set(val["capabilities"])


# ---- message_new's checks (§5), in order ----------------------------------------------------


async def test_message_new_checks_attachments_in_the_documented_order(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    mine = await uploaded(server, alice, b"a")
    theirs = await uploaded(server, bob, b"b")
    for attachments, text in (("x", "Attachments must be an array"),
                              ([{"id": mine["id"]}, 5], "Each attachment must be an object"),
                              ([{"name": "x"}], "Attachment ID is required"),
                              ([{"id": "nope"}], "Attachment nope not found or expired"),
                              ([{"id": theirs["id"]}], "You can only attach your own uploads")):
        await alice.send("message_new", channel="general", content="hi", attachments=attachments)
        await alice.expect_error(text, src="message_new")
    await alice.send("message_new", channel="general", content="hi", attachments=[{"id": "a"}] * 11)
    await alice.expect_error("Attachment a not found or expired", src="message_new")
    await alice.send("message_new", channel="general", content="hi", attachments=[{"id": mine["id"]}] * 11)
    await alice.expect_error("Too many attachments (max 10 per message)", src="message_new")
    assert rows(server, "SELECT COUNT(*) FROM messages WHERE attachments IS NOT NULL") == [(0,)]


# ---- deleting -------------------------------------------------------------------------------


async def test_attachment_delete_by_the_uploader_or_a_member_with_manage_messages_now(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss, alice, bob = m["boss"], m["alice"], m["bob"]
    info = await uploaded(server, alice, b"alice's")
    await bob.send("attachment_delete", attachment_id=info["id"])
    await bob.expect_error("You can only delete your own attachments", src="attachment_delete")
    # granted while logged in: the current roles count, not those bob logged in with
    await boss.send("user_roles_set", user=LOCAL + "bob", roles=["admin", "user"])
    await quiet(boss, bob, alice)
    await bob.send("attachment_delete", attachment_id=info["id"])
    assert await bob.expect("attachment_deleted") == {"cmd": "attachment_deleted", "attachment_id": info["id"],
                                                      "deleted": True}
    await settle()
    assert not blob(server, b"alice's").exists()
    await alice.send("attachment_get", attachment_id=info["id"])
    await alice.expect_error("Attachment not found or expired", src="attachment_get")
    await alice.send("attachment_delete", attachment_id=info["id"])
    await alice.expect_error("Attachment not found", src="attachment_delete")
    # and taken away while logged in
    other = await uploaded(server, alice, b"second")
    await boss.send("user_roles_set", user=LOCAL + "bob", roles=["user"])
    await quiet(boss, bob, alice)
    await bob.send("attachment_delete", attachment_id=other["id"])
    await bob.expect_error("You can only delete your own attachments", src="attachment_delete")
    await alice.send("attachment_delete", attachment_id=other["id"])
    await alice.expect("attachment_deleted")
    await alice.send("attachment_get")
    await alice.expect_error("Invalid attachment_get command: attachment_id: a non-empty string is required",
                             src="attachment_get")


async def test_dedup_shares_bytes_never_records_and_one_delete_keeps_the_others_bytes(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    a = await uploaded(server, alice, DOC, name="a.png", expires_in_days=1)
    b = await uploaded(server, bob, DOC, name="b.png")
    assert a["id"] != b["id"]
    assert (a["name"], b["name"]) == ("a.png", "b.png")
    assert b["expires_at"] - a["expires_at"] > 5 * DAY  # bob's upload did not change alice's record
    await alice.send("attachment_get", attachment_id=a["id"])
    assert (await alice.expect("attachment_info"))["attachment"] == a
    await bob.send("message_new", channel="general", content="x", attachments=[{"id": b["id"]}])
    await bob.expect("message_new")
    await alice.send("message_new", channel="general", content="y", attachments=[{"id": a["id"]}])
    await settle()
    await alice.drain()
    await bob.drain()
    await alice.send("attachment_delete", attachment_id=a["id"])
    await alice.expect("attachment_deleted")
    await settle()
    assert blob(server, DOC).exists()  # bob's record still names the bytes
    await bob.send("attachment_get", attachment_id=b["id"])
    await bob.expect("attachment_info")
    await bob.send("attachment_delete", attachment_id=b["id"])
    await bob.expect("attachment_deleted")
    await settle()
    assert not blob(server, DOC).exists()
    assert rows(server, "SELECT COUNT(*) FROM message_attachments") == [(0,)]


async def test_deleting_a_message_releases_its_references_and_keeps_the_upload(server):
    alice = await server.user("alice")
    info = await uploaded(server, alice)
    await alice.send("message_new", channel="general", content="x", attachments=[{"id": info["id"]}])
    mid = (await alice.expect("message_new"))["message"]["id"]
    await alice.send("message_new", channel="general", content="y", attachments=[{"id": info["id"]}])
    await alice.expect("message_new")
    assert len(rows(server, "SELECT * FROM message_attachments")) == 2
    await alice.send("message_delete", channel="general", id=mid)
    await alice.expect("message_delete")
    assert len(rows(server, "SELECT * FROM message_attachments")) == 1
    assert blob(server, DOC).exists()  # the other message still shows it
    await alice.send("attachment_get", attachment_id=info["id"])
    await alice.expect("attachment_info")


# ---- expiry, quotas, cleanup ------------------------------------------------------------------


async def test_an_expired_attachment_is_gone_at_once_and_its_bytes_at_the_cleanup(server, autojump_clock):
    alice = await server.user("alice")
    info = await uploaded(server, alice, expires_in_days=60 / DAY)  # a minute
    assert info["expires_at"] == pytest.approx(server.hub.now() + 60, abs=1)
    kept = await uploaded(server, alice, b"kept", expires_in_days=2)
    await trio.sleep(61)
    await alice.drain()
    await alice.send("attachment_get", attachment_id=info["id"])
    await alice.expect_error("Attachment not found or expired", src="attachment_get")
    await alice.send("message_new", channel="general", content="x", attachments=[{"id": info["id"]}])
    await alice.expect_error(f"Attachment {info['id']} not found or expired", src="message_new")
    assert blob(server, DOC).exists()  # not swept yet: the cleanup is daily
    await trio.sleep(DAY)
    await settle()
    await alice.drain()
    assert not blob(server, DOC).exists()
    assert rows(server, "SELECT id FROM attachments") == [(kept["id"],)]


async def test_the_cleanup_runs_at_start(server):
    alice = await server.user("alice")
    gone = await uploaded(server, alice)
    await uploaded(server, alice, b"kept")
    await alice.close()
    await server.shutdown()
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    con.execute("UPDATE attachments SET expires_at = 1 WHERE id = ?", (gone["id"],))  # expired while stopped
    con.commit()
    con.close()
    await server.restart()
    await settle()
    assert rows(server, "SELECT COUNT(*) FROM attachments") == [(1,)]
    assert not blob(server, DOC).exists()
    assert blob(server, b"kept").exists()


async def test_max_attachments_per_user_evicts_the_users_own_oldest(make_server):
    server = await make_server(attachments=AttachmentsSection(max_attachments_per_user=2))
    alice = await server.user("alice")
    bob = await server.user("bob")
    await quiet(alice)
    b1 = await uploaded(server, bob, b"b1")
    a1 = await uploaded(server, alice, b"a1")
    a2 = await uploaded(server, alice, b"a2")
    a3 = await uploaded(server, alice, b"a3")
    await alice.send("attachment_get", attachment_id=a1["id"])
    await alice.expect_error("Attachment not found or expired", src="attachment_get")
    for kept in (a2, a3, b1):
        await alice.send("attachment_get", attachment_id=kept["id"])
        await alice.expect("attachment_info")
    await settle()
    assert not blob(server, b"a1").exists() and blob(server, b"b1").exists()


async def test_max_attachments_per_user_zero_refuses_uploads(make_server):
    server = await make_server(attachments=AttachmentsSection(max_attachments_per_user=0))
    alice = await server.user("alice")
    assert await upload(server, alice) == (403, {"error": "Uploads are disabled on this server"})


def test_the_expiry_curve():
    a = AttachmentSettings(free_tier_max_expiration_days=100)
    mib = 1024 * 1024
    assert size_days(5 * mib) == 49
    assert size_days(25 * mib) == 7
    assert size_days(15 * mib) == pytest.approx(7 + 10 * 2.1)
    assert size_days(50 * mib) == pytest.approx(7 - 25 * 0.08)
    assert size_days(100 * mib) == 1
    assert lifetime_days(5 * mib, False, None, AttachmentSettings()) == 7  # capped by the free tier
    assert lifetime_days(5 * mib, False, None, a) == 49
    assert lifetime_days(60 * mib, False, 30, a) == pytest.approx(7 - 35 * 0.08)
    assert lifetime_days(1, False, 2, a) == 2
    assert lifetime_days(1, True, None, a) == 365
    assert lifetime_days(1, True, 400, a) == 365


def test_the_url_base_follows_server_url():
    def base(url: str) -> str:
        return url_base(Settings(server={"name": "x", "url": url}))
    assert base("") == ""
    assert base("wss://chat.example.org/") == "https://chat.example.org"
    assert base("ws://chat.example.org:5613") == "http://chat.example.org:5613"
    assert base("https://chat.example.org") == "https://chat.example.org"
    assert base("chat.example.org") == "http://chat.example.org"


# ---- crash safety -----------------------------------------------------------------------------


async def test_orphan_blobs_and_temp_files_are_swept_at_start_and_no_record_outlives_its_file(server):
    alice = await server.user("alice")
    kept = await uploaded(server, alice, b"kept")
    lost = await uploaded(server, alice, b"lost")
    await alice.close()
    await server.shutdown()
    data_dir = server.config.storage.data_dir
    orphan = blob_path(data_dir, hashlib.sha256(b"renamed, never committed").hexdigest())
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"renamed, never committed")
    leftover = uploads_tmp_dir(data_dir) / "upload-in-progress"
    leftover.write_bytes(b"half")
    blob(server, b"lost").unlink()  # a record whose file is gone
    await server.restart()
    assert not orphan.exists() and not leftover.exists()
    assert blob(server, b"kept").exists()
    assert rows(server, "SELECT id FROM attachments") == [(kept["id"],)]
    alice = await server.user("alice")
    await alice.send("attachment_get", attachment_id=lost["id"])
    await alice.expect_error("Attachment not found or expired", src="attachment_get")


# ---- Rotur accounts: their validator, and permanent tiers --------------------------------------


@pytest.fixture
async def rotur_server(make_server, nursery):
    from functools import partial

    from originchats.config import RoturSection
    from tests.test_rotur import FakeRotur

    fake = FakeRotur()
    listeners = await nursery.start(partial(trio.serve_tcp, fake.handle, 0, host="127.0.0.1"))
    base = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    server = await make_server(auth_mode="rotur", rotur=RoturSection(validate_url=base + "/validate",
                                                                      profile_url=base + "/profile",
                                                                      timeout_seconds=2))
    return server, fake


async def test_rotur_accounts_upload_with_their_validator_and_subscribers_get_permanent_files(rotur_server):
    from tests.test_rotur import rotur_login

    server, rotur = rotur_server
    alice = await rotur_login(server, rotur, "v-alice", "usr_alice", "Alice")
    bob = await rotur_login(server, rotur, "v-bob", "usr_bob", "Bob")
    rotur.profiles["Alice"] = {"username": "Alice", "subscription": "Pro"}
    rotur.profiles["Bob"] = {"username": "Bob", "subscription": "Free"}
    status, body = await upload(server, alice, validator="v-alice")
    assert status == 201 and body["permanent"] is True and body["attachment"]["permanent"] is True
    assert body["attachment"]["expires_at"] == pytest.approx(server.hub.now() + 365 * DAY, abs=5)
    status, body = await upload(server, bob, b"bob", validator="v-bob")
    assert status == 201 and body["permanent"] is False
    assert body["attachment"]["expires_at"] == pytest.approx(server.hub.now() + 7 * DAY, abs=5)
    # the subscription is cached: a second upload asks Rotur nothing more about it
    asked = sum(1 for r in rotur.requests if "name" in r)
    await uploaded(server, alice, b"again", validator="v-alice")
    assert sum(1 for r in rotur.requests if "name" in r) == asked
    # a validator Rotur refuses, one of another account, and Rotur answering garbage
    assert (await upload(server, alice, b"x", validator="v-wrong"))[0] == 401
    rotur.user("v-bob-for-alice", "usr_bob", "Bob")
    assert await upload(server, alice, b"x", validator="v-bob-for-alice") == (401, {"error": "Invalid credentials"})
    rotur.answer("v-garbage", b"not json")
    assert await upload(server, alice, b"x", validator="v-garbage") == (502, {"error": "Failed to validate credentials"})
    rotur.answer("v-noid", {"valid": True})
    assert await upload(server, alice, b"x", validator="v-noid") == (401, {"error": "User ID not found in authentication response"})
    # a session token is no Rotur validator
    assert (await upload(server, alice, b"x"))[0] == 401


# ---- `originchats admin files` --------------------------------------------------------------


async def test_admin_files_reports_disk_use_and_purges_one_users_uploads(server):
    from tests.test_admin_cli import admin

    alice = await server.user("alice")
    bob = await server.user("bob")
    await quiet(alice)
    a1 = await uploaded(server, alice, b"shared")
    await uploaded(server, alice, b"alice only")
    b1 = await uploaded(server, bob, b"shared")
    await alice.send("message_new", channel="general", content="x", attachments=[{"id": a1["id"]}])
    await alice.expect("message_new")
    size = len(as_file(b"shared")) + len(as_file(b"alice only"))
    code, out = await admin(server, "files")
    assert (code, out.splitlines()) == (0, [
        f"3 uploads by 2 users; 2 files, {size} bytes on disk",
        f"USR:local_alice  uploads=2  bytes={size}",
        f"USR:local_bob  uploads=1  bytes={len(as_file(b'shared'))}"])
    # through the running server: alice's uploads are gone at once, bob's copy of the shared bytes stays
    code, out = await admin(server, "files", "--purge", "alice")
    assert (code, out) == (0, f"purged 2 uploads of USR:local_alice ({size} bytes)\n")
    await alice.send("attachment_get", attachment_id=a1["id"])
    await alice.expect_error("Attachment not found or expired", src="attachment_get")
    await settle()
    assert blob(server, b"shared").exists() and not blob(server, b"alice only").exists()
    assert rows(server, "SELECT COUNT(*) FROM message_attachments") == [(0,)]
    # on a stopped server too
    await quiet(alice, bob)
    await server.shutdown()
    assert await admin(server, "files", "--purge", "bob") == (0, f"purged 1 upload of USR:local_bob ({len(as_file(b'shared'))} bytes)\n")
    assert not blob(server, b"shared").exists()
    assert await admin(server, "files") == (0, "0 uploads by 0 users; 0 files, 0 bytes on disk\n")
    assert await admin(server, "files", "--purge", "zed") == (1, "no such user: zed\n")
    await server.restart()
    bob = await server.user("bob")
    await bob.send("attachment_get", attachment_id=b1["id"])
    await bob.expect_error("Attachment not found or expired", src="attachment_get")


async def test_bytes_an_upload_is_committing_are_never_dropped(server):
    """An upload of bytes whose last record is being deleted: between the upload's rename and its
    commit no record names the blob, yet the drop that follows the delete keeps it."""
    blobs = server.hub.ops.blobs
    f = temp_file(server, DOC)
    with blobs.pinned(f.sha256):
        await blobs.place(f.path, f.sha256)
        await blobs.drop((f.sha256,), server.hub.ops.reader)
        assert blob(server, DOC).exists()
    await blobs.drop((f.sha256,), server.hub.ops.reader)  # nothing committed named it: an orphan
    assert not blob(server, DOC).exists()


async def test_an_upload_whose_record_fails_to_commit_leaves_no_trace(server):
    from tests.test_failed_commits import _fail_all, _heal, _on_writer

    alice = await server.user("alice")
    before = server.hub.state.attachments
    await _on_writer(server, _fail_all)
    assert await upload(server, alice) == (500, {"error": "Failed to save attachment"})
    await _on_writer(server, _heal)
    await settle()
    assert server.hub.state.attachments == before
    assert not blob(server, DOC).exists()
    assert list(uploads_tmp_dir(server.config.storage.data_dir).iterdir()) == []
    await uploaded(server, alice)  # and the same bytes go in once the store works again
    assert blob(server, DOC).exists()
