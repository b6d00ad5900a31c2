"""Property: no sequence of frames an authenticated client can send breaks the server.

Random text, random JSON objects (a known or random `cmd`, known or random field names, values of
every JSON type including huge integers, NaN and lone surrogates) and binary frames go to a live
server. Afterwards the sender is still connected and answers `ping` (no frame was closed with 1011
by a crash), and a second client is unaffected: its `ping` works, and all it received were
broadcasts (no error, no reply meant for the sender).

All examples share the test's server (state piles up, as on a real server); each uses new users.
"""

from __future__ import annotations

import json
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originchats.core.registry import AUTH_HANDLERS, HANDLERS
from tests.client import Closed, _Threads
from tests.conftest import Server

# `user_leave` deletes the sender's own account and closes its sockets, `logout` closes the socket:
# allowed ways to leave
COMMANDS = sorted((set(HANDLERS) | set(AUTH_HANDLERS)) - {"user_leave", "logout"})
FIELDS = ["channel", "content", "id", "message_id", "thread_id", "user", "username", "password", "name",
          "status", "text", "emoji", "limit", "start", "around", "above", "below", "reply_to", "ping",
          "roles", "role", "permissions", "updates", "position", "embeds", "data", "duration", "reason",
          "nickname", "url", "listener", "bounds", "order", "type", "description"]

any_text = st.text(st.characters(exclude_categories=[]), max_size=30)  # lone surrogates included
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), any_text,
    st.sampled_from(["general", "", " ", "owner", "user", "USR:local_bob", "bob", "invisible", "👍"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
                      max_leaves=12)


def field(*plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values (so requests get past validation, into the deeper code), sometimes anything."""
    return st.one_of(*plausible, *plausible, values)


small_ints = st.integers(min_value=-3, max_value=250)
lone_surrogates = st.sampled_from(["\ud83d", "x\udc00y", "\ud800\ud800", "ok \udfff"])
text = st.text(max_size=40) | any_text | lone_surrogates
# a known command with fields it may read: the channel, a text, ids, numbers
known_requests = st.builds(
    lambda cmd, base, extra: {**base, **extra, "cmd": cmd},
    st.sampled_from(COMMANDS) | st.sampled_from(["message_new", "message_edit", "message_delete", "message_get",
                                                 "message_react_add", "messages_get", "typing", "status_set"]),
    st.fixed_dictionaries({}, optional={
        "channel": field(st.just("general"), st.sampled_from(["nope", "general "])),
        "content": field(text), "text": field(text), "name": field(text), "status": field(st.sampled_from(
            ["online", "idle", "dnd", "offline", "invisible"])),
        "id": field(st.sampled_from(["", "x", "general"])), "user": field(st.sampled_from(["bob", "alice0", "nobody"])),
        "emoji": field(st.sampled_from(["👍", ":x:", ""])), "limit": field(small_ints), "start": field(small_ints),
        "reply_to": field(st.sampled_from(["x", ""])), "listener": field(text), "thread_id": field(st.just("t")),
    }),
    st.dictionaries(st.sampled_from(FIELDS) | any_text, values, max_size=2),
)
# well-formed requests that change state (stored, broadcast), with random text in them
statuses = st.sampled_from(["online", "idle", "dnd", "offline", "invisible"])
valid_requests = st.one_of(
    st.builds(lambda c: {"cmd": "message_new", "channel": "general", "content": c}, text),
    st.builds(lambda c, r: {"cmd": "message_new", "channel": "general", "content": c, "reply_to": r, "ping": False},
              text, text),
    st.builds(lambda s, t: {"cmd": "status_set", "status": s, "text": t}, statuses, text | st.none()),
    st.builds(lambda n: {"cmd": "pfp_set", "url": n}, text),
    st.just({"cmd": "typing", "channel": "general"}),
    st.just({"cmd": "messages_get", "channel": "general", "limit": 5}),
)
# anything shaped like an object: a random or missing `cmd`, random fields
odd_requests = st.builds(
    lambda cmd, fields: {**fields, "cmd": cmd} if cmd is not ... else fields,
    st.one_of(any_text, scalars, st.just(...)),
    st.dictionaries(st.sampled_from(FIELDS) | any_text, values, max_size=6),
)
frames = st.one_of(
    st.tuples(st.just("json"), valid_requests),
    st.tuples(st.just("json"), valid_requests),
    st.tuples(st.just("json"), known_requests),
    st.tuples(st.just("json"), known_requests),
    st.tuples(st.just("json"), known_requests),
    st.tuples(st.just("json"), odd_requests),
    st.tuples(st.just("text"), st.text(max_size=200)),  # what a WebSocket text frame can carry
    st.tuples(st.just("binary"), st.binary(max_size=200)),
)


async def run_example(server: Server, n: int, frames_to_send: list[tuple[str, Any]]) -> None:
    alice = await server.user(f"alice{n}")
    bob = await server.user(f"bob{n}")
    await alice.drain()
    await bob.drain()
    for kind, payload in frames_to_send:
        if kind == "json":
            await alice.send_raw(json.dumps(payload))
        elif kind == "text":
            await alice.send_raw(payload)
        else:
            await alice.send_bytes(payload)
    # the sender still answers, in order, after everything it sent
    await alice.send("ping", listener="fuzz-end")
    try:
        while (packet := await alice.recv()) != {"cmd": "pong", "val": "pong", "listener": "fuzz-end"}:
            assert isinstance(packet.get("cmd"), str), packet
    except Closed as exc:
        raise AssertionError(f"the sender was disconnected (code {exc.code})") from None
    # the bystander got only broadcasts, and still works
    await bob.send("ping", listener="bob-end")
    while (packet := await bob.recv()) != {"cmd": "pong", "val": "pong", "listener": "bob-end"}:
        assert packet.get("cmd") not in ("error", "auth_error", "rate_limit"), packet
        assert "listener" not in packet, packet
    await alice.close()
    await bob.close()


async def test_random_frames_never_break_the_server(server):
    """Hypothesis drives the examples from a worker thread; each example runs on the event loop
    (`trio.from_thread.run`) against the one server of this test, with a fresh pair of users."""
    examples = iter(range(10**6))

    @settings(max_examples=50, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(frames, min_size=4, max_size=25))
    def check(frames_to_send: list[tuple[str, Any]]) -> None:
        trio.from_thread.run(run_example, server, next(examples), frames_to_send)

    # a test-side thread: not one of the server's worker threads that `settle()` waits for
    await _Threads.original(check)
