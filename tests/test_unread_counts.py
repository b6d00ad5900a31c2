"""Unread counts over long histories, through the real protocol: a channel and a thread whose
messages spread over several of the 4,096-seq blocks whose kept counts `count_after` adds up
(store/reads.py), next to a short thread whose few messages are counted directly. Marks sit at the
first and last messages and on both sides of block edges, and messages are deleted before and
after them: every count is the number of messages after the mark, in unreads_count and
unreads_get alike.

The seeded world (tests/msgworld.py) plus 5,000 messages by alice in `history` interleaved with
5,000 in `pets`, 500 in the thread `long` and 20 in the thread `short` (both in the forum `ideas`):
their seqs run over three blocks.
"""

from __future__ import annotations

from typing import Any

import pytest

from originchats.core import writes as w
from originchats.core.model import Thread
from originchats.store.rows import BLOCK_BITS
from originchats.store.unread_reads import COUNT_DIRECTLY
from tests.client import Client, until_reply
from tests.msgworld import LOCAL, channel_id, msg, stored_rows, world_config

N = 5000
LONG, SHORT = 500, 20


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    forum = channel_id("ideas")
    facts: list[Any] = [w.ThreadSaved(Thread(id=t, channel_id=forum, name=t, created_by=LOCAL + "bob",
                                             created_at=1.0, participants=(LOCAL + "bob",)))
                        for t in ("long", "short")]
    for i in range(N):
        facts.append(msg(f"h{i}", channel_id("history"), LOCAL + "alice", f"m{i}", 1000.0 + i))
        facts.append(msg(f"p{i}", channel_id("pets"), LOCAL + "bob", f"p{i}", 1000.0 + i))
        if i % (N // LONG) == 0:
            facts.append(msg(f"l{i // (N // LONG)}", forum, LOCAL + "bob", "l", 1000.0 + i, thread_id="long"))
        if i % (N // SHORT) == 0:
            facts.append(msg(f"s{i // (N // SHORT)}", forum, LOCAL + "bob", "s", 1000.0 + i, thread_id="short"))
    return world_config(tmp_path, facts)


async def ask(client: Client, cmd: str, **fields: Any) -> dict:
    await client.send(cmd, listener="q", **fields)
    _, reply = await until_reply(client, "q")
    assert reply["cmd"] == cmd, reply
    return reply


def seq_of(config: Any, mid: str) -> int:
    return stored_rows(config, "SELECT seq FROM messages WHERE id = ?", (mid,))[0][0]


def test_the_world_spans_several_blocks_and_both_ways_of_counting(config):
    assert seq_of(config, f"h{N - 1}") >> BLOCK_BITS >= 2
    assert SHORT <= COUNT_DIRECTLY < LONG


async def test_counts_after_marks_anywhere_in_a_long_history(server, config):
    alice = await server.user("alice")
    await alice.drain()
    # the messages of `history` on both sides of each block edge, and the ends
    seqs = dict(stored_rows(config, "SELECT id, seq FROM messages WHERE channel_id = ?", (channel_id("history"),)))
    edges = [i for i in range(1, N) if seqs[f"h{i}"] >> BLOCK_BITS != seqs[f"h{i - 1}"] >> BLOCK_BITS]
    assert len(edges) >= 2
    for i in sorted({0, 1, N // 2, N - 2, N - 1, *edges, *(e - 1 for e in edges)}):
        await ask(alice, "unreads_ack", channel="history", message_id=f"h{i}")
        reply = await ask(alice, "unreads_count", channel="history")
        assert (reply["unread_count"], reply["total_messages"]) == (N - 1 - i, N), i
    for thread, size in (("long", LONG), ("short", SHORT)):
        for j in (0, 1, size // 2, size - 1):
            await ask(alice, "unreads_ack", thread_id=thread, message_id=f"{thread[0]}{j}")
            reply = await ask(alice, "unreads_count", thread_id=thread)
            assert (reply["unread_count"], reply["total_messages"]) == (size - 1 - j, size), (thread, j)


async def test_deletions_on_either_side_of_the_mark(server):
    alice, adam, bob = await server.user("alice"), await server.user("adam"), await server.user("bob")
    for c in (alice, adam, bob):
        await c.drain()
    mark = N // 3
    await ask(alice, "unreads_ack", channel="history", message_id=f"h{mark}")
    await ask(alice, "unreads_ack", thread_id="long", message_id="l100")
    await ask(alice, "unreads_ack", thread_id="short", message_id="s4")
    gone_before = [f"h{i}" for i in range(0, mark, 97)]
    gone_after = [f"h{i}" for i in range(mark + 1, N, 89)]
    for mid in gone_before + gone_after:
        await ask(adam, "message_delete", channel="history", id=mid)
    for mid in ("l0", "l101", "l499"):
        await ask(bob, "message_delete", thread_id="long", id=mid)  # his own (the forum lets nobody else)
    await ask(bob, "message_delete", thread_id="short", id="s19")
    got = (await ask(alice, "unreads_get"))["unreads"]
    assert got["history"] == {"last_read": f"h{mark}", "unread_count": N - 1 - mark - len(gone_after),
                              "total_messages": N - len(gone_before) - len(gone_after)}
    assert got["thread/long"] == {"last_read": "l100", "unread_count": LONG - 101 - 2, "total_messages": LONG - 3,
                                  "parent_channel": "ideas"}
    assert got["thread/short"] == {"last_read": "s4", "unread_count": SHORT - 5 - 1, "total_messages": SHORT - 1,
                                   "parent_channel": "ideas"}


async def test_a_mark_keeps_counting_through_new_messages_and_later_deletions(server):
    """A mark set after deletions, then new messages (counted from the mark's kept position,
    0010_unread_positions.sql), then deletions before the mark and of the marked message itself
    (counted the other way until the next mark): always the messages after the mark."""
    alice, adam = await server.user("alice"), await server.user("adam")
    for c in (alice, adam):
        await c.drain()

    async def expect(unread: int, total: int, last_read: str) -> None:
        count = await ask(alice, "unreads_count", channel="history")
        assert (count["unread_count"], count["total_messages"]) == (unread, total)
        entry = (await ask(alice, "unreads_get"))["unreads"]["history"]
        assert entry == {"last_read": last_read, "unread_count": unread, "total_messages": total}

    for mid in ("h5", "h6"):
        await ask(adam, "message_delete", channel="history", id=mid)
    await ask(alice, "unreads_ack", channel="history", message_id="h100")
    await expect(N - 101, N - 2, "h100")
    new = [(await ask(adam, "message_new", channel="history", content=f"new {i}"))["message"]["id"] for i in range(3)]
    await expect(N - 98, N + 1, "h100")
    await ask(adam, "message_delete", channel="history", id="h7")
    await expect(N - 98, N, "h100")
    await ask(adam, "message_delete", channel="history", id="h100")  # the mark moves back to h99
    await expect(N - 98, N - 1, "h99")
    await ask(adam, "message_delete", channel="history", id=new[0])
    await expect(N - 99, N - 2, "h99")
    await ask(alice, "unreads_ack", channel="history", message_id=new[-1])
    await expect(0, N - 2, new[-1])
    await ask(adam, "message_new", channel="history", content="one more")
    await expect(1, N - 1, new[-1])
