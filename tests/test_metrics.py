"""GET /metrics (issue 11 part 3, server/metrics.py): off by default, never public, and what it counts."""

from __future__ import annotations

import attrs
import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from originchats.config import ConfigError, MetricsSection, RateLimitingSection, parse_config
from originchats.server import ws_send
from tests.conftest import Server, make_config
from tests.test_http import http_client
from tests.test_ws import LockstepListener

TOKEN = "a-long-enough-scrape-token"
AUTH = [("Authorization", f"Bearer {TOKEN}")]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a scrape."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(server, headers=AUTH) -> tuple[int, dict[str, str], bytes]:  # type: ignore[no-untyped-def]
    client = await http_client(server)
    head, hdrs, body = await client.request("GET", "/metrics", headers)
    await client.stream.aclose()
    return head.status_code, hdrs, body


async def test_metrics_are_off_by_default(server):
    status, _, body = await scrape(server)
    assert (status, body) == (404, b'{"error": "Not found"}')


@pytest.mark.parametrize("config", [{"metrics": MetricsSection(enabled=True, token=TOKEN)}], indirect=True)
async def test_on_the_chat_port_the_token_is_required(server):
    assert (await scrape(server, []))[0] == 401
    status, headers, _ = await scrape(server, [("Authorization", "Bearer " + "x" * len(TOKEN))])
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert (await scrape(server, [("Authorization", TOKEN)]))[0] == 401  # not a bearer token
    status, headers, body = await scrape(server)
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert ("originchats_connections_open", ()) in samples(body.decode())


@pytest.fixture
def config(request, tmp_path):  # type: ignore[no-untyped-def]
    """The `server` fixture's config, with the sections a test's parameter gives."""
    return make_config(tmp_path, **getattr(request, "param", {}))


@pytest.mark.parametrize("config", [{
    "metrics": MetricsSection(enabled=True, token=TOKEN),
    "rate_limiting": RateLimitingSection(enabled=True, messages_per_minute=60, burst_limit=2),
}], indirect=True)
async def test_what_the_server_did_is_counted(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    carol = await server.connect()
    await carol.send("login", username="alice", password="wrong-password")
    await carol.expect("auth_error")
    await alice.drain(), await bob.drain()
    await alice.send("message_new", channel="general", content="one")
    await alice.expect("message_new")
    await bob.expect("message_new")
    await alice.send("message_new", channel="general", content="two")
    await alice.expect("message_new")
    await bob.expect("message_new")
    await alice.send("message_new", channel="general", content="three")  # past the burst of 2
    await alice.expect("rate_limit")
    await alice.send("no_such_command")
    await alice.expect("error")
    status, _, body = await scrape(server)
    assert status == 200
    got = samples(body.decode())
    assert got[("originchats_connections_open", ())] == 3
    assert got[("originchats_connections_authenticated", ())] == 2
    assert got[("originchats_logins_total", (("result", "ok"),))] == 2
    assert got[("originchats_logins_total", (("result", "failed"),))] == 1
    commands = {labels: v for (name, labels), v in got.items() if name == "originchats_commands_total"}
    assert commands[(("command", "message_new"), ("result", "ok"))] == 2
    assert commands[(("command", "message_new"), ("result", "rate_limited"))] == 1
    assert commands[(("command", "unknown"), ("result", "error"))] == 1  # a client cannot add labels
    assert got[("originchats_command_seconds_count", (("command", "message_new"),))] == 3
    assert got[("originchats_rate_limited_total", (("limit", "commands"),))] == 1
    # counted per broadcast, by its receivers (each message reached bob; the joins, the others)
    assert got[("originchats_fanout_deliveries_total", ())] >= 2
    assert got[("originchats_writer_batch_size_count", ())] >= 2
    assert got[("originchats_writer_commit_seconds_count", ())] == got[("originchats_writer_batch_size_count", ())]
    assert got[("originchats_writer_queue_depth", ())] == 0
    assert got[("originchats_sqlite_bytes", (("file", "main"),))] > 0
    before = got[("originchats_fanout_deliveries_total", ())]
    await bob.send("message_new", channel="general", content="four")
    await bob.expect("message_new")
    await alice.expect("message_new")
    after = samples((await scrape(server))[2].decode())
    # the broadcast reached alice (bob's own copy is his reply, not a fan-out delivery)
    assert after[("originchats_fanout_deliveries_total", ())] == before + 1
    assert after[("originchats_broadcasts_total", ())] > got[("originchats_broadcasts_total", ())]


async def test_a_slow_consumer_drop_is_counted(nursery, tmp_path, monkeypatch):
    monkeypatch.setattr(ws_send, "MAX_OUTBOX_BYTES", 64 * 1024)
    config = make_config(tmp_path, metrics=MetricsSection(enabled=True, token=TOKEN))
    server = Server(nursery=nursery, config=config, listener=LockstepListener())
    await server.start()
    slow = await server.user("slow")
    poster = await server.user("poster")
    await slow.drain()
    slow.stream.reading = trio.Event()  # stop reading
    for i in range(60):
        await poster.send("message_new", channel="general", content=f"{i} " + "c" * 1900)
        await poster.expect("message_new")
    slow.stream.reading.set()
    assert await slow.wait_closed() == 1008
    await poster.expect("user_disconnect", username=slow.username)
    client = await http_client(server)
    _, _, body = await client.request("GET", "/metrics", AUTH)
    assert samples(body.decode())[("originchats_slow_consumer_drops_total", ())] == 1
    await server.shutdown()


async def test_a_separate_local_bind_serves_metrics_only_there(nursery, tmp_path):
    config = make_config(tmp_path, metrics=MetricsSection(enabled=True, bind="127.0.0.1:0"))
    server = Server(nursery=nursery, config=config)
    await server.start()
    await server.user("alice")
    assert (await scrape(server))[0] == 404  # not on the chat port, token or not
    host, port = server.hub.metrics.bound[0]
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as web:
        answer = await web.get("/metrics")
        assert answer.status_code == 200
        assert samples(answer.text)[("originchats_connections_authenticated", ())] == 1
        assert (await web.get("/")).status_code == 404
        assert (await web.post("/metrics")).status_code == 404
    await server.shutdown()


@pytest.mark.parametrize("section,problem", [
    ({"enabled": True}, "metrics.enabled: needs metrics.token"),
    ({"enabled": True, "bind": "0.0.0.0:9613"}, "metrics.bind: a non-loopback address needs metrics.token"),
    ({"enabled": True, "token": "short"}, "metrics.token: must be at least 16"),
    ({"enabled": True, "bind": "nowhere", "token": TOKEN}, "metrics.bind: expected HOST:PORT"),
])
def test_metrics_cannot_be_configured_public(section, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_config({"metrics": section})


def test_safe_metrics_configurations_load():
    assert not parse_config({}).metrics.enabled
    for section in ({"enabled": True, "bind": "127.0.0.1:9613"}, {"enabled": True, "bind": "[::1]:9613"},
                    {"enabled": True, "token": TOKEN}, {"enabled": True, "bind": "0.0.0.0:9613", "token": TOKEN}):
        assert attrs.asdict(parse_config({"metrics": section}).metrics) == {"bind": "", "token": "", **section}


@pytest.mark.parametrize("config", [{"metrics": MetricsSection(enabled=True, token=TOKEN),
                                     "rate_limiting": RateLimitingSection(enabled=False)}], indirect=True)
async def test_compressed_broadcasts_are_counted_once_with_their_bytes(server):
    """A big broadcast to two clients that negotiated permessage-deflate is compressed once: one
    compressed broadcast, and its size before and after."""
    from tests.test_compression import BIG, sign_in as join, tapped

    (one, _), (two, _) = [await tapped(server, deflate=True) for _ in range(2)]
    for client, name in ((one, "one"), (two, "two")):
        await join(client, name)
    poster = await server.user("poster")
    for client in (one, two):
        await client.drain()
    before = samples((await scrape(server))[2].decode())
    await poster.send("message_new", channel="general", content="small")  # under the threshold: plain
    await poster.send("message_new", channel="general", content=BIG)
    for client in (one, two):
        assert (await client.expect("message_new"))["message"]["content"] == "small"
        assert (await client.expect("message_new"))["message"]["content"] == BIG
    got = samples((await scrape(server))[2].decode())
    assert got[("originchats_compressed_broadcasts_total", ())] == \
        before.get(("originchats_compressed_broadcasts_total", ()), 0) + 1
    grown = {side: got[("originchats_compressed_broadcast_bytes_total", (("side", side),))]
             - before.get(("originchats_compressed_broadcast_bytes_total", (("side", side),)), 0)
             for side in ("before", "after")}
    assert grown["before"] > len(BIG) > grown["after"] > 0
