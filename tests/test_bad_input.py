"""Bad input through the real server (README §2, §8; docs/compatibility.md "Transport and framing"):
every malformed request gets its documented or clear error, nothing is stored, the connection stays
up (except for an oversize message: 1009), and other clients see nothing. A bug in a handler closes
that one connection with 1011 (crash barrier) and is logged as `connection_crashed`."""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog.testing
import trio
import trio.testing

from originchats.core import dispatch
from originchats.server.ops import OpRunner
from tests.client import Closed
from tests.test_ws import BINARY, frame


async def stored_messages(client) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    await client.send("messages_get", channel="general")
    return (await client.expect("messages_get"))["messages"]


@pytest.fixture
async def pair(server):  # type: ignore[no-untyped-def]
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    await bob.drain()
    return alice, bob


@pytest.mark.parametrize("raw,val", [
    ("not json", "Invalid JSON"),
    ("{\"cmd\": \"message_new\",", "Invalid JSON"),
    ("", "Invalid JSON"),
    ("[" * 100_000, "Invalid JSON"),  # too deep for the parser
    ("{\"cmd\":\"ping\",\"n\":" + "9" * 5000 + "}", "Invalid JSON"),  # integer too long to convert
    # a lone UTF-16 surrogate can be neither stored nor sent on: refused like invalid JSON
    ("{\"cmd\":\"message_new\",\"channel\":\"general\",\"content\":\"a\\ud800b\"}", "Invalid JSON"),
    ("{\"cmd\":\"ping\",\"listener\":\"\\udfff\"}", "Invalid JSON"),
    ("{\"cmd\":\"message_new\",\"channel\":\"general\",\"content\":\"x\",\"\\ud83d\":1}", "Invalid JSON"),
    ("[{\"cmd\":\"ping\"}]", "Invalid message format: expected a JSON object"),
    ("42", "Invalid message format: expected a JSON object"),
    ("\"message_new\"", "Invalid message format: expected a JSON object"),
    ("null", "Invalid message format: expected a JSON object"),
])
async def test_malformed_frames_get_an_error_without_src(pair, raw, val):
    alice, bob = pair
    await alice.send_raw(raw)
    await alice.expect_error(val, src=None)
    await alice.send("ping", listener="still-up")
    await alice.expect("pong", listener="still-up")
    assert await stored_messages(alice) == []
    await bob.assert_silent()


async def test_missing_cmd_is_unknown_command_none_without_src(pair):
    alice, bob = pair
    await alice.send(None, channel="general", content="x")
    await alice.expect_error("Unknown command: None", src=None)
    await alice.send(None, listener="L")
    await alice.expect_error("Unknown command: None", src=None, listener="L")
    await alice.send_raw('{"cmd": null}')
    await alice.expect_error("Unknown command: None", src=None)
    await bob.assert_silent()


async def test_unknown_cmd_names_itself_in_src(pair):
    alice, bob = pair
    await alice.send("x")
    await alice.expect_error("Unknown command: x", src="x")
    await alice.send("pong", listener="L2")  # answering a heartbeat is an unknown command too
    await alice.expect_error("Unknown command: pong", src="pong", listener="L2")
    await alice.send("register", username="zed", password="pass1234")  # auth commands after auth
    await alice.expect_error("Unknown command: register", src="register")
    await bob.assert_silent()


@pytest.mark.parametrize("cmd", [5, True, ["message_new"], {"a": 1}])
async def test_non_string_cmd_is_a_clear_error(pair, cmd):
    alice, bob = pair
    await alice.send_raw(json.dumps({"cmd": cmd, "listener": "L"}))
    await alice.expect_error("Invalid field 'cmd': expected string", src=None, listener="L")
    await bob.assert_silent()


@pytest.mark.parametrize("cmd,fields,val", [
    ("message_new", {"channel": "general", "content": 5}, "Invalid field 'content': expected string, got number"),
    ("message_new", {"channel": "general", "content": ["x"]}, "Invalid field 'content': expected string, got array"),
    ("message_new", {"channel": 5, "content": "x"}, "Invalid field 'channel': expected string, got number"),
    ("message_new", {"channel": "general", "content": "x", "reply_to": 7},
     "Invalid field 'reply_to': expected string, got number"),
    ("message_new", {"channel": "general", "content": float("nan")},
     "Invalid field 'content': expected string, got number"),
    ("messages_get", {"channel": "general", "start": "0"}, "Invalid field 'start': expected integer, got string"),
    ("messages_get", {"channel": "general", "limit": "5"}, "Invalid field 'limit': expected integer, got string"),
    ("message_edit", {"channel": "general", "id": 5, "content": "x"}, "Invalid field 'id': expected string, got number"),
    ("message_delete", {"channel": "general", "id": [1]}, "Invalid field 'id': expected string, got array"),
    ("messages_around", {"channel": "general", "around": 5}, "Invalid field 'around': expected string, got number"),
    ("status_set", {"status": "online", "text": 5}, "Invalid field 'text': expected string, got number"),
    ("status_get", {"user": {"name": "bob"}}, "Invalid field 'user': expected string, got object"),
    ("rate_limit_status", {"user": 5}, "Invalid field 'user': expected string, got number"),
])
async def test_wrong_field_types_get_an_error_with_src(pair, cmd, fields, val):
    alice, bob = pair
    await alice.send(cmd, listener="L", **fields)
    await alice.expect_error(val, src=cmd, listener="L")
    await alice.send("ping")
    await alice.expect("pong")
    assert await stored_messages(alice) == []
    await bob.assert_silent()


async def test_a_non_string_listener_is_ignored(pair):
    alice, _ = pair
    await alice.send("ping", listener=5)
    assert await alice.recv() == {"cmd": "pong", "val": "pong"}


async def test_bad_input_before_auth(server):
    anon = await server.connect()
    other = await server.user("other")
    await other.drain()
    await anon.send_raw("{{{")
    await anon.expect_error("Invalid JSON", src=None)
    await anon.send("message_new", channel="general", content="sneaky")
    await anon.expect("auth_error", val="Authentication required")
    await anon.send(None, listener="L")
    assert await anon.recv() == {"cmd": "auth_error", "val": "Authentication required"}  # no listener
    await anon.send("nope")
    await anon.expect("auth_error", val="Authentication required")
    await anon.send("login", username=5, password=None)
    await anon.expect("auth_error", val="Username and password required")
    await anon.send_bytes(b"\x00binary")
    await anon.send("ping")
    await anon.expect("auth_error", val="Authentication required")
    assert await stored_messages(other) == []
    await other.assert_silent()


async def test_binary_frames_are_ignored(pair):
    alice, bob = pair
    await alice.send_bytes(b'{"cmd":"message_new","channel":"general","content":"in binary"}')
    await alice.send_bytes(b"\xff" * 10_000)
    await alice.send("ping")
    assert await alice.recv() == {"cmd": "pong", "val": "pong"}  # nothing came before it
    assert await stored_messages(alice) == []
    await bob.assert_silent()


async def test_an_emoji_written_as_a_surrogate_pair_is_fine(pair):
    alice, bob = pair
    await alice.send_raw('{"cmd":"message_new","channel":"general","content":"hi \\ud83d\\ude00"}')
    mine = await alice.expect("message_new")
    assert mine["message"]["content"] == "hi \U0001F600"
    assert (await bob.expect("message_new"))["message"]["content"] == "hi \U0001F600"
    assert [m["content"] for m in await stored_messages(alice)] == ["hi \U0001F600"]


async def test_huge_frame_closes_1009_others_unaffected(pair, server):
    alice, bob = pair
    limit = server.config.limits.max_frame_size
    assert limit == 4 * 1024 * 1024  # the original's (aiohttp's) limit
    prefix = json.dumps({"cmd": "message_new", "channel": "general", "content": ""})[:-2]  # ends with '"'
    exact = prefix + "x" * (limit - len(prefix) - 2) + '"}'
    assert len(exact.encode()) == limit
    await alice.send_raw(exact)  # at the limit: read, and refused by the handler (too long)
    await alice.expect_error("Message too long. Maximum length is 2000 characters", src="message_new")
    await alice.send_raw(exact[:-2] + 'x"}')  # one byte over
    assert await alice.wait_closed() == 1009
    with pytest.raises(Closed):
        await alice.recv()
    await bob.expect("user_disconnect", username=alice.username)
    await bob.send("ping")
    await bob.expect("pong")
    assert await stored_messages(bob) == []


async def test_huge_binary_frame_closes_1009_too(pair, server):
    alice, bob = pair
    await alice.stream.send_all(frame(BINARY, b"\0" * (server.config.limits.max_frame_size + 1), key=bytes(4)))
    assert await alice.wait_closed() == 1009
    await bob.expect("user_disconnect", username=alice.username)


async def test_a_crashing_handler_closes_1011_and_the_server_carries_on(pair, server, monkeypatch):
    alice, bob = pair

    def boom(state, ctx, req):  # type: ignore[no-untyped-def]
        secret = req.get("content")  # a local that must not reach the log
        raise RuntimeError(f"handler bug {len(secret or '')}")

    monkeypatch.setitem(dispatch.HANDLERS, "server_info", boom)
    with structlog.testing.capture_logs() as logs:
        await alice.send("server_info", content="top secret text")
        assert await alice.wait_closed() == 1011
        await bob.expect("user_disconnect", username=alice.username)
    crashed = [e for e in logs if e["event"] == "connection_crashed"]
    assert len(crashed) == 1 and crashed[0]["log_level"] == "error" and crashed[0]["exc_info"]
    # the server keeps serving the others and new connections
    await bob.send("ping")
    await bob.expect("pong")
    carol = await server.user("carol")
    await bob.drain()
    await carol.send("message_new", channel="general", content="after the crash")
    await carol.expect("message_new")
    await bob.expect("message_new")


async def test_a_crash_in_the_shell_while_fetching_closes_1011(pair, server, monkeypatch):
    alice, bob = pair
    original = OpRunner.run

    async def broken(self, op):  # type: ignore[no-untyped-def]
        if type(op).__name__ == "History":
            raise ValueError("reader bug")
        return await original(self, op)

    monkeypatch.setattr(OpRunner, "run", broken)
    await alice.send("messages_get", channel="general")
    assert await alice.wait_closed() == 1011
    await bob.expect("user_disconnect", username=alice.username)
    await bob.send("ping")
    await bob.expect("pong")


async def test_a_flood_of_bad_frames_leaves_everything_as_it_was(pair):
    alice, bob = pair
    for i in range(100):  # limits.max_rejected_per_minute: one more would close the socket
        await alice.send_raw(["nope", "[]", '{"cmd":7}', '{"cmd":"zz"}', '{"x":1}'][i % 5])
    errors = await alice.drain()
    assert len(errors) == 100 and {p["cmd"] for p in errors} == {"error"}
    await alice.send("message_new", channel="general", content="fine")
    await alice.expect("message_new")
    assert (await bob.expect("message_new"))["message"]["content"] == "fine"
    await bob.assert_silent()
    await trio.testing.wait_all_tasks_blocked()


@pytest.mark.parametrize("text,lone", [
    ('{"a":"plain"}', False),
    ('{"a":"\\ud83d\\ude00"}', False),  # a pair is one character
    ('{"a":"\\\\ud800"}', False),  # an escaped backslash, then the letters "ud800"
    ('{"a":"\\ud800"}', True),
    ('{"a":["x", {"\\udc00": 1}]}', True),  # in a key, deep inside
    ('{"a":"\\ude00\\ud83d"}', True),  # a pair in the wrong order is two lone halves
])
def test_lone_surrogate_detection(text, lone):
    from originchats.protocol.codec import Undecodable, decode

    try:
        decode(text)
    except Undecodable as exc:
        assert lone and exc.reason == "lone_surrogate" and exc.val == "Invalid JSON"
    else:
        assert not lone


@pytest.mark.parametrize("text", ['not json \\ud800', '[' * 50_000 + '"\\ud800"' + ']' * 50_000])
def test_unparsable_text_with_a_surrogate_escape_is_invalid_json(text):
    from originchats.protocol.codec import Undecodable, decode

    with pytest.raises(Undecodable) as info:
        decode(text)
    assert info.value.reason == "invalid_json"


def test_a_frame_is_encoded_even_with_a_lone_surrogate_in_it():
    """Defence in depth: a packet built from a value that slipped through (say an outside service's
    answer) is still valid UTF-8 on the wire instead of crashing the broadcast."""
    from originchats.server.ws import encode_text

    frame_bytes = encode_text('{"cmd":"x","v":"a\ud800b"}')
    assert frame_bytes[2:].decode("utf-8") == '{"cmd":"x","v":"a?b"}'
