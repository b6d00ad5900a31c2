"""What clients store can always be read back (issue 14, defects 2 and 3).

Every hostile input is sent through the real server, then read back through every reader, by its
author and by a bystander, before and after a restart: no read may fail, close a socket, or send
more than a socket may have queued. Embeds keep only their schema's keys; every stored string has
a length limit; free-form JSON (channel keys, role permission objects, the audit log's copy of a
request) nests at most `limits.json_depth` levels; a message, a channel and a role each have a
byte budget, and the largest history page of the largest messages fits the outgoing cap.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from originchats.config import MESSAGE_BYTES_MAX, LimitsSection
from originchats.core.budget import message_size
from originchats.core.handlers.message_rules import AROUND_CAP, HISTORY_CAP
from originchats.core.jsonsize import Unstorable, json_size
from originchats.core.model import Message
from originchats.server import ws as ws_mod
from tests.client import Client, until_reply
from tests.readers import read_back



def deep(n: int) -> Any:
    value: Any = []
    for _ in range(n):
        value = [value]
    return value


NESTED = "\x00nested"  # stands for lists nested as deep as the server accepts there
_deepest: list[int] = []


@pytest.fixture(autouse=True)
def _measure_depth_per_server() -> None:
    """The depth is measured again for each test's server: a core behind gateways decodes at
    another stack depth than one process does (both topologies run in the same test process)."""
    _deepest.clear()


async def deepest(client: Client) -> int:
    """The deepest nesting of a packet the server's JSON decoder accepts (Python's recursion limit
    minus the stack in use, so it is measured: a ping carrying n levels, bisected)."""
    if not _deepest:
        low, high = 100, 1200
        while low < high:
            mid = (low + high + 1) // 2
            await client.send_raw('{"cmd":"ping","listener":"probe","x":' + "[" * (mid - 1) + "]" * (mid - 1) + "}")
            while True:  # skip the broadcasts of other tests' clients
                packet = await client.recv()
                if packet.get("listener") == "probe" or packet.get("val") == "Invalid JSON":
                    break
            if packet.get("listener") == "probe":
                low = mid
            else:
                high = mid - 1
        assert low > 500
        _deepest.append(low)
    return _deepest[0]


def level_of(value: Any, level: int = 1) -> int | None:
    """How many arrays/objects enclose the NESTED placeholder in `value`."""
    if value == NESTED:
        return level - 1
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        found = level_of(child, level + 1)
        if found is not None:
            return found
    return None


async def send(client: Client, cmd: str, **fields: Any) -> None:
    """`fields` with NESTED replaced by lists nested as deep as the server still decodes there."""
    packet = {"cmd": cmd, **fields}
    text = json.dumps(packet)
    level = level_of(packet)
    if level is not None:
        n = await deepest(client) - level
        text = text.replace(json.dumps(NESTED), "[" * n + "]" * n)
    await client.send_raw(text)


def encoded_size(packet: dict[str, Any]) -> int:
    """Bytes of the packet as the server encodes it (compact, UTF-8)."""
    return len(json.dumps(packet, separators=(",", ":"), ensure_ascii=False).encode())


# ---- hostile inputs ---------------------------------------------------------------------------

HOSTILE: list[tuple[str, dict[str, Any]]] = [
    # defect 2: an unknown embed key holding a deep list, at each level of the schema
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"title": "t", "x": NESTED}]}),
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"author": {"name": "a", "x": NESTED}}]}),
    ("message_new", {"channel": "general", "content": "x",
                     "embeds": [{"fields": [{"name": "n", "value": "v", "x": NESTED}]}]}),
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"type": "poll", "poll": {
        "question": "q", "options": [{"id": "a", "text": "a", "x": NESTED}, {"id": "b", "text": "b"}]}}]}),
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"title": NESTED}]}),
    # defect 3: strings the old validator did not bound
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"url": "https://x/" + "a" * 100_000}]}),
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"timestamp": "t" * 100_000}]}),
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"color": " " * 100_000 + "1"}]}),
    ("message_new", {"channel": "general", "content": "x",
                     "embeds": [{"image": {"url": "https://x/i.png", "width": 10**4000}}]}),
    ("message_new", {"channel": "general", "content": "x", "embeds": [{"type": "poll", "poll": {
        "question": "q", "options": [{"id": "a", "text": "a"}, {"id": "b", "text": "b"}],
        "expires_at": math.nan}}]}),
    # channels: extra keys are stored as sent, and `updates` goes to the audit log as sent
    ("channel_update", {"current_name": "general", "updates": {"wallpaper": NESTED}}),
    ("channel_update", {"current_name": "general", "updates": {"id": NESTED}}),
    ("channel_update", {"current_name": "general", "updates": {"wallpaper": math.inf}}),
    ("channel_update", {"current_name": "general", "updates": {"icon": "i" * 1_000_000}}),
    ("channel_update", {"current_name": "general", "updates": {"description": "d" * 1_000_000}}),
    ("channel_create", {"name": "wide", "type": "text", "permissions": {"view": ["user"] * 200_000}}),
    # roles: the permission object is stored as sent, `data` is audit-logged as sent
    ("role_create", {"name": "deep", "permissions": {"mention_roles": True, "x": NESTED}}),
    ("role_create", {"name": "wide", "description": "d" * 1_000_000}),
    ("role_set", {"name": "user", "data": {"x": NESTED}}),
    ("role_update", {"name": "user", "permissions": {"mention_roles": [NESTED]}}),
    ("server_update", {"name": "n" * 1_000_000}),
    ("status_set", {"status": "online", "text": "t" * 1_000_000}),
    ("nickname_update", {"nickname": NESTED}),
    ("nickname_update", {"nickname": "n" * 1_000_000}),
    ("pfp_set", {"url": "https://x/" + "p" * 1_000_000}),
]


@pytest.mark.parametrize("cmd,fields", HOSTILE, ids=[f"{i}-{c}" for i, (c, _) in enumerate(HOSTILE)])
async def test_hostile_input_is_refused_or_stored_readably(server, cmd, fields):
    boss = await server.owner("boss")
    bob = await server.user("bob")
    await boss.send("message_new", channel="general", content="before")  # history has a message
    await send(boss, cmd, listener="hostile", **fields)
    _, reply = await until_reply(boss, "hostile")
    assert reply["cmd"] in (cmd, "error", "status_get"), reply  # status_set answers with status_get
    await read_back(server)
    assert bob.close_code is None
    await server.restart()
    await read_back(server)


async def test_an_unknown_embed_key_nested_deep_is_dropped_and_the_channel_stays_readable(server):
    """Defect 2: this message used to close every reader of the channel with 1011."""
    alice = await server.user("alice")
    bob = await server.user("bob")
    await send(alice, "message_new", channel="general", content="x", listener="p",
               embeds=[{"title": "t", "x": NESTED}])
    _, reply = await until_reply(alice, "p")
    assert reply["message"]["embeds"] == [{"title": "t"}]
    await bob.drain()
    await bob.send("messages_get", channel="general", listener="h")
    _, page = await until_reply(bob, "h")
    assert page["messages"][-1]["embeds"] == [{"title": "t"}]


# ---- defect 3: size ---------------------------------------------------------------------------


async def test_embed_urls_are_bounded_so_history_pages_stay_under_the_outgoing_cap(server):
    """Defect 3: five posts of ~3.9 MB embed URLs made every `messages_get` 20 MB, past the 16 MiB a
    socket may have queued, and every reader was dropped as too slow."""
    alice = await server.user("alice")
    reader = await server.user("reader")
    url = "https://example.com/" + "a" * (3_900_000)
    for i in range(5):
        await alice.send("message_new", channel="general", content=f"big {i}", listener="p",
                         embeds=[{"title": "t", "image": {"url": url}}])
        _, reply = await until_reply(alice, "p")
        assert reply == {"cmd": "error", "src": "message_new", "listener": "p", "val":
                         "Embed 0: 1 validation error for Embed\nimage.url\n  String should have at most 2048 characters"}
    await reader.drain()
    await reader.send("messages_get", channel="general", limit=100, listener="h")
    _, page = await until_reply(reader, "h")
    assert page["cmd"] == "messages_get"
    assert reader.close_code is None


@pytest.mark.parametrize("key", ["url", "author.url", "author.icon_url", "footer.icon_url", "thumbnail.url"])
async def test_every_embed_url_has_the_configured_limit(server, key):
    alice = await server.user("alice")
    embed: dict[str, Any] = {"title": "t"}
    outer, _, inner = key.partition(".")
    required = {"author": {"name": "a"}, "footer": {"text": "f"}}.get(outer, {})
    ok, too_long = "https://x/" + "u" * 2038, "https://x/" + "u" * 2039  # 2048 and 2049 characters
    for url, accepted in ((ok, True), (too_long, False)):
        embed = {"title": "t", outer: {**required, inner: url}} if inner else {"title": "t", outer: url}
        await alice.send("message_new", channel="general", content="x", embeds=[embed], listener="p")
        _, reply = await until_reply(alice, "p")
        if accepted:
            assert reply["cmd"] == "message_new", reply
        else:
            assert reply["val"] == f"Embed 0: 1 validation error for Embed\n{key}\n  String should have at most 2048 characters"


def largest_message(limit: int, i: int) -> dict[str, Any]:
    """A message_new request whose message measures as close to `limit` bytes as possible: control
    characters (6 bytes each as JSON) in the content and in embed descriptions."""
    content = f"{i}" + "\x01" * 1990

    def embeds(n: int) -> list[dict[str, Any]]:
        return [{"title": "\x01" * 256, "description": "\x02" * n}]

    def size(n: int) -> int:
        m = Message(id="0" * 36, channel_id="", user_id="", content=content, timestamp=1.7e9 + 0.123456,
                    embeds=embeds(n))
        return message_size(m)

    low, high = 0, 4096
    while low < high:  # the longest last description that fits
        mid = (low + high + 1) // 2
        if size(mid) <= limit:
            low = mid
        else:
            high = mid - 1
    assert limit - 16 <= size(low) <= limit
    return {"channel": "general", "content": content, "embeds": embeds(low)}


def test_the_largest_page_of_the_largest_messages_fits_the_outgoing_cap():
    """The arithmetic behind `MESSAGE_BYTES_MAX`: a page of messages_around (200 + 1 + 200) of
    messages at the largest budget a configuration may set, plus the envelope (a 100-character
    channel name), leaves room under the per-socket cap for what else is queued."""
    assert LimitsSection().message_bytes <= MESSAGE_BYTES_MAX
    n = max(HISTORY_CAP, 2 * AROUND_CAP + 1)
    envelope = 200 + 6 * 100
    assert n * (MESSAGE_BYTES_MAX + 1) + envelope <= 0.8 * ws_mod.MAX_OUTBOX_BYTES


async def test_a_channel_full_of_the_largest_messages_reads_back_in_the_largest_pages(server):
    alice = await server.user("alice")
    reader = await server.user("reader")
    limit = server.config.limits.message_bytes
    n = 2 * AROUND_CAP + 1
    for i in range(n):
        await alice.send("message_new", listener=f"p{i}", **largest_message(limit, i))
    ids = []
    for i in range(n):
        _, reply = await until_reply(alice, f"p{i}")
        assert reply["cmd"] == "message_new", reply
        ids.append(reply["message"]["id"])
    one_more = largest_message(limit + 16, n)  # a few bytes over: refused
    await alice.send("message_new", listener="over", **one_more)
    _, reply = await until_reply(alice, "over")
    assert reply["val"] == (f"Message too large. Maximum size is {limit} bytes (content, embeds and reactions together)")
    await reader.drain()
    await reader.send("messages_get", channel="general", limit=HISTORY_CAP, listener="h")
    _, page = await until_reply(reader, "h")
    assert len(page["messages"]) == HISTORY_CAP
    assert encoded_size(page) <= HISTORY_CAP * (limit + 1) + 800
    await reader.send("messages_around", channel="general", around=ids[AROUND_CAP],  # 200 older, 200 newer
                      bounds={"above": AROUND_CAP, "below": AROUND_CAP}, listener="a")
    _, around = await until_reply(reader, "a")
    assert len(around["messages"]) == n
    size = encoded_size(around)
    # each message measures within 16 bytes of the budget; as sent, its names are shorter than 64
    # bytes and it has no reply_to: a few hundred bytes less
    assert n * (limit - 400) < size <= n * (limit + 1) + 800 < ws_mod.MAX_OUTBOX_BYTES
    assert reader.close_code is None


# ---- the measurement behind the budgets -------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(json_values)
def test_json_size_is_the_size_the_server_sends(value):
    assert json_size(value, max_depth=100) == encoded_size({"v": value}) - len('{"v":}')


def test_json_size_refuses_depth_and_what_json_cannot_carry():
    assert json_size(deep(7), max_depth=8) == 16
    for value, why in ((deep(8), "depth"), (deep(5000), "depth"), ([math.nan], "type"), ({1: 2}, "type"),
                       ("x" * 100, "size")):
        with pytest.raises(Unstorable) as info:
            json_size(value, max_depth=8, limit=50)
        assert info.value.why == why


def test_message_size_bounds_the_wire_form_with_names_up_to_64_bytes():
    from originchats.core.state import ServerState
    from originchats.core.views import message_wire
    from originchats.core.model import User

    long_name = "USR:local_" + "n" * 54  # 64 bytes
    users = {f"u{i}": User(id=f"u{i}", username=long_name) for i in range(3)}
    state = ServerState(users=users)
    m = Message(id="1" * 36, channel_id="c", user_id="u0", content="hi\n\"", timestamp=1.5, reply_to_id="2" * 36,
                reply_to_user="u1", ping=True, embeds=[{"title": "t"}], edited=True,
                reactions=(("👍", ("u0", "u1")), ("x", ("u2",))))
    assert encoded_size(message_wire(state, m)) <= message_size(m) <= encoded_size(message_wire(state, m)) + 40
    for content, ts, reply, ping in (("", 0.0, None, None), ("a\n\"\\\x01é😀", 1.7e9 + 0.123456789, "2" * 36, False),
                                     ("x" * 2000, 12.5, None, True)):  # plain messages: measured without a walk
        plain = Message(id="1" * 36, channel_id="c", user_id="u0", content=content, timestamp=ts, reply_to_id=reply,
                        reply_to_user="u1" if reply else None, ping=ping, edited=True, pinned=True)
        wire = encoded_size(message_wire(state, plain))
        assert wire <= message_size(plain) <= wire + (100 if reply else 200)
