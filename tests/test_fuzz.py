"""Properties: no sequence of frames an authenticated client can send breaks the server, and
whatever a client stores can be read back by everyone.

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

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originchats.core.dispatch import AUTH_HANDLERS, HANDLERS
from originchats.config import NetworkSection, WelcomeSection
from tests.client import Closed, _Threads
from tests.conftest import Server, make_config

# `user_leave` deletes the sender's own account and closes its sockets, `logout` closes the socket:
# allowed ways to leave
COMMANDS = sorted((set(HANDLERS) | set(AUTH_HANDLERS)) - {"user_leave", "logout"})
FIELDS = ["channel", "content", "id", "message_id", "thread_id", "user", "username", "password", "name",
          "status", "text", "emoji", "limit", "start", "around", "above", "below", "reply_to", "ping",
          "roles", "role", "permissions", "updates", "position", "embeds", "data", "duration", "reason",
          "nickname", "url", "listener", "bounds", "order", "type", "description",
          "poll_id", "option_id", "option_ids", "question", "options", "allow_multiselect", "expires_at",
          "duration_hours", "remove", "offset", "query", "pinned"]

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
# FTS5 query syntax, which a search takes as text to find
fts_syntax = st.sampled_from(['"', '""', 'a" OR "b', "NEAR(a b", "x*", "-x", "(", ")", "content:x", "scope : y",
                              "AND", "a AND b OR NOT c", "^x", "{a}: b", "\x00", "a\x00b"])
# a known command with fields it may read: the channel, a text, ids, numbers
known_requests = st.builds(
    lambda cmd, base, extra: {**base, **extra, "cmd": cmd},
    st.sampled_from(COMMANDS) | st.sampled_from(["message_new", "message_edit", "message_delete", "message_get",
                                                 "message_react_add", "messages_get", "typing", "status_set",
                                                 "message_pin", "messages_search", "message_replies"]),
    st.fixed_dictionaries({}, optional={
        "channel": field(st.just("general"), st.sampled_from(["nope", "general "])),
        "content": field(text), "text": field(text), "name": field(text), "status": field(st.sampled_from(
            ["online", "idle", "dnd", "offline", "invisible"])),
        "id": field(st.sampled_from(["", "x", "general"])), "user": field(st.sampled_from(["bob", "alice0", "nobody"])),
        "emoji": field(st.sampled_from(["👍", ":x:", ""])), "limit": field(small_ints), "start": field(small_ints),
        "reply_to": field(st.sampled_from(["x", ""])), "listener": field(text), "thread_id": field(st.just("t")),
        "question": field(text), "options": field(st.lists(text | st.fixed_dictionaries(
            {"text": text}, optional={"id": text, "emoji": text}), max_size=11)),
        "poll_id": field(st.sampled_from(["", "x"])), "message_id": field(st.sampled_from(["", "x"])),
        "option_ids": field(st.lists(st.sampled_from(["0", "1", "x"]), max_size=3)),
        "option_id": field(st.sampled_from(["0", "1", ""])), "remove": field(st.booleans()),
        "allow_multiselect": field(st.booleans()), "duration_hours": field(st.floats() | small_ints),
        "expires_at": field(st.floats() | st.integers()),
        "offset": field(small_ints),
        "query": field(text, fts_syntax), "pinned": field(st.booleans()),
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
    st.builds(lambda q, o, m: {"cmd": "poll_create", "channel": "general", "question": q or "?", "options": o,
                               "allow_multiselect": m}, text, st.lists(text, min_size=2, max_size=4), st.booleans()),
    # unreads and pings: mentions of members, roles and everyone; reads and acknowledgements
    st.builds(lambda c, who: {"cmd": "message_new", "channel": "general", "content": f"{who} {c}"}, text,
              st.sampled_from(["@bob0", "@USR:local_bob0", "@&user", "@&admin", "@&nobody", "@usr:"])),
    st.builds(lambda m: {"cmd": "unreads_ack", "channel": "general", **m},
              st.fixed_dictionaries({}, optional={"message_id": text})),
    st.just({"cmd": "unreads_get"}),
    st.just({"cmd": "unreads_count", "channel": "general"}),
    st.builds(lambda n, o: {"cmd": "pings_get", "limit": n, "offset": o}, small_ints, small_ints),
    st.builds(lambda q: {"cmd": "messages_search", "channel": "general", "query": q}, text | fts_syntax),
    st.builds(lambda i, p: {"cmd": "message_pin", "channel": "general", "id": i, "pinned": p},
              st.sampled_from(["x", ""]), st.booleans()),
    st.just({"cmd": "messages_pinned", "channel": "general"}),
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


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    """100 connections from one address within seconds: no per-address rate limit. Each new user is
    welcomed (`[welcome]`, on as shipped), so the examples run among those messages too."""
    return make_config(tmp_path, network=NetworkSection(new_connections_per_second=0), welcome=WelcomeSection())


async def run_example(server: Server, n: int, frames_to_send: list[tuple[str, Any]], sender: Any = None) -> None:
    """`sender`: who sends the frames (a new member by default)."""
    alice = sender if sender is not None else await server.user(f"alice{n}")
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


# ---- store, then read back --------------------------------------------------------------------
# Requests that store what a client sends, mostly plausible (so that they are accepted), with
# random values in every free-form place: embed keys known and unknown at every level, channel
# keys, role permission objects and role data, texts. Whatever the server accepts, every reader
# must then answer the owner and a member (tests/readers.py).

# JSON text the server decodes (a lone surrogate is refused as Invalid JSON before anything is stored)
clean_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
stored_text = st.text(max_size=40) | clean_text
key_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
deep_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | clean_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key_text, inner, max_size=3), max_leaves=40)
urls = st.sampled_from(["https://x.example/a.png", "http://y"]) | st.builds(lambda t: "https://x.example/" + t, stored_text) | stored_text
unknown = st.dictionaries(key_text, deep_values, max_size=2)


def obj(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object of the schema, plus (sometimes) unknown keys."""
    return st.builds(lambda extra, known: {**extra, **known}, unknown,
                     st.fixed_dictionaries(required, optional=optional))


embeds = st.lists(obj({}, {
    "type": field(st.sampled_from(["rich", "link", "image", "video", "article", "poll"])),
    "title": field(stored_text), "description": field(stored_text), "url": field(urls), "timestamp": field(stored_text),
    "color": field(st.integers(0, 0xFFFFFF) | st.sampled_from(["12", " 7 "])),
    "author": field(obj({"name": stored_text}, {"url": urls, "icon_url": urls})),
    "footer": field(obj({"text": stored_text}, {"icon_url": urls})),
    "image": field(obj({"url": urls}, {"width": st.integers(), "height": small_ints})),
    "thumbnail": field(obj({"url": urls}, {"width": small_ints})),
    "fields": field(st.lists(obj({"name": stored_text, "value": stored_text}, {"inline": st.booleans() | st.just("yes")}),
                             max_size=3)),
    "poll": field(obj({"question": stored_text, "options": st.lists(
        obj({"id": st.text(min_size=1, max_size=5), "text": stored_text}, {"emoji": stored_text}), min_size=2, max_size=3)},
        {"allow_multiselect": st.booleans(), "expires_at": st.floats() | st.integers()})),
}), min_size=1, max_size=3)
# channel keys other than those that would rename general or take its history away
channel_keys = st.sampled_from(["wallpaper", "icon", "description", "display_name", "size", "id"]) | key_text.filter(
    lambda k: k not in ("name", "type", "permissions"))
storing = st.one_of(
    st.builds(lambda c, e: {"cmd": "message_new", "channel": "general", "content": c or "x", "embeds": e}, stored_text, embeds),
    # pings everyone: read back through every member's pings_get too
    st.builds(lambda c, e: {"cmd": "message_new", "channel": "general", "content": "@&user " + c, "embeds": e},
              stored_text, embeds),
    st.builds(lambda c, e: {"cmd": "message_edit", "channel": "general", "id": "$last", "content": c or "x",
                            "embeds": e}, stored_text, embeds),
    st.builds(lambda u: {"cmd": "channel_update", "current_name": "general", "updates": u or {"icon": "i"}},
              st.dictionaries(channel_keys, deep_values, max_size=3)),
    st.builds(lambda n, p, extra: {**extra, "cmd": "channel_create", "name": n, "type": "text", "permissions": p},
              stored_text, st.dictionaries(key_text, st.lists(stored_text, max_size=2), max_size=2) | deep_values, unknown),
    st.builds(lambda n, p, d: {"cmd": "role_create", "name": n, "permissions": p, "description": d, "color": d},
              st.sampled_from(["fuzzrole"]) | stored_text,
              st.dictionaries(key_text, deep_values, max_size=3) | st.lists(stored_text, max_size=3), stored_text),
    st.builds(lambda data: {"cmd": "role_set", "name": "fuzzrole", "data": data},
              st.dictionaries(st.sampled_from(["description", "color", "category", "permissions", "hoisted"]) | key_text,
                              deep_values, min_size=1, max_size=3)),
    st.builds(lambda e: {"cmd": "message_react_add", "channel": "general", "id": "$last", "emoji": e}, stored_text),
    st.just({"cmd": "message_pin", "channel": "general", "id": "$last"}),
    st.builds(lambda s, t: {"cmd": "status_set", "status": s, "text": t}, statuses, stored_text),
    st.builds(lambda n: {"cmd": "nickname_update", "nickname": n}, stored_text | deep_values),
    st.builds(lambda u: {"cmd": "pfp_set", "url": u}, urls),
    st.builds(lambda n, i: {"cmd": "server_update", "name": n, "icon": i}, stored_text, urls),
    st.builds(lambda q, o, m, h: {"cmd": "poll_create", "channel": "general", "question": q or "?", "options": o,
                                  "allow_multiselect": m, "duration_hours": h},
              stored_text, st.lists(stored_text | obj({"text": stored_text}, {"id": stored_text, "emoji": stored_text}),
                                    min_size=2, max_size=10), st.booleans(), st.none() | st.floats(0.001, 1000)),
    st.builds(lambda o, r: {"cmd": "poll_vote", "poll_id": "$poll", "option_ids": o, "remove": r},
              st.lists(st.sampled_from(["0", "1", "2"]) | stored_text, min_size=1, max_size=3), st.booleans()),
    st.just({"cmd": "poll_end", "poll_id": "$poll"}),
)


async def run_store_then_read(server: Server, n: int, requests: list[dict[str, Any]]) -> None:
    from tests.readers import read_everything

    owner = await server.owner(f"own{n}")
    member = await server.user(f"mem{n}")
    await owner.send("message_new", channel="general", content="first", listener="first")
    while (packet := await owner.recv()).get("listener") != "first":
        pass
    last = packet["message"]["id"]
    await owner.send("poll_create", channel="general", question="q", options=["a", "b", "c"], listener="poll")
    while (packet := await owner.recv()).get("listener") != "poll":
        pass
    placeholders = {"$last": last, "$poll": packet["poll_id"]}
    for request in requests:
        request = {k: placeholders.get(v, v) if isinstance(v, str) else v for k, v in request.items()}
        await owner.send_raw(json.dumps(request))
    await read_everything(owner, owner=True)
    await read_everything(member, owner=False)
    await owner.close()
    await member.close()


async def test_whatever_is_stored_reads_back(server):
    examples = iter(range(10**6))

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(storing, min_size=1, max_size=8))
    def check(requests: list[dict[str, Any]]) -> None:
        trio.from_thread.run(run_store_then_read, server, next(examples), requests)

    await _Threads.original(check)
