"""Web push (extended/push.md) against a fake push service on loopback (trio + h11): it records
each POST, and the test decrypts the payload with the subscription's own keys (RFC 8291)."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import h11
import http_ece
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from originchats.config import PushSection
from originchats.store.db import db_path
from tests.conftest import make_config

REFUSED = "The push endpoint must be an https URL of a public push service"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@attrs.define
class Browser:
    """A browser's push subscription: its keys decrypt what the service receives for it."""
    endpoint: str
    key: Any = attrs.Factory(lambda: ec.generate_private_key(ec.SECP256R1()))
    secret: bytes = attrs.Factory(lambda: os.urandom(16))

    def json(self) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64(point), "auth": b64(self.secret)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.secret, version="aes128gcm"))


@attrs.define
class FakePushService:
    base: str = ""
    status: dict[str, int] = attrs.Factory(dict)  # path -> answer (default 201)
    received: list[tuple[str, dict[str, str], bytes]] = attrs.Factory(list)
    arrived: trio.Event = attrs.Factory(trio.Event)
    connections: int = 0  # connections accepted
    hold: dict[str, trio.Event] = attrs.Factory(dict)  # path -> answered only once this is set
    close_after_answer: bool = False  # close each connection once it has answered (no keep-alive)

    def browser(self, name: str) -> Browser:
        return Browser(f"{self.base}/push/{name}")

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                request, body = None, b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await stream.receive_some(65536)
                        if not data:
                            return
                        conn.receive_data(data)
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                path = request.target.decode()
                headers = {k.decode().lower(): v.decode() for k, v in request.headers}
                self.received.append((path, headers, body))
                self.arrived.set()
                if path in self.hold:
                    await self.hold[path].wait()
                await stream.send_all(conn.send(h11.Response(status_code=self.status.get(path, 201),
                                                             headers=[("content-length", "0")])))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                if self.close_after_answer:
                    return
                conn.start_next_cycle()

    async def wait(self, count: int) -> None:
        with trio.fail_after(10):
            while len(self.received) < count:
                self.arrived = trio.Event()
                await self.arrived.wait()


@pytest.fixture
async def push_service(nursery: trio.Nursery) -> FakePushService:
    fake = FakePushService()
    listeners = await nursery.start(partial(trio.serve_tcp, fake.handle, 0, host="127.0.0.1"))
    fake.base = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    return fake


#: the fake is plain HTTP on loopback: only a test config lets pushes go there. One worker: the
#: pushes arrive in the order they were decided (a later control push proves an earlier none).
LOOPBACK = PushSection(allow_http=True, allow_private=True, concurrency=1, claims_email="mailto:ops@example.org")


@pytest.fixture
async def config(tmp_path: Path):
    return make_config(tmp_path, push=LOOPBACK)


def stored(server, endpoint: str) -> tuple | None:
    con = sqlite3.connect(db_path(server.config.storage.data_dir))
    try:
        return con.execute("SELECT user_id, last_used FROM push_subscriptions WHERE endpoint = ?",
                           (endpoint,)).fetchone()
    finally:
        con.close()


async def subscribed(server, name: str, browser: Browser):
    """`name` subscribes `browser`, then goes offline."""
    client = await server.user(name)
    reply = await client.request("push_subscribe", subscription=browser.json(), vapid_public_key="k")
    assert reply["cmd"] == "push_subscribed" and reply["success"] is True, reply
    assert len(reply["device_fingerprint"]) == 16
    await client.close()
    return client


async def test_vapid_key_is_made_once_kept_private_and_survives_restart(server):
    alice = await server.user("alice")
    reply = await alice.request("push_get_vapid")
    assert reply["cmd"] == "push_vapid"
    raw = base64.urlsafe_b64decode(reply["key"] + "=" * (-len(reply["key"]) % 4))
    assert len(raw) == 65 and raw[0] == 4 and "=" not in reply["key"]
    pem = Path(server.config.storage.data_dir) / "vapid" / "private_key.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert "push_get_vapid" in alice.handshake["val"]["capabilities"]
    await server.restart()
    again = await server.user("alice")
    assert (await again.request("push_get_vapid"))["key"] == reply["key"]


async def test_a_mention_pushes_an_encrypted_signed_payload_to_the_offline_viewer(server, push_service):
    browser = push_service.browser("alice")
    alice = await subscribed(server, "alice", browser)
    (_, first_used) = stored(server, browser.endpoint)
    bob = await server.user("bob")
    await bob.send("message_new", channel="general", content="hi @alice " + "x" * 200)
    await bob.expect("message_new")
    await push_service.wait(1)
    path, headers, body = push_service.received[0]
    assert path == "/push/alice"
    assert browser.decrypt(body) == {"title": f"#general \u2014 {bob.username}", "body": ("hi @alice " + "x" * 200)[:120],
                                     "channelName": "general"}
    assert headers["content-encoding"] == "aes128gcm" and headers["ttl"] == "86400"
    assert headers["authorization"].startswith("vapid t=") and headers["host"] == push_service.base[7:]
    with trio.fail_after(10):  # last_used is refreshed once the service accepted it
        while stored(server, browser.endpoint)[1] == first_used:
            await trio.sleep(0.01)
    assert stored(server, browser.endpoint)[0] == server.hub.state.names[alice.username.casefold()]


async def test_pushes_go_to_offline_viewers_who_are_mentioned_or_replied_to_and_nobody_else(server, push_service):
    boss = await server.owner()
    await boss.request("channel_create", name="staff", type="text", permissions={"view": ["owner"], "send": ["owner"]})
    browsers = {name: push_service.browser(name) for name in ("alice", "carol", "dave")}
    for name, browser in browsers.items():
        await subscribed(server, name, browser)
    dave = await server.user("dave")  # online again: the client shows it itself
    del dave
    await boss.drain()
    await boss.send("message_new", channel="staff", content="secret plans, @alice")  # alice cannot view staff
    await boss.expect("message_new")
    await boss.send("message_new", channel="general", content="hello @dave")  # online
    await boss.expect("message_new")
    await boss.send("message_new", channel="general", content="@boss talking to myself")  # the sender
    await boss.expect("message_new")
    carol = await server.user("carol")
    await carol.send("message_new", channel="general", content="something to reply to")
    said = await carol.expect("message_new")
    await carol.close()
    await boss.drain()
    await boss.send("message_new", channel="general", content="a reply", reply_to=said["message"]["id"])
    await boss.expect("message_new")
    await push_service.wait(1)
    await boss.send("message_new", channel="general", content="last: @alice")  # the control
    await boss.expect("message_new")
    await push_service.wait(2)
    await trio.sleep(0.05)
    assert [p for p, _, _ in push_service.received] == ["/push/carol", "/push/alice"]
    assert browsers["carol"].decrypt(push_service.received[0][2])["title"] == f"#general \u2014 {boss.username} replied"
    assert browsers["alice"].decrypt(push_service.received[1][2])["body"] == "last: @alice"


async def test_a_role_mention_pushes_the_offline_role_members_who_can_view(server, push_service):
    boss = await server.owner()
    await boss.request("role_create", name="ops")
    for name in ("alice", "carol"):
        await subscribed(server, name, push_service.browser(name))
    await boss.request("user_roles_set", user="USR:local_alice", roles=["user", "ops"])
    await boss.drain()
    await boss.send("message_new", channel="general", content="@&ops deploy is done")
    await boss.expect("message_new")
    await push_service.wait(1)
    await trio.sleep(0.05)
    assert [p for p, _, _ in push_service.received] == ["/push/alice"]


async def test_a_gone_subscription_is_deleted_and_not_pushed_again(server, push_service):
    browser = push_service.browser("alice")
    push_service.status["/push/alice"] = 410
    await subscribed(server, "alice", browser)
    bob = await server.user("bob")
    await bob.send("message_new", channel="general", content="@alice one")
    await bob.expect("message_new")
    await push_service.wait(1)
    with trio.fail_after(10):
        while stored(server, browser.endpoint) is not None:
            await trio.sleep(0.01)
    other = push_service.browser("carol")
    await subscribed(server, "carol", other)
    await bob.drain()
    await bob.send("message_new", channel="general", content="@alice two @carol")
    await bob.expect("message_new")
    await push_service.wait(2)
    await trio.sleep(0.05)
    assert [p for p, _, _ in push_service.received] == ["/push/alice", "/push/carol"]


async def test_unsubscribe_removes_only_the_callers_own_subscription(server, push_service):
    a, c = push_service.browser("alice"), push_service.browser("carol")
    await subscribed(server, "alice", a)
    await subscribed(server, "carol", c)
    carol = await server.user("carol")
    assert await carol.request("push_unsubscribe", endpoint=a.endpoint) == {"cmd": "push_unsubscribed", "success": True}
    assert stored(server, a.endpoint) is not None
    assert await carol.request("push_unsubscribe", endpoint=c.endpoint) == {"cmd": "push_unsubscribed", "success": True}
    assert stored(server, c.endpoint) is None
    await carol.send("push_unsubscribe")
    await carol.expect_error("Missing endpoint", src="push_unsubscribe")


async def test_subscribe_checks_its_fields(server):
    alice = await server.user("alice")
    await alice.send("push_subscribe")
    await alice.expect_error("Missing subscription object", src="push_subscribe")
    fields = "subscription must include endpoint, keys.p256dh and keys.auth"
    for sub in ({"endpoint": "https://push.example.com/x"}, {"endpoint": "https://push.example.com/x", "keys": "no"},
                {"endpoint": "https://push.example.com/x", "keys": {"p256dh": "a"}}, {"keys": {"p256dh": "a", "auth": "b"}}):
        await alice.send("push_subscribe", subscription=sub)
        await alice.expect_error(fields, src="push_subscribe")


@pytest.mark.parametrize("endpoint", [
    "http://push.example.com/x", "https://127.0.0.1/x", "https://10.1.2.3/x", "https://192.168.0.1/x",
    "https://169.254.169.254/latest", "https://[::1]/x", "https://[fe80::1]/x", "https://[::ffff:127.0.0.1]/x",
    "https://localhost/x", "https://push.localhost/x", "https://0.0.0.0/x", "https://user@push.example.com/x",
    "file:///etc/passwd", "https:///x", "https://push.example.com:0/x",
])
async def test_endpoints_must_be_public_https(tmp_path, make_server, endpoint):
    server = await make_server()  # the default config: no test allowances
    alice = await server.user("alice")
    sub = {"endpoint": endpoint, "keys": {"p256dh": "a", "auth": "b"}}
    await alice.send("push_subscribe", subscription=sub)
    await alice.expect_error(REFUSED, src="push_subscribe")
    sub["endpoint"] = "https://push.example.com/x"
    assert (await alice.request("push_subscribe", subscription=sub))["cmd"] == "push_subscribed"


async def test_a_name_that_resolves_to_loopback_is_not_pushed_to(make_server, push_service):
    # "127.1" is not an address to ipaddress, but the resolver turns it into 127.0.0.1
    server = await make_server(push=PushSection(allow_http=True, concurrency=1))
    port = push_service.base.rsplit(":", 1)[1]
    browser = Browser(f"http://127.1:{port}/push/alice")
    await subscribed(server, "alice", browser)
    bob = await server.user("bob")
    await bob.send("message_new", channel="general", content="@alice hi")
    await bob.expect("message_new")
    with trio.fail_after(10):
        while server.hub.sink.pusher.refused < 1:
            await trio.sleep(0.01)
    assert push_service.received == []


async def test_a_claims_email_push_services_would_refuse_turns_push_off(make_server):
    server = await make_server(push=PushSection(claims_email="mailto:"))
    alice = await server.user("alice")
    await alice.send("push_get_vapid")
    await alice.expect_error("VAPID keys not configured on this server", src="push_get_vapid")


async def test_a_webhook_post_that_mentions_an_offline_member_pushes_them(server, push_service):
    """Webhook messages push like members' (issue 10: mentions, pings, unreads and push)."""
    from tests.test_webhooks import create, post

    browser = push_service.browser("alice")
    await subscribed(server, "alice", browser)
    boss = await server.owner()
    hook = await create(boss)
    status, _, _ = await post(server, {"content": "deploy done @alice", "username": "CI"}, hook["token"])
    assert status == 204
    await push_service.wait(1)
    path, _, body = push_service.received[0]
    assert path == "/push/alice"
    assert browser.decrypt(body)["body"] == "deploy done @alice"
