"""Logs: console lines by default, one JSON object per line with `log.format = "json"`; one event
per connection opened/closed and per rejected command, `writer_batch_committed` at debug level; and
never message content, passwords or tokens (not even in a crash's traceback)."""

from __future__ import annotations

import io
import json
import signal
from typing import Any

import pytest
import structlog
import trio
import trio.testing

from originchats.core import dispatch
from originchats.logs import configure_logging
from tests.test_durability import ServerProcess

PASSWORD = "Pw-S3cret-pass-4711"
CONTENT = "CONTENT-S3cret-hello-0815"


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    yield
    structlog.reset_defaults()


@pytest.fixture
def json_logs(restore_logging):  # type: ignore[no-untyped-def]
    """JSON logs at debug level into a buffer, from before the server starts."""
    buf = io.StringIO()
    configure_logging("debug", "json", stream=buf)
    return buf


def parse(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_console_is_the_default(restore_logging):
    buf = io.StringIO()
    configure_logging(stream=buf)
    structlog.get_logger("t").info("something_happened", n=3)
    structlog.get_logger("t").debug("hidden_at_info")
    line = buf.getvalue()
    assert line.count("\n") == 1
    assert "[info" in line and "something_happened" in line and "n=3" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_json_is_one_object_per_line(restore_logging):
    buf = io.StringIO()
    configure_logging("debug", "json", stream=buf)
    log = structlog.get_logger("t")
    log.debug("first_event", n=1)
    log.warning("second_event", reason="x")
    first, second = parse(buf)
    assert first["event"] == "first_event" and first["level"] == "debug" and first["n"] == 1
    assert second["level"] == "warning" and second["timestamp"].endswith("Z")


def test_level_filters(restore_logging):
    buf = io.StringIO()
    configure_logging("warning", "json", stream=buf)
    structlog.get_logger("t").info("not_shown")
    structlog.get_logger("t").error("shown")
    assert [e["event"] for e in parse(buf)] == ["shown"]


def test_json_tracebacks_carry_no_local_variables(restore_logging):
    buf = io.StringIO()
    configure_logging("info", "json", stream=buf)

    def handler() -> None:
        content = CONTENT  # noqa: F841  (a local, as in any request handler)
        raise RuntimeError("boom")

    try:
        handler()
    except RuntimeError:
        structlog.get_logger("t").exception("connection_crashed")
    (event,) = parse(buf)
    assert event["exception"][0]["exc_type"] == "RuntimeError"
    assert CONTENT not in buf.getvalue()


async def test_connection_and_rejection_events(json_logs, server):
    alice = await server.user("alice")
    anon = await server.connect()
    await anon.send("users_list")  # before auth
    await anon.expect("auth_error")
    await anon.send("login", username="alice", password="wrong-password")
    await anon.expect("auth_error")
    await anon.close()
    await alice.drain()
    await alice.send_raw('{"cmd": 5}')
    await alice.expect("error")
    await alice.send("no_such_command")
    await alice.expect("error")
    await alice.send_raw("not json")
    await alice.expect("error")
    await alice.send("message_new", channel="general", content=5)
    await alice.expect("error")
    await alice.send("ping")
    await alice.expect("pong")
    await alice.close()
    await trio.testing.wait_all_tasks_blocked()
    events = parse(json_logs)
    opened = [e["conn_id"] for e in events if e["event"] == "connection_opened"]
    closed = [e["conn_id"] for e in events if e["event"] == "connection_closed"]
    assert len(opened) == 2 and sorted(opened) == sorted(closed)
    assert all(e.get("peer") for e in events if e["event"].startswith("connection_"))
    rejected = [e for e in events if e["event"] == "command_rejected"]
    assert [e.get("reason") for e in rejected] == [
        "Authentication required", "Invalid password", "cmd_not_a_string", "Unknown command: no_such_command",
        "invalid_json", "Invalid field 'content': expected string, got number"]
    assert all(e.get("conn_id") for e in rejected)
    batches = [e for e in events if e["event"] == "writer_batch_committed"]
    assert batches and all(e["level"] == "debug" and e["n"] >= 1 for e in batches)


async def test_no_batch_events_at_info_level(restore_logging, server):
    buf = io.StringIO()
    configure_logging("info", "json", stream=buf)
    alice = await server.user("alice")
    await alice.send("message_new", channel="general", content="x")
    await alice.expect("message_new")
    events = [e["event"] for e in parse(buf)]
    assert "connection_opened" in events and "writer_batch_committed" not in events


async def test_secrets_never_reach_the_logs(json_logs, server, monkeypatch):
    alice = await server.user("alice", password=PASSWORD)
    bob = await server.user("bob")
    await alice.drain()
    secrets = [PASSWORD, CONTENT, alice.handshake["val"]["validator_key"], alice.ready["validator"]]
    await alice.send("message_new", channel="general", content=CONTENT)
    await alice.expect("message_new")
    await alice.send("message_new", channel="general", content=CONTENT + "x" * 3000)  # rejected: too long
    await alice.expect("error")
    await alice.send_raw('{"cmd":"message_new","channel":"general","content":"' + CONTENT + '\\ud800"}')
    await alice.expect("error")
    relog = await server.connect()
    await relog.send("login", username="alice", password=PASSWORD)
    await relog.expect("auth_success")
    await relog.send("login", username="bob", password=PASSWORD)  # a wrong password is not logged either
    await relog.drain()

    def crash(state, ctx, req):  # type: ignore[no-untyped-def]
        raise RuntimeError("handler bug")

    monkeypatch.setitem(dispatch.HANDLERS, "typing", crash)
    await bob.send("typing", channel="general", content=CONTENT)
    assert await bob.wait_closed() == 1011
    await trio.testing.wait_all_tasks_blocked()
    text = json_logs.getvalue()
    assert "connection_crashed" in text
    assert "S3cret" not in text  # not even a truncated repr of a request in a traceback
    for secret in secrets:
        assert secret not in text


async def test_cli_writes_json_lines_without_secrets(tmp_path):
    async with ServerProcess(tmp_path, level="debug") as srv:
        async with trio.open_nursery() as nursery:
            alice = await srv.user(nursery, "alice", password=PASSWORD)
            await alice.drain()
            await alice.send("message_new", channel="general", content=CONTENT)
            await alice.expect("message_new")
            srv.signal(signal.SIGTERM)
            assert await srv.wait_exit(5) == 0
            assert await alice.wait_closed() == 1001
        events = srv.events()  # json.loads of every line: each one is a JSON object
        names = [e["event"] for e in events]
        for name in ("store_opened", "listening", "connection_opened", "writer_batch_committed",
                     "shutdown_started", "connection_closed", "server_stopped"):
            assert name in names
        raw = srv.log_path.read_text() + srv.stderr()
        for secret in (PASSWORD, CONTENT, alice.handshake["val"]["validator_key"], alice.ready["validator"]):
            assert secret not in raw
