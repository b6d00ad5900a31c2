"""Built-in TLS (issue 11, part 4): `[tls] cert`/`key` serves `wss://` and `https://` on the listening
port, the certificate is reloaded (SIGHUP) without dropping connections, and a wrong path is a
configuration error (exit 2).

The real `serve()` listens on a loopback TCP port; the certificates come from `trustme` CAs. The
WebSocket clients are the wsproto test client (tests/client.py) over a `trio.SSLStream`, the HTTPS
client is httpx, and one `wss://` client is the `websockets` library, whose TLS and framing share
no code with the server's. Each wait has a timeout; nothing sleeps.
"""

from __future__ import annotations

import signal
import ssl
import sys
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trustme
from websockets.sync.client import connect as ws_connect

from originchats.server.app import serve
from originchats.server.tls import Tls
from tests.client import Client, sign_in
from tests.test_durability import CONFIG, ServerProcess

WAIT = 10.0


def write_cert(ca: trustme.CA, folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 from `ca` (chain and key as PEM files in `folder`, replaced if there)."""
    issued = ca.issue_cert("127.0.0.1", "localhost")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    return str(cert), str(key)


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


async def tls_stream(host: str, port: int, ctx: ssl.SSLContext) -> trio.SSLStream:
    """A TLS connection whose handshake is done (BrokenResourceError when the certificate is refused)."""
    stream = trio.SSLStream(await trio.open_tcp_stream(host, port), ctx, server_hostname="127.0.0.1")
    try:
        with trio.fail_after(WAIT):
            await stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return stream


async def wss_client(nursery: trio.Nursery, host: str, port: int, ctx: ssl.SSLContext) -> Client:
    client = Client(await tls_stream(host, port, ctx))
    await client.open(nursery)
    client.handshake = await client.expect("handshake")
    return client


def served_certificate(stream: trio.SSLStream) -> bytes:
    return stream.getpeercert(binary_form=True)


@attrs.define
class TlsServer:
    nursery: trio.Nursery
    tls: Tls
    host: str = ""
    port: int = 0
    clients: list[Client] = attrs.Factory(list)

    async def client(self, ca: trustme.CA) -> Client:
        client = await wss_client(self.nursery, self.host, self.port, trusting(ca))
        self.clients.append(client)
        return client

    async def user(self, ca: trustme.CA, name: str) -> Client:
        return await sign_in(await self.client(ca), name, "pass1234")


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(nursery: trio.Nursery, config, ca, tmp_path):  # type: ignore[no-untyped-def]
    cert, key = write_cert(ca, tmp_path / "tls")
    tls = Tls(cert, key)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    stop, stopped = trio.Event(), trio.Event()

    async def run(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve(config, listeners=listeners, stop=stop, tls=tls, task_status=task_status)
        finally:
            stopped.set()

    await nursery.start(run)
    srv = TlsServer(nursery, tls, *listeners[0].socket.getsockname()[:2])
    yield srv
    for client in srv.clients:
        await trio.aclose_forcefully(client.stream)
    stop.set()
    with trio.fail_after(30):
        await stopped.wait()


async def chat(sender: Client, *receivers: Client, text: str) -> None:
    """`sender` posts `text` in general; each receiver (and the sender) gets its message_new (other
    packets, such as a welcome message, are passed over)."""
    await sender.send("message_new", channel="general", content=text)
    for client in (sender, *receivers):
        with trio.fail_after(WAIT):
            while True:
                packet = await client.recv()
                if packet.get("cmd") == "message_new" and packet["message"]["content"] == text:
                    break


async def test_wss_clients_log_in_and_chat_over_builtin_tls(tls_server, ca):
    alice = await tls_server.user(ca, "alice")
    bob = await tls_server.user(ca, "bob")
    await chat(alice, bob, text="hello over wss")
    assert served_certificate(alice.stream) == served_certificate(bob.stream)


async def test_a_websockets_library_client_gets_the_handshake_over_wss(tls_server, ca):
    url = f"wss://{tls_server.host}:{tls_server.port}/"
    ws = await trio.to_thread.run_sync(partial(ws_connect, url, ssl=trusting(ca), proxy=None, open_timeout=WAIT,
                                                   legacy=True))
    try:
        import json

        first = json.loads(await trio.to_thread.run_sync(ws.recv, WAIT))
        assert first["cmd"] == "handshake"
    finally:
        await trio.to_thread.run_sync(ws.close)


async def test_https_routes_answer_on_the_same_port_and_plain_http_gets_nothing(tls_server, ca):
    base = f"{tls_server.host}:{tls_server.port}"

    def get(url: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(verify=trusting(ca), trust_env=False, timeout=WAIT, **kwargs) as http:
            return http.get(url)

    resp = await trio.to_thread.run_sync(get, f"https://{base}/info")
    assert resp.status_code == 200
    assert resp.json()["server"]["name"] == "My OriginChats Server"
    with pytest.raises(httpx.TransportError):  # no plain-text answer on a TLS port
        await trio.to_thread.run_sync(get, f"http://{base}/info")
    resp = await trio.to_thread.run_sync(get, f"https://{base}/health")  # still serving after that
    assert resp.json() == {"status": "ok"}


async def test_reload_gives_new_connections_the_new_certificate_and_keeps_the_old_ones(tls_server, ca, tmp_path):
    alice = await tls_server.user(ca, "alice")
    old = served_certificate(alice.stream)

    new_ca = trustme.CA()
    write_cert(new_ca, tmp_path / "tls")  # the files are replaced in place, as a renewal does
    assert tls_server.tls.reload()

    bob = await tls_server.user(new_ca, "bob")
    assert served_certificate(bob.stream) not in (old, None)
    with pytest.raises(trio.BrokenResourceError):  # a client trusting only the old CA is refused now
        await tls_stream(tls_server.host, tls_server.port, trusting(ca))
    await chat(alice, bob, text="the old connection is still up")
    await chat(bob, alice, text="and hears the new one")


async def test_a_failed_reload_keeps_the_certificate_in_use(tls_server, ca, tmp_path):
    alice = await tls_server.user(ca, "alice")
    (tmp_path / "tls" / "key.pem").write_bytes(trustme.CA().issue_cert("127.0.0.1").private_key_pem.bytes())
    assert not tls_server.tls.reload()  # the key does not match the certificate
    (tmp_path / "tls" / "cert.pem").unlink()
    assert not tls_server.tls.reload()  # no certificate at all
    bob = await tls_server.user(ca, "bob")
    assert served_certificate(bob.stream) == served_certificate(alice.stream)
    await chat(bob, alice, text="still served")


TLS_CONFIG = CONFIG + """\
[tls]
cert = "{cert}"
key = "{key}"
"""


async def test_sighup_reloads_the_certificate_of_a_running_server(nursery, tmp_path, ca):
    cert, key = write_cert(ca, tmp_path / "tls")
    text = TLS_CONFIG.format(data_dir=tmp_path / "data", level="info", cert=cert, key=key)
    async with ServerProcess(tmp_path, config_text=text) as srv:
        assert srv.events()[-1]["event"] == "listening"
        assert any(e["event"] == "tls_enabled" for e in srv.events())
        alice = await sign_in(await wss_client(nursery, srv.host, srv.port, trusting(ca)), "alice", "pass1234")
        srv.clients.append(alice)

        new_ca = trustme.CA()
        write_cert(new_ca, tmp_path / "tls")
        srv.signal(signal.SIGHUP)
        await srv.wait_for_event("tls_reloaded")

        bob = await sign_in(await wss_client(nursery, srv.host, srv.port, trusting(new_ca)), "bob", "pass1234")
        srv.clients.append(bob)
        assert served_certificate(bob.stream) != served_certificate(alice.stream)
        await chat(alice, bob, text="after SIGHUP")
        assert srv.proc is not None and srv.proc.returncode is None


async def run_cli(tmp_path: Path, text: str) -> tuple[int, str]:
    (tmp_path / "c.toml").write_text(text)
    with trio.fail_after(30):
        result = await trio.run_process([sys.executable, "-m", "originchats", "serve", "--config", "c.toml"],
                                        capture_stdout=True, capture_stderr=True, check=False, cwd=tmp_path)
    return result.returncode, result.stderr.decode()


@pytest.mark.parametrize("broken", ["key", "cert", "mismatch", "only_cert"])
async def test_a_wrong_certificate_or_key_is_a_config_error_with_exit_2(tmp_path, ca, broken):
    cert, key = write_cert(ca, tmp_path / "tls")
    if broken == "key":
        key = str(tmp_path / "nope" / "key.pem")
    elif broken == "cert":
        cert = str(tmp_path / "missing.pem")
    elif broken == "mismatch":
        Path(key).write_bytes(trustme.CA().issue_cert("127.0.0.1").private_key_pem.bytes())
    data_dir = tmp_path / "data"
    text = TLS_CONFIG.format(data_dir=data_dir, level="info", cert=cert, key=key)
    if broken == "only_cert":
        text = text.replace(f'key = "{key}"\n', "")
    code, err = await run_cli(tmp_path, text)
    expected = {
        "key": f"tls.key: cannot read {key}: No such file or directory",
        "cert": f"tls.cert: cannot read {cert}: No such file or directory",
        "mismatch": f"tls: cannot use the certificate {cert} with the key {key}: "
                    "the key does not belong to the certificate",
        "only_cert": "tls.key: must be set too (tls.cert and tls.key go together)",
    }[broken]
    assert (code, err) == (2, f"originchats: c.toml: invalid configuration:\n  {expected}\n")
    assert not data_dir.exists()  # nothing started
