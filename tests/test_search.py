"""messages_search and message_replies through the protocol (extended/reactions_pins_replies.md,
"Search", "Replies"): shapes, the case-insensitive substring the original matched, FTS5 syntax taken
as text, `limits.search_results`, the bounded scan of short queries, visibility, and edits and
deletes reaching the index. Each search test runs twice: with the messages in the index
(`storage.search_batch = 1`: each commit indexes what it wrote) and with them waiting for it (the
default 256 is not reached). The index itself is tested in tests/test_search_index.py."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from originchats.config import LimitsSection, StorageSection
from originchats.datadir import db_path
from originchats.store import grams, search_index
from tests.msgworld import LOCAL, channel_id, msg, online, post, stored_rows, world_config

# FTS5 query syntax, written into messages so that a search for it must find it as text
SYNTAX = ['say "hi"', 'NEAR(a b)', 'pre*fix', '-minus', 'this AND that', 'this OR that', 'NOT this', '(open',
          'close)', 'content: x', 'scope : y', '^caret', '{a b}: c', "it's", '""', '*', '-', '(', ')', ':']
SEEDED = [
    msg("s0", channel_id("history"), LOCAL + "alice", "Say Hello to the World", 2000.0),
    msg("s1", channel_id("history"), LOCAL + "bob", "hello again", 2001.0),
    msg("s2", channel_id("history"), LOCAL + "alice", "nothing to see", 2002.0),
    msg("s3", channel_id("staff"), LOCAL + "adam", "hello from the admins", 2003.0),
    *[msg(f"x{i}", channel_id("history"), LOCAL + "bob", f"syntax {text} here", 2010.0 + i)
      for i, text in enumerate(SYNTAX)],
]


@pytest.fixture(params=[1, 256], ids=["indexed", "waiting"])
def search_batch(request) -> int:
    return request.param


def storage(folder, search_batch: int) -> StorageSection:
    return StorageSection(data_dir=str(folder / "data"), synchronous="normal", search_batch=search_batch)


@pytest.fixture
def config(tmp_path, search_batch):
    config = world_config(tmp_path, SEEDED, storage=storage(tmp_path, search_batch))
    if search_batch == 1:  # the seeded messages into the index, as a writer would have put them
        with contextlib.closing(sqlite3.connect(db_path(config.storage.data_dir), isolation_level=None)) as con:
            grams.register(con)  # what the store's own connections have (store/db.py)
            con.execute("BEGIN")
            search_index.index_pending(con)
            con.execute("COMMIT")
    return config


@pytest.fixture
def searching(make_server, tmp_path, search_batch):
    """make_server with this test's `storage.search_batch`."""
    return lambda **overrides: make_server(storage=storage(tmp_path / "searching", search_batch), **overrides)


def waiting(config) -> int:
    return stored_rows(config, "SELECT COUNT(*) FROM search_pending")[0][0]


async def search(client, query, channel: str = "history", **fields) -> list[str]:
    await client.send("messages_search", channel=channel, query=query, listener="s", **fields)
    reply = await client.recv()
    while "listener" not in reply:
        reply = await client.recv()
    assert reply["cmd"] == "messages_search", reply
    assert reply == {"cmd": "messages_search", "channel": channel, "query": query, "results": reply["results"],
                     "listener": "s"}
    return [m["id"] for m in reply["results"]]


async def test_search_is_a_case_insensitive_substring_newest_first(server, search_batch):
    (alice,) = await online(server, "alice")
    assert (waiting(server.config) == 0) if search_batch == 1 else (waiting(server.config) >= len(SEEDED))
    assert await search(alice, "hello") == ["s1", "s0"]
    assert await search(alice, "HeLLo") == ["s1", "s0"]
    assert await search(alice, "ello to th") == ["s0"]  # across words, inside a word
    assert await search(alice, "lo a") == ["s1"]
    assert await search(alice, "hello world") == []  # a substring, not words in any order
    assert await search(alice, "goodbye") == []
    await alice.send("messages_search", channel="history", query="hello")
    result = (await alice.expect("messages_search"))["results"][0]
    assert result["user"] == LOCAL + "bob" and result["pinned"] is False and result["content"] == "hello again"


async def test_fts5_syntax_in_a_query_is_text_to_find(server):
    (alice,) = await online(server, "alice")
    for i, text in enumerate(SYNTAX):
        found = await search(alice, text)
        assert f"x{i}" in found, (text, found)
        expected = [f"x{j}" for j, other in reversed(list(enumerate(SYNTAX))) if text.lower() in f"syntax {other} here".lower()]
        assert found == expected[:30], (text, found)
    for query in ('"', '"unbalanced', 'a) OR (b', 'NEAR(', 'x*', 'content:hello', '\x00', 'a\x00b', '🎉🎉🎉', 'ab',
                  'h', ' ', '   ', 'AND', 'hello" OR "x'):
        assert isinstance(await search(alice, query), list)


async def test_search_never_returns_what_the_searcher_cannot_view(server):
    alice, adam = await online(server, "alice", "adam")
    assert await search(adam, "hello", channel="staff") == ["s3"]
    assert "s3" not in await search(adam, "hello")
    await alice.send("messages_search", channel="staff", query="hello")
    await alice.expect_error("Access denied to this channel", src=None)
    for channel in ("nowhere", "lobby"):  # missing, not a text channel
        await alice.send("messages_search", channel=channel, query="hello")
        await alice.expect_error("Access denied to this channel", src=None)
    await alice.send("messages_search", thread_id="t1", query="hello")
    await alice.expect_error("Thread not found", src="messages_search")


async def test_search_errors(server):
    (alice,) = await online(server, "alice")
    for fields in ({"query": "x"}, {"channel": "history"}, {"channel": "history", "query": ""},
                   {"channel": "", "query": "x"}, {"channel": "history", "query": None}):
        await alice.send("messages_search", **fields)
        await alice.expect_error("Channel name and query are required", src="messages_search")
    await alice.send("messages_search", channel="history", query=["hello"])  # crashed the original
    await alice.expect_error("Invalid field 'query': expected string, got array", src="messages_search")
    await alice.assert_silent()


async def test_edits_and_deletes_reach_the_index_in_their_own_commit(server):
    alice, bob = await online(server, "alice", "bob")
    m = await post(alice, "general", "an apple a day")
    await bob.drain()
    assert await search(bob, "apple", channel="general") == [m["id"]]
    await alice.send("message_edit", channel="general", id=m["id"], content="a banana a day")
    await alice.expect("message_edit")
    assert await search(bob, "apple", channel="general") == []
    assert await search(bob, "banana", channel="general") == [m["id"]]
    await server.restart()
    alice, bob = await online(server, "alice", "bob")
    assert await search(bob, "banana", channel="general") == [m["id"]]
    await alice.send("message_delete", channel="general", id=m["id"])
    await alice.expect("message_delete")
    assert await search(bob, "banana", channel="general") == []
    assert await search(bob, "an", channel="general") == []


async def test_results_are_cut_to_search_results(searching):
    server = await searching(limits=LimitsSection(search_results=3))
    boss = await server.owner("boss")
    ids = [(await post(boss, "general", f"needle {i}"))["id"] for i in range(5)]
    assert await search(boss, "needle", channel="general") == ids[::-1][:3]
    assert await search(boss, "e", channel="general") == ids[::-1][:3]  # the short-query path too
    assert boss.handshake["val"]["limits"]["search_results"] == 3


async def test_short_queries_look_at_the_newest_search_scan_messages(searching):
    """The trigram index cannot serve one or two characters: those queries read the channel's newest
    `limits.search_scan` messages (a bounded scan); longer ones reach the whole history."""
    server = await searching(limits=LimitsSection(search_scan=100))
    boss = await server.owner("boss")
    old = await post(boss, "general", "qz old")
    for i in range(100):
        await post(boss, "general", f"filler {i}")
    assert await search(boss, "qz", channel="general") == []
    assert await search(boss, "qz old", channel="general") == [old["id"]]
    newer = await post(boss, "general", "qz new")
    assert await search(boss, "qz", channel="general") == [newer["id"]]


async def test_long_queries_match_in_full(server):
    (alice,) = await online(server, "alice")
    a = await post(alice, "general", "abcdefghijklmnopqrstuvwxyz and then one")
    b = await post(alice, "general", "abcdefghijklmnopqrstuvwxyz and then two")
    assert await search(alice, "ABCDEFGHIJKLMNOPQRSTUVWXYZ AND THEN TWO", channel="general") == [b["id"]]
    assert await search(alice, "abcdefghijklmnopqrstuvwxyz and then", channel="general") == [b["id"], a["id"]]
    assert await search(alice, "abcdefghijklmnopqrstuvwxyz and then three", channel="general") == []


async def test_waiting_messages_are_indexed_together_once_search_batch_wait(make_server, tmp_path):
    """`storage.search_batch`: new and edited messages wait until that many do, then the commit that
    reaches it indexes them all; a search finds them the same before and after."""
    server = await make_server(storage=storage(tmp_path / "groups", 3))
    boss = await server.owner("boss")
    assert waiting(server.config) == 0
    ids = [(await post(boss, "general", f"group {i}"))["id"] for i in range(2)]
    assert waiting(server.config) == 2
    assert await search(boss, "group", channel="general") == ids[::-1]
    ids.append((await post(boss, "general", "group 2"))["id"])
    assert waiting(server.config) == 0
    assert await search(boss, "group", channel="general") == ids[::-1]
    await boss.send("message_edit", channel="general", id=ids[0], content="edited")
    await boss.expect("message_edit")
    assert waiting(server.config) == 1
    assert await search(boss, "group", channel="general") == ids[:0:-1]
    assert await search(boss, "edited", channel="general") == ids[:1]


# ---- message_replies --------------------------------------------------------------------------


async def replies(client, parent: str, channel: str = "general", **fields) -> list[str]:
    await client.send("message_replies", channel=channel, id=parent, listener="r", **fields)
    reply = await client.recv()
    while "listener" not in reply:
        reply = await client.recv()
    assert reply == {"cmd": "message_replies", "channel": channel, "message_id": parent,
                     "replies": reply["replies"], "listener": "r"}, reply
    return [m["content"] for m in reply["replies"]]


async def test_replies_are_listed_oldest_first_up_to_the_limit(server):
    alice, bob, adam = await online(server, "alice", "bob", "adam")
    parent = await post(alice, "general", "parent")
    other = await post(alice, "general", "other")
    for i in range(4):
        await post(bob, "general", f"reply {i}", reply_to=parent["id"])
    await post(bob, "general", "elsewhere", reply_to=other["id"])
    await alice.drain()
    await adam.drain()
    assert await replies(alice, parent["id"]) == [f"reply {i}" for i in range(4)]
    assert await replies(alice, parent["id"], limit=2) == ["reply 0", "reply 1"]
    assert await replies(alice, parent["id"], limit=0) == ["reply 0"]  # as the original: one
    assert await replies(alice, parent["id"], limit=-5) == ["reply 0"]
    assert await replies(alice, parent["id"], limit=10**9) == [f"reply {i}" for i in range(4)]
    assert await replies(alice, "no-such-message") == []  # the parent need not exist
    # a deleted reply leaves the list; a deleted parent keeps its (dangling) replies
    await alice.send("message_delete", channel="general", id=parent["id"])
    await alice.expect("message_delete")
    assert await replies(alice, parent["id"]) == [f"reply {i}" for i in range(4)]
    await adam.drain()
    # a reply in a channel the reader cannot see is never listed, even under its parent's id
    secret = await post(adam, "staff", "staff parent")
    await post(adam, "staff", "staff reply", reply_to=secret["id"])
    assert await replies(alice, secret["id"]) == []
    assert await replies(adam, secret["id"], channel="staff") == ["staff reply"]


async def test_replies_errors(server):
    (alice,) = await online(server, "alice")
    for fields in ({"id": "x"}, {"channel": "general"}, {"channel": "general", "id": ""}, {"channel": "", "id": "x"}):
        await alice.send("message_replies", **fields)
        await alice.expect_error("Channel name and message ID are required", src="message_replies")
    for channel in ("staff", "nowhere", "lobby"):
        await alice.send("message_replies", channel=channel, id="x")
        await alice.expect_error("Access denied to this channel", src=None)
    await alice.send("message_replies", thread_id="t1", id="x")
    await alice.expect_error("Thread not found", src="message_replies")
    await alice.send("message_replies", channel="general", id="x", limit="5")  # the original crashed
    await alice.expect_error("Invalid field 'limit': expected integer, got string", src="message_replies")
    await alice.assert_silent()
