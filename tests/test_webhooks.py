"""Webhooks (extended/webhooks.md, as fixed here): the six commands through the real protocol, and
`POST /webhooks` over real HTTP against the real serve(). Each "Flaw in the original" has a test."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from typing import Any

import trio

from originchats.config import WebhooksSection
from originchats.datadir import db_path
from tests.client import settle
from tests.test_http import CORS, http_client

JSON = ("Content-Type", "application/json")


async def create(owner: Any, **fields: Any) -> dict[str, Any]:
    reply = await owner.request("webhook_create", **{"channel": "general", "name": "CI", **fields})
    assert reply["cmd"] == "webhook_create", reply
    return reply["webhook"]


async def post(server: Any, body: Any, token: str | None = None, *, header: str | None = None,
               path: str = "/webhooks", extra: list[tuple[str, str]] | None = None,
               raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    http = await http_client(server)
    target = path if token is None else f"{path}?token={token}"
    headers = [JSON, *(extra or [])]
    if header is not None:
        headers.append(("Authorization", header))
    data = raw if raw is not None else json.dumps(body).encode()
    resp, hdrs, answer = await http.request("POST", target, headers=headers, body=data)
    return resp.status_code, hdrs, json.loads(answer) if answer else None


def signed(secret: str, data: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


# ---- the commands -----------------------------------------------------------------------------


async def test_the_token_is_shown_once_and_never_listed(server):
    """Flaws 1 and 6: listing and getting never show a token, and need `manage_channels`."""
    boss = await server.owner()
    hook = await create(boss)
    assert hook["token"].startswith("whk_") and len(hook["token"]) > 40
    assert {k: hook[k] for k in ("channel", "name", "avatar", "has_secret")} == \
        {"channel": "general", "name": "CI", "avatar": None, "has_secret": False}
    listed = await boss.request("webhook_list")
    assert listed["cmd"] == "webhook_list" and [h["id"] for h in listed["webhooks"]] == [hook["id"]]
    got = await boss.request("webhook_get", id=hook["id"])
    for record in (*listed["webhooks"], got["webhook"]):
        assert "token" not in record and hook["token"] not in json.dumps(record)
    alice = await server.user("alice")
    for cmd, fields in (("webhook_list", {}), ("webhook_get", {"id": hook["id"]}),
                        ("webhook_create", {"channel": "general", "name": "x"})):
        await alice.send(cmd, **fields)
        await alice.expect_error("Access denied: 'manage_channels' permission required", src=cmd)


async def test_only_the_hash_of_a_token_is_stored_and_it_survives_a_restart(server):
    boss = await server.owner()
    hook = await create(boss)
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    rows = con.execute("SELECT * FROM webhooks").fetchall() + con.execute("SELECT * FROM audit_log").fetchall()
    con.close()
    dump = repr(rows)
    assert hook["token"] not in dump
    assert hashlib.sha256(hook["token"].encode()).hexdigest() in dump
    await server.restart()
    status, _, _ = await post(server, {"content": "after restart"}, hook["token"])
    assert status == 204


async def test_regenerate_revokes_the_old_token(server):
    """Flaw 2: the original's regenerate kept the old token."""
    boss = await server.owner()
    hook = await create(boss)
    reply = await boss.request("webhook_regenerate", id=hook["id"])
    assert reply["cmd"] == "webhook_regenerate"
    new = reply["webhook"]["token"]
    assert new != hook["token"] and reply["webhook"]["id"] == hook["id"]
    status, _, answer = await post(server, {"content": "old"}, hook["token"])
    assert (status, answer) == (401, {"error": "Invalid webhook token"})
    status, _, _ = await post(server, {"content": "new"}, new)
    assert status == 204


async def test_update_delete_checks_and_audit(server):
    boss = await server.owner()
    await boss.send("channel_create", name="voice", type="voice")
    await boss.drain()
    for fields, error in (({"name": "x"}, "Channel is required"), ({"channel": "general"}, "Webhook name is required"),
                          ({"channel": "nope", "name": "x"}, "Channel not found"),
                          ({"channel": "voice", "name": "x"}, "Webhooks can only be created for text channels"),
                          ({"channel": "general", "name": "x", "avatar": "javascript:alert(1)"},
                           "Webhook avatar must be an http(s) URL or null")):
        await boss.send("webhook_create", **fields)
        await boss.expect_error(error, src="webhook_create")
    hook = await create(boss, avatar="")  # the official client's form sends an empty avatar so
    assert hook["avatar"] is None
    await boss.send("webhook_update", id=hook["id"])
    await boss.expect_error("No updates provided")
    await boss.send("webhook_update", id=hook["id"], name="   ")
    await boss.expect_error("Webhook name must be a non-empty string")
    reply = await boss.request("webhook_update", id=hook["id"], name=" Deploys ", avatar="https://img.example/a.png")
    assert reply["webhook"]["name"] == "Deploys" and "token" not in reply["webhook"]
    assert reply["webhook"]["avatar"] == "https://img.example/a.png"
    status, _, _ = await post(server, {"content": "hi"}, hook["token"])
    assert status == 204
    assert (await boss.expect("message_new"))["message"]["webhook"]["name"] == "Deploys"
    reply = await boss.request("webhook_delete", id=hook["id"])
    assert reply == {"cmd": "webhook_delete", "id": hook["id"], "deleted": True}
    status, _, _ = await post(server, {"content": "gone"}, hook["token"])
    assert status == 401
    await boss.send("webhook_get", id=hook["id"])
    await boss.expect_error("Webhook not found")
    await boss.drain()
    log = await boss.request("modlog_get")
    actions = [e["action"] for e in log["entries"] if e["action"].startswith("webhook_")]
    assert sorted(actions) == ["webhook_create", "webhook_delete", "webhook_update"]


# ---- posting ----------------------------------------------------------------------------------


async def test_a_post_is_a_message_with_mentions_pings_and_history(server):
    """Flaw 7: a webhook's message goes the members' way: stored, broadcast, pings."""
    boss = await server.owner()
    hook = await create(boss)
    alice = await server.user("alice")
    await boss.drain()
    status, headers, _ = await post(server, {"content": "  deploy done @alice  ", "username": "Deployer"},
                                    header=f"Bearer {hook['token']}")
    assert status == 204 and CORS.items() <= headers.items()
    packet = await alice.expect("message_new", channel="general")
    m = packet["message"]
    assert (m["user"], m["content"]) == ("originChats", "deploy done @alice")
    assert m["webhook"] == {"id": hook["id"], "name": "Deployer", "avatar": None}
    assert m["pings"] == {"users": [alice.username], "roles": [], "replies": []}
    await alice.send("pings_get")
    pings = await alice.expect("pings_get")
    assert [p["id"] for p in pings["messages"]] == [m["id"]]
    await alice.send("messages_get", channel="general")
    history = await alice.expect("messages_get")
    assert [x["id"] for x in history["messages"]] == [m["id"]]
    assert history["messages"][0]["webhook"]["name"] == "Deployer"
    # the token in the URL, under any path below /webhooks/, works too
    status, _, _ = await post(server, {"text": "second"}, hook["token"], path="/webhooks/anything")
    assert status == 204
    second = (await alice.expect("message_new"))["message"]
    assert second["content"] == "second"
    # unread counts follow webhook messages as any others
    await alice.send("unreads_ack", channel="general", message_id=m["id"])
    await alice.expect("unreads_ack")
    await alice.send("unreads_count", channel="general")
    counted = await alice.expect("unreads_count")
    assert (counted["unread_count"], counted["total_messages"]) == (1, 2)


async def test_webhook_content_is_checked_like_a_members(make_server):
    """Flaw 4: no type checks and 10 MB messages in the original."""
    server = await make_server(webhooks=WebhooksSection(body_bytes=20_000, posts_per_minute=0))
    boss = await server.owner()
    hook = await create(boss)
    token = hook["token"]
    cases = [
        ({"content": 5}, 400, "'content' must be a string"),
        ({"content": "x" * 2001}, 400, "Message too long. Maximum length is 2000 characters"),
        ({"content": "   "}, 400, "No content provided"),
        ({"content": "hi", "username": 7}, 400, "'username' must be a string"),
        ({"content": "hi", "avatar_url": "file:///etc/passwd"}, 400, "'avatar_url' must be an http(s) URL"),
        ({"embeds": [{"color": "red"}]}, 400, None),
        ({"content": "hi @&user"}, 403, "You do not have permission to mention the '@&user' role"),
        (["not", "an", "object"], 400, "JSON body must be an object"),
    ]
    for body, status, error in cases:
        got, _, answer = await post(server, body, token)
        assert got == status, (body, answer)
        if error is not None:
            assert answer == {"error": error}, answer
        else:
            assert answer["error"].startswith("Embed 0: "), answer
    got, _, answer = await post(server, None, token, raw=b"{not json")
    assert (got, answer) == (400, {"error": "Invalid JSON body"})
    got, _, answer = await post(server, {"content": "x" * 30_000}, token)
    assert got == 413
    got, _, answer = await post(server, None, token, raw=b"")
    assert (got, answer) == (400, {"error": "Invalid JSON body"})
    http = await http_client(server)
    resp, _, body = await http.request("POST", f"/webhooks?token={token}", headers=[("Content-Type", "text/plain")],
                                       body=b"hi")
    assert (resp.status_code, json.loads(body)) == (415, {"error": "Content-Type must be application/json"})
    got, _, answer = await post(server, {"content": "hi"})
    assert (got, answer) == (401, {"error": "Webhook token required"})
    got, _, answer = await post(server, {"content": "hi"}, header="Bearer whk_wrong")
    assert (got, answer) == (401, {"error": "Invalid webhook token"})
    await boss.drain()
    await boss.send("messages_get", channel="general")
    assert (await boss.expect("messages_get"))["messages"] == []  # none of them was stored
    ok, _, _ = await post(server, {"embeds": [{"title": "Build", "color": 65280, "junk": 1}]}, token)
    assert ok == 204
    m = (await boss.expect("message_new"))["message"]
    assert (m["content"], m["embeds"]) == ("", [{"title": "Build", "color": 65280}])


async def test_each_webhook_has_its_own_rate_limit(make_server, autojump_clock):
    """Flaw 4: no rate limit in the original; 429 with Retry-After, per webhook."""
    server = await make_server(webhooks=WebhooksSection(posts_per_minute=6, burst=2))
    boss = await server.owner()
    first, second = await create(boss), await create(boss, name="other")
    statuses = [(await post(server, {"content": f"m{i}"}, first["token"]))[0] for i in range(2)]
    assert statuses == [204, 204]
    status, headers, answer = await post(server, {"content": "m2"}, first["token"])
    assert status == 429 and headers["retry-after"] == "10"
    assert answer == {"error": "Too many posts through this webhook: retry in 10 s", "retry_after": 10}
    assert (await post(server, {"content": "other"}, second["token"]))[0] == 204  # its own bucket
    await trio.sleep(10)
    assert (await post(server, {"content": "m3"}, first["token"]))[0] == 204
    await settle()
    contents = [p["message"]["content"] for p in await boss.drain() if p.get("cmd") == "message_new"]
    assert contents == ["m0", "m1", "other", "m3"]


async def test_github_signature_ping_and_push(server):
    """Flaw 5: signatures were not checked and GitHub's setup ping failed."""
    boss = await server.owner()
    hook = await create(boss, secret="s3cret")
    assert hook["has_secret"] is True and "s3cret" not in json.dumps(hook)
    ping = json.dumps({"zen": "Keep it simple.", "hook_id": 1}).encode()
    status, _, answer = await post(server, None, hook["token"], raw=ping, extra=[("X-GitHub-Event", "ping")])
    assert (status, answer) == (401, {"error": "Invalid or missing X-Hub-Signature-256"})
    status, _, _ = await post(server, None, hook["token"], raw=ping,
                              extra=[("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", signed("wrong", ping))])
    assert status == 401
    status, _, _ = await post(server, None, hook["token"], raw=ping,
                              extra=[("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", signed("s3cret", ping))])
    assert status == 204
    push = json.dumps({
        "ref": "refs/heads/main", "compare": "https://github.com/o/r/compare/a...b",
        "repository": {"full_name": "o/r", "html_url": "https://github.com/o/r"},
        "sender": {"login": "octo", "avatar_url": "https://avatars.example/octo"},
        "commits": [{"id": "abcdef1234567", "message": "Fix it\n\nlong body", "url": "https://github.com/o/r/commit/abc"}],
    }).encode()
    status, _, _ = await post(server, None, hook["token"], raw=push,
                              extra=[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", signed("s3cret", push))])
    assert status == 204
    await settle()
    messages = [p["message"] for p in await boss.drain() if p.get("cmd") == "message_new"]
    assert len(messages) == 1  # the ping posted nothing
    m = messages[0]
    assert m["webhook"]["name"] == "GitHub" and m["content"] == ""
    embed = m["embeds"][0]
    assert (embed["title"], embed["url"], embed["author"]["name"]) == \
        ("main: 1 commit", "https://github.com/o/r/compare/a...b", "octo - o/r")
    assert embed["description"] == "[`abcdef1`](https://github.com/o/r/commit/abc) Fix it"
    issue = b'{"action": "opened"}'
    status, _, answer = await post(server, None, hook["token"], raw=issue,
                                   extra=[("X-GitHub-Event", "issues"), ("X-Hub-Signature-256", signed("s3cret", issue))])
    assert (status, answer) == (400, {"error": "Unhandled event type: issues"})


async def test_a_github_ping_without_a_secret_succeeds(server):
    boss = await server.owner()
    hook = await create(boss)
    status, _, _ = await post(server, {"zen": "Design for failure.", "hook_id": 2}, hook["token"],
                              extra=[("X-GitHub-Event", "ping")])
    assert status == 204
    await boss.assert_silent()


async def test_a_webhook_whose_channel_was_deleted_answers_404(server):
    boss = await server.owner()
    await boss.send("channel_create", name="feed", type="text")
    await settle()
    await boss.drain()
    hook = await create(boss, channel="feed")
    await boss.send("channel_delete", name="feed")
    await settle()
    await boss.drain()
    status, _, answer = await post(server, {"content": "into the void"}, hook["token"])
    assert (status, answer) == (404, {"error": "Channel not found"})
    listed = await boss.request("webhook_list")
    assert listed["webhooks"][0]["channel"] is None  # still listed, so it can be deleted
