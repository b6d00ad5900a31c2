"""The push sender's transport and queue (server/push.py, server/push_http.py), against the fake
push services of tests/test_push.py on loopback: kept-alive connections, connections the service
closed, https with a real certificate check, and pushes that wait behind a slow service."""

from __future__ import annotations

import ssl
from functools import partial

import pytest
import trio
import trustme

from originchats.config import PushSection
from tests.client import settle
from tests.test_push import LOOPBACK, Browser, FakePushService, config, push_service, subscribed  # noqa: F401


async def mention(sender, name: str, text: str) -> None:
    await sender.send("message_new", channel="general", content=f"@{name} {text}")
    await sender.expect("message_new")


async def test_pushes_to_one_service_reuse_one_kept_alive_connection(server, push_service):
    browsers = {name: push_service.browser(name) for name in ("alice", "carol")}
    for name, browser in browsers.items():
        await subscribed(server, name, browser)
    bob = await server.user("bob")
    for n, name in enumerate(("alice", "carol", "alice")):
        await mention(bob, name, f"number {n}")
        await push_service.wait(n + 1)
    assert [p for p, _, _ in push_service.received] == ["/push/alice", "/push/carol", "/push/alice"]
    assert browsers["alice"].decrypt(push_service.received[2][2])["body"] == "@alice number 2"
    assert push_service.connections == 1


async def test_a_connection_the_service_closed_is_not_written_to_again(server, push_service):
    push_service.close_after_answer = True
    browser = push_service.browser("alice")
    await subscribed(server, "alice", browser)
    bob = await server.user("bob")
    for n in range(3):
        await mention(bob, "alice", f"number {n}")
        await push_service.wait(n + 1)
    assert [browser.decrypt(body)["body"] for _, _, body in push_service.received] == [
        f"@alice number {n}" for n in range(3)]
    assert push_service.connections == 3
    with trio.fail_after(10):
        while server.hub.sink.pusher.sent < 3:  # every one answered 201, none failed
            await trio.sleep(0.01)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def tls_service(nursery: trio.Nursery, ca: trustme.CA, name: str) -> FakePushService:
    """A fake push service on https, with a certificate `ca` signed for `name`."""
    fake = FakePushService()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)

    async def handle(stream: trio.SocketStream) -> None:
        fake.status["handshakes"] = fake.status.get("handshakes", 0) + 1
        tls = trio.SSLStream(stream, context, server_side=True)
        try:
            await tls.do_handshake()
        except (trio.BrokenResourceError, ssl.SSLError):
            return  # the client refused the certificate
        await fake.handle(tls)

    listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    fake.base = f"https://localhost:{listeners[0].socket.getsockname()[1]}"
    return fake


async def test_https_pushes_check_the_services_certificate_for_the_urls_host(make_server, nursery, ca):
    server = await make_server(push=PushSection(allow_private=True, concurrency=1))
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    server.hub.sink.pusher.http.ssl_context = trusting  # trust the test CA (and nothing else)
    good = await tls_service(nursery, ca, "localhost")
    impostor = await tls_service(nursery, ca, "push.example.org")  # a valid certificate, for another name
    alice, carol = good.browser("alice"), impostor.browser("carol")
    await subscribed(server, "alice", alice)
    await subscribed(server, "carol", carol)
    bob = await server.user("bob")
    await mention(bob, "carol", "this must not leave")
    await mention(bob, "alice", "over tls")
    await good.wait(1)
    assert alice.decrypt(good.received[0][2])["body"] == "@alice over tls"
    assert good.received[0][1]["host"] == good.base[len("https://"):]
    assert impostor.status["handshakes"] == 1 and impostor.connections == 0  # refused at the handshake
    assert impostor.received == []
    with trio.fail_after(10):
        while server.hub.sink.pusher.sent < 1:
            await trio.sleep(0.01)


async def test_pushes_waiting_behind_a_slow_service_keep_only_the_newest_per_subscription(server, push_service):
    """One worker (LOOPBACK): while alice's push is held by the service, bob is mentioned three
    times; he gets one push, with the newest message, and nothing is dropped."""
    push_service.hold["/push/alice"] = release = trio.Event()
    browsers = {name: push_service.browser(name) for name in ("alice", "bob")}
    for name, browser in browsers.items():
        await subscribed(server, name, browser)
    carol = await server.user("carol")
    await mention(carol, "alice", "first")
    await push_service.wait(1)  # the worker now waits for the service's answer
    for text in ("one", "two", "three"):
        await mention(carol, "bob", text)
    await settle()  # their recipients are worked out (when the server is idle)
    release.set()
    await push_service.wait(2)
    await mention(carol, "bob", "four")  # the control: pushed after the merged one
    await push_service.wait(3)
    assert [p for p, _, _ in push_service.received] == ["/push/alice", "/push/bob", "/push/bob"]
    bodies = [browsers["bob"].decrypt(body)["body"] for _, _, body in push_service.received[1:]]
    assert bodies == ["@bob three", "@bob four"]
    pusher = server.hub.sink.pusher
    assert (pusher.merged, pusher.dropped) == (2, 0)
