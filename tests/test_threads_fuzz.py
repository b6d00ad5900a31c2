"""The fuzz properties of tests/test_fuzz.py, aimed at threads: random thread commands and message
commands with `thread_id` (real, unknown and path-like ids, every JSON type in every field) never
break the server or reach a bystander except as a broadcast; and whatever thread data a client
stores reads back for everyone (thread_get, thread_messages, messages_get, channels_get)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originchats.config import NetworkSection
from tests.client import _Threads, until_reply
from tests.conftest import Server
from tests.test_fuzz import field, run_example, small_ints, stored_text, text, values
from tests.threadworld import FORUM, SEEDED, thread_config

# "$thread": the thread the example starts with; "$message": its first message
odd_thread_ids = st.sampled_from([SEEDED, "../users", "../../config", "nope", "", SEEDED.upper()])
thread_ids = st.one_of(st.just("$thread"), st.just("$thread"), st.just("$thread"), odd_thread_ids, values)
message_ids = st.sampled_from(["$message", "$message", "s0", "h1", "x"])
channels = st.sampled_from([FORUM, "ideas", "general", "history"])
maybe = st.none  # a field sent as null


def request(cmd: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`cmd` with a thread id and its own fields (mostly plausible), plus a random field or two."""
    return st.builds(lambda known, extra: {**known, **extra, "cmd": cmd},
                     st.fixed_dictionaries({"thread_id": thread_ids, **fields}),
                     st.dictionaries(st.sampled_from(["thread_id", "channel", "name", "start", "listener"]), values,
                                     max_size=1))


thread_requests = st.one_of(
    request("thread_create", channel=field(channels), name=field(text)),
    request("thread_get"),
    request("thread_messages", start=field(small_ints | message_ids), limit=field(small_ints)),
    request("thread_update", name=maybe() | field(text), locked=values, archived=values),
    request("thread_join"),
    request("thread_leave"),
    request("thread_delete"),
    request("message_new", content=field(text), reply_to=maybe() | field(message_ids), channel=maybe() | channels),
    request("message_edit", id=field(message_ids), content=field(text)),
    request("message_delete", id=field(message_ids)),
    request("message_get", id=field(message_ids)),
    request("messages_get", start=field(small_ints), limit=field(small_ints)),
    request("messages_around", around=field(message_ids),
            bounds=field(st.fixed_dictionaries({"above": small_ints, "below": small_ints}))),
    request("message_react_add", id=field(message_ids), emoji=field(st.sampled_from(["👍", ""]))),
    request("message_react_remove", id=field(message_ids), emoji=field(st.sampled_from(["👍", ""]))),
    request("typing"),
)
frames = st.lists(thread_requests, min_size=3, max_size=20)


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    return thread_config(tmp_path, network=NetworkSection(new_connections_per_second=0))


async def run_thread_example(server: Server, n: int, requests: list[dict[str, Any]]) -> None:
    """An owner (past every permission check) sends the requests about a thread of its own; then
    tests/test_fuzz.py's checks: the sender still answers, a member saw only broadcasts."""
    owner = await server.owner(f"fz{n}")
    await owner.send("thread_create", channel=FORUM, name=f"fuzz {n}", listener="t")
    _, made = await until_reply(owner, "t")
    tid = made["thread"]["id"]
    await owner.send("message_new", thread_id=tid, content="first", listener="m")
    _, first = await until_reply(owner, "m")
    mid = first["message"]["id"]
    swap = {"$thread": tid, "$message": mid}
    frames_to_send = [("json", {k: swap.get(v, v) if isinstance(v, str) else v for k, v in r.items()})
                      for r in requests]
    await run_example(server, n, frames_to_send, sender=owner)


async def test_random_thread_requests_never_break_the_server(server):
    examples = iter(range(10**6))

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(frames)
    def check(requests: list[dict[str, Any]]) -> None:
        trio.from_thread.run(run_thread_example, server, next(examples), requests)

    await _Threads.original(check)


# ---- store, then read back --------------------------------------------------------------------

storing = st.one_of(
    st.builds(lambda n: {"cmd": "thread_create", "channel": FORUM, "name": n or "x"}, stored_text),
    st.builds(lambda n, lo, ar: {"cmd": "thread_update", "thread_id": SEEDED, "name": n or "x", "locked": lo,
                                 "archived": ar}, stored_text, st.booleans(), st.booleans()),
    st.builds(lambda c: {"cmd": "message_new", "thread_id": SEEDED, "content": c or "x"}, stored_text),
    st.builds(lambda c: {"cmd": "message_edit", "thread_id": SEEDED, "id": "$last", "content": c or "x"}, stored_text),
    st.builds(lambda e: {"cmd": "message_react_add", "thread_id": SEEDED, "id": "$last", "emoji": e}, stored_text),
    st.just({"cmd": "thread_join", "thread_id": SEEDED}),
    st.just({"cmd": "thread_leave", "thread_id": SEEDED}),
)


async def read_threads(client: Any) -> None:
    """Every thread reader answers without an error, and the client stays connected."""
    await client.drain()
    await client.send("channels_get", listener="list")
    _, listed = await until_reply(client, "list")
    forum = next(ch for ch in listed["val"] if ch["name"] == FORUM)
    readers: list[dict[str, Any]] = []
    for thread in forum["threads"]:
        tid = thread["id"]
        readers += [{"cmd": "thread_get", "thread_id": tid}, {"cmd": "thread_messages", "thread_id": tid, "limit": 200},
                    {"cmd": "messages_get", "thread_id": tid, "limit": 200}]
        if thread["last_message_id"]:
            readers += [{"cmd": "message_get", "thread_id": tid, "id": thread["last_message_id"]},
                        {"cmd": "messages_around", "thread_id": tid, "around": thread["last_message_id"]}]
    for i, request in enumerate(readers):
        await client.send(listener=f"r{i}", **request)
        _, reply = await until_reply(client, f"r{i}")
        assert reply["cmd"] != "error", (request, reply)


async def run_store_then_read(server: Server, n: int, requests: list[dict[str, Any]]) -> None:
    owner = await server.owner(f"own{n}")
    member = await server.user(f"mem{n}")
    await owner.send("thread_update", thread_id=SEEDED, locked=False)  # an earlier example may have locked it
    await owner.send("message_new", thread_id=SEEDED, content="first", listener="first")
    while (packet := await owner.recv()).get("listener") != "first":
        pass
    last = packet["message"]["id"]
    for request in requests:
        await owner.send_raw(json.dumps({k: last if v == "$last" else v for k, v in request.items()}))
    await read_threads(owner)
    await read_threads(member)
    await owner.close()
    await member.close()


async def test_whatever_is_stored_in_threads_reads_back(server):
    examples = iter(range(10**6))

    @settings(max_examples=20, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(storing, min_size=1, max_size=8))
    def check(requests: list[dict[str, Any]]) -> None:
        trio.from_thread.run(run_store_then_read, server, next(examples), requests)

    await _Threads.original(check)
