"""`originchats import` of the original server's real data folder (../shared/fixtures/original-db,
its README lists what is inside), checked through the protocol of the real server started on the
result: the users log in with their old passwords, and every kind of record reads back as the
original had it. The import runs once for the module; each test serves its own copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from originchats.core import texts
from tests.importhelp import (ORIGINAL_DB, PASSWORDS, ask, copy_data, do_import, login, query, start_server)
from tests.test_http import HttpClient


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("imported")
    code, out, _ = do_import(ORIGINAL_DB, base)
    assert code == 0, out
    return base / "data", out


@pytest.fixture
async def srv(imported, nursery, tmp_path):  # type: ignore[no-untyped-def]
    copy_data(imported[0], tmp_path)
    server = await start_server(nursery, tmp_path)
    yield server
    if not server.stopped.is_set():
        await server.shutdown()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_fixture_imports_with_nothing_left_unmapped(imported):
    _, out = imported
    counts = dict(line.strip().split(": ") for line in out.splitlines() if line.startswith("  ") and ": " in line)
    assert counts == {"roles": "9", "users": "6", "channels": "8", "emojis": "3", "attachments": "2", "threads": "4",
                      "messages": "302", "reactions": "181", "polls": "4", "votes": "20", "webhooks": "2",
                      "push_subscriptions": "1", "read_markers": "12", "audit_entries": "67"}
    assert "no problems" in out
    assert "the `validator` login tokens are not kept" in out


async def test_users_log_in_with_their_old_passwords_which_become_argon2id(srv):
    data = Path(srv.config.storage.data_dir)
    assert query(data, "SELECT password_hash FROM users WHERE id = 'USR:local_alice'")[0][0].startswith("$2b$12$")
    alice = await login(srv, "alice")
    assert alice.ready["user"]["nickname"] == "Alice ✨" and alice.ready["user"]["roles"] == ["owner", "user"]
    await srv.shutdown()  # the new hash was committed with the login
    assert query(data, "SELECT password_hash FROM users WHERE id = 'USR:local_alice'")[0][0].startswith("$argon2id$")
    await srv.restart()
    again = await login(srv, "alice")  # the argon2id hash checks the same password
    wrong = await srv.connect()
    await wrong.send("login", username="bob", password="not-bobs")
    await wrong.expect("auth_error", val=texts.INVALID_PASSWORD)
    frank = await srv.connect()
    await frank.send("login", username="frank", password=PASSWORDS["frank"])
    await frank.expect("auth_error", val=texts.BANNED_AUTH)
    assert query(data, "SELECT password_hash FROM users WHERE id = 'USR:local_frank'")[0][0].startswith("$2b$")
    await again.close()


async def test_roles_users_and_channels_read_back(srv):
    alice = await login(srv, "alice")
    roles = (await ask(alice, "roles_list"))["roles"]
    source = json.loads((ORIGINAL_DB / "roles.json").read_text())
    assert roles == {name: {k: v for k, v in r.items()} for name, r in source.items()}
    assert [n for n, _ in sorted(roles.items(), key=lambda kv: kv[1]["position"])] == [
        "owner", "admin", "moderator", "helper", "vip", "gamer", "artist", "news", "user"]
    bob = await login(srv, "bob")  # vip: sees vip-lounge; only the owner role sees private-sep
    order = [("announcements", "text"), ("general", "text"), ("random", "text"), ("dev", "text"),
             ("help-forum", "forum"), ("private-sep", "separator"), ("vip-lounge", "text"), ("voice-lounge", "voice")]
    seen = {}
    for who, hidden in ((alice, "vip-lounge"), (bob, "private-sep")):
        got = (await ask(who, "channels_get"))["val"]
        assert [(c["name"], c["type"]) for c in got] == [o for o in order if o[0] != hidden]
        seen.update({c["name"]: c for c in got})
    channels = list(seen.values())
    by_name = {c["name"]: c for c in channels}
    for original in json.loads((ORIGINAL_DB / "channels.json").read_text()):
        got = by_name[original["name"]]
        assert {k: got[k] for k in original} == original  # permissions, size, display names, dev's `icon`
    users = {u["username"]: u for u in (await ask(alice, "users_list"))["users"]}
    assert users["USR:local_dave"]["nickname"] == "Davey"
    assert users["USR:local_carol"]["status"] == {"status": "offline", "text": "brb, coffee"}
    assert users["USR:local_bob"]["pfp"] == "https://example.com/avatars/bob.png"
    assert (await ask(alice, "users_banned_list"))["users"] == ["USR:local_frank"]  # erin was unbanned
    dave = await login(srv, "dave")
    assert [r["name"] for r in (await ask(dave, "self_roles_list"))["roles"] if r["assigned"]] == ["artist"]


async def test_messages_with_replies_edits_reactions_pins_embeds_and_attachments(srv):
    bob = await login(srv, "bob")  # admin and vip: sees every channel
    unreads = (await ask(bob, "unreads_get"))["unreads"]
    assert {k: v["total_messages"] for k, v in unreads.items()} == {
        "announcements": 10, "general": 128, "random": 64, "dev": 43, "vip-lounge": 23}
    general = _lines(ORIGINAL_DB / "channels" / "general.json")
    page = (await ask(bob, "messages_get", channel="general", limit=100))["messages"]
    assert [m["id"] for m in page] == [m["id"] for m in general[-100:]]  # ids and order kept
    for original, got in zip(general[-100:], page):
        assert got["timestamp"] == original["timestamp"] and got["content"] == original["content"]
        assert got.get("reply_to") == original.get("reply_to") and got.get("edited", False) == original.get("edited", False)
        assert got.get("reactions", {}) == original.get("reactions", {})
        assert got.get("attachments") == original.get("attachments")
    custom = next(m for ch in ("general", "random", "dev") for m in _lines(ORIGINAL_DB / "channels" / f"{ch}.json")
                  if any(e.startswith("originChats://") for e in m.get("reactions", {})))
    channel = next(ch for ch in ("general", "random", "dev")
                   if any(m["id"] == custom["id"] for m in _lines(ORIGINAL_DB / "channels" / f"{ch}.json")))
    got = (await ask(bob, "message_get", channel=channel, id=custom["id"]))["message"]
    assert got["reactions"] == custom["reactions"]
    pinned = (await ask(bob, "messages_pinned", channel="general"))["messages"]
    assert sorted(m["id"] for m in pinned) == sorted(m["id"] for m in general if m.get("pinned"))
    dev = _lines(ORIGINAL_DB / "channels" / "dev.json")
    rich = next(m for m in dev if any(e.get("type") == "rich" for e in m.get("embeds", [])))
    assert (await ask(bob, "message_get", channel="dev", id=rich["id"]))["message"]["embeds"] == rich["embeds"]
    hooked = next(m for m in dev if m.get("webhook"))
    got = (await ask(bob, "message_get", channel="dev", id=hooked["id"]))["message"]
    assert got["webhook"] == hooked["webhook"] and got["user"] == "originChats"
    info = await ask(bob, "attachment_get", attachment_id="a1a699c5-4f1e-4a2d-b92b-c49321276636")
    assert info["attachment"]["name"] == "layout-screenshot.png", info
    http = HttpClient(await srv.listener.connect())
    resp, _, body = await http.request("GET", "/attachments/a1a699c5-4f1e-4a2d-b92b-c49321276636")
    assert resp.status_code == 200
    assert body == (ORIGINAL_DB / "attachments" / "a1a699c5-4f1e-4a2d-b92b-c49321276636.png").read_bytes()
    resp, _, body = await http.request("GET", "/attachments/eb09d072-2e2c-4889-9403-b256204b05a9")
    assert resp.status_code == 200 and body.startswith(b"%PDF")


async def test_threads_polls_emoji_webhooks_unreads_and_the_audit_log(srv):
    alice = await login(srv, "alice")
    for path in (ORIGINAL_DB / "threads").glob("*.json"):
        original = json.loads(path.read_text())
        thread = (await ask(alice, "thread_get", thread_id=original["id"]))["thread"]
        assert {k: thread[k] for k in ("name", "locked", "archived", "participants", "created_by")} == {
            k: original[k] for k in ("name", "locked", "archived", "participants", "created_by")}
        messages = _lines(ORIGINAL_DB / "threadMessages" / f"{original['id']}.jsonl")
        got = (await ask(alice, "thread_messages", thread_id=original["id"], limit=50))["messages"]
        assert [m["id"] for m in got] == [m["id"] for m in messages]
    polls = json.loads((ORIGINAL_DB / "polls.json").read_text())
    votes = json.loads((ORIGINAL_DB / "poll_votes.json").read_text())
    for pid, poll in polls.items():
        got = await ask(alice, "poll_results", poll_id=pid)
        results = got.get("results", got)
        assert results["total_votes"] == len(votes[pid]), got
        if poll["expires_at"] is None:  # (an expiring one ends by the clock)
            assert results["ended"] == poll["ended"]
        if poll["ended"]:  # a closed poll lists its voters
            assert sorted(u for r in results["results"] for u in r["voters"]) == sorted(v["user_id"] for v in votes[pid])
        message = (await ask(alice, "poll_get", poll_id=pid))["poll"]["message_id"]
        assert message == poll["message_id"]
        if poll["thread_id"] is None:  # the message's poll embed now names its poll and shows the counts
            embed = (await ask(alice, "message_get", channel=poll["channel"], id=message))["message"]["embeds"][0]
            assert (embed["poll"]["id"], embed["poll"]["total_votes"]) == (pid, len(votes[pid]))
    assert (await ask(alice, "emoji_get_all"))["emojis"] == {
        "0": {"name": "ocfire", "fileName": "0.png"}, "1": {"name": "wave", "fileName": "1.png"},
        "3": {"name": "catjam", "fileName": "3.png"}}
    http = HttpClient(await srv.listener.connect())
    resp, _, body = await http.request("GET", "/emojis/3.png")
    assert resp.status_code == 200 and body == (ORIGINAL_DB / "serverEmojis" / "3.png").read_bytes()
    hooks = (await ask(alice, "webhook_list"))["webhooks"]
    assert {(h["name"], h["channel"], h["avatar"]) for h in hooks} == {
        ("GitHub", "dev", None), ("Deploy Bot", "announcements", "https://example.com/avatars/deploy-bot.png")}
    token = json.loads((ORIGINAL_DB / "webhooks.json").read_text())["5644d837-e844-4719-b9bd-f52b7eaa15f7"]["token"]
    resp, _, _ = await http.request("POST", f"/webhooks?token={token}", [("Content-Type", "application/json")],
                                    json.dumps({"content": "deployed after the move"}).encode())
    assert resp.status_code in (200, 204), resp  # the old token still posts
    unreads = (await ask(alice, "unreads_get"))["unreads"]
    assert unreads["general"]["last_read"] == "ff4f1416-fcf5-4b3b-8f2b-be3f17ce75f9"
    assert unreads["dev"]["last_read"] == "6aca8436-b33c-4d86-a60b-67798fcc2d40"
    log = await ask(alice, "modlog_get", limit=100)
    assert log["total"] == 67
    original = {e["id"]: e for e in json.loads((ORIGINAL_DB / "modlog.json").read_text())}
    assert {e["id"] for e in log["entries"]} == set(original)
    timeout = next(e for e in log["entries"] if e["action"] == "user_timeout")  # timeouts live only here
    assert (timeout["target_id"], timeout["details"]) == ("USR:local_dave", {"timeout": 600})
    pings = (await ask(alice, "pings_get"))["messages"]
    assert any("@alice" in m["content"] for m in pings)
