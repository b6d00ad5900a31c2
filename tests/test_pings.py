"""Mentions and pings through the real protocol (extended/unreads_pings.md, objects.md §3.4): the
live `pings` object of message_new, the stored pings behind `pings_get`, and each "Flaw in the
original" fixed (docs/compatibility.md, "Unreads and pings"): a ping reaches only members who can
view the channel, `@&user` needs `mention_everyone`, the inbox and the live object agree (local
accounts by their whole `USR:local_` name too), and the inbox is read from an index.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from originchats.core import ops, writes as w
from originchats.core.model import Message
from originchats.store import reads, sql
from originchats.store.migrate import apply_migrations
from tests.client import Client, until_reply
from tests.msgworld import LOCAL, general_id, post, stored_rows, world_config

BOB = LOCAL + "bob"


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    return world_config(tmp_path)


async def members(server: Any, *names: str, owner: str | None = None) -> list[Client]:
    clients = [await server.user(n) for n in names]
    if owner is not None:
        clients.append(await server.owner(owner))
    for c in clients:
        await c.drain()
    return clients


async def inbox(client: Client, **fields: Any) -> dict[str, Any]:
    await client.send("pings_get", listener="p", **fields)
    _, reply = await until_reply(client, "p")
    assert reply["cmd"] == "pings_get", reply
    return reply


async def inbox_ids(client: Client) -> list[str]:
    return [m["id"] for m in (await inbox(client))["messages"]]


async def quiet(*clients: Client) -> None:
    for c in clients:
        await c.drain()


# ---- the live object and the inbox ------------------------------------------------------------


async def test_a_mention_by_the_whole_local_name_pings_that_member(server):
    """The official client completes `@` with the whole name (`USR:local_bob`); the original's
    pattern stopped at the `:` and pinged a user called "USR"."""
    alice, bob = await members(server, "alice", "bob")
    m = await post(alice, "general", "hi @USR:local_bob, and @usr:LOCAL_BOB again")
    assert m["pings"] == {"users": [BOB], "roles": [], "replies": []}
    assert (await bob.expect("message_new"))["message"]["pings"]["users"] == [BOB]
    got = await inbox(bob)
    assert got == {"cmd": "pings_get", "messages": [{**{k: v for k, v in m.items() if k != "pings"},
                                                     "channel": "general"}],
                   "offset": 0, "limit": 50, "total": 1, "listener": "p"}
    # `@bob` names the same account (there is no account called plain "bob")
    m2 = await post(alice, "general", "@bob")
    assert m2["pings"]["users"] == [BOB]
    assert await inbox_ids(bob) == [m2["id"], m["id"]]
    assert await inbox_ids(alice) == []
    # local names may hold `-`: the whole name is the mention (a trailing `-` is punctuation)
    (dash,) = await members(server, "bob-x")
    await quiet(bob)
    m3 = await post(alice, "general", "@USR:local_bob-x, @USR:local_bob- and @bob-x")
    assert m3["pings"]["users"] == [LOCAL + "bob-x", BOB]
    assert await inbox_ids(dash) == [m3["id"]]


async def test_the_inbox_agrees_with_the_live_pings(server):
    """Flaw 6: the original kept no pings; pings_get re-derived them with other, case-sensitive
    rules, so the bell and the live highlights disagreed. Both now come from one computation."""
    alice, bob, adam = await members(server, "alice", "bob", "adam")
    sent = {
        "upper": await post(alice, "general", "@USR:LOCAL_BOB look"),
        "role_then_user": await post(alice, "general", "@&bob @bob"),  # the original dropped bob here
        "nobody": await post(alice, "general", "@bobby @USR"),
        "zed": await post(alice, "general", "@zed"),
    }
    await quiet(bob, adam)
    live = {k: BOB in m["pings"]["users"] for k, m in sent.items()}
    assert live == {"upper": True, "role_then_user": True, "nobody": False, "zed": False}
    pinged = set(await inbox_ids(bob))
    assert {k for k, m in sent.items() if m["id"] in pinged} == {k for k, v in live.items() if v}


async def test_replies_ping_the_replied_author_unless_ping_is_false(server):
    alice, bob = await members(server, "alice", "bob")
    question = await post(alice, "general", "question")
    loud = await post(bob, "general", "answer", reply_to=question["id"])
    await post(bob, "general", "quiet answer", reply_to=question["id"], ping=False)
    own = await post(alice, "general", "me again", reply_to=question["id"])
    await quiet(alice, bob)
    assert await inbox_ids(alice) == [own["id"], loud["id"]]  # one's own messages count, as before


async def test_an_edit_changes_who_the_message_pings(server):
    alice, bob = await members(server, "alice", "bob")
    m = await post(alice, "general", "plain")
    await alice.send("message_edit", channel="general", id=m["id"], content="now @bob")
    await alice.expect("message_edit")
    assert await inbox_ids(bob) == [m["id"]]
    await alice.send("message_edit", channel="general", id=m["id"], content="plain again")
    await alice.expect("message_edit")
    assert await inbox_ids(bob) == []


# ---- who a ping reaches -----------------------------------------------------------------------


async def test_a_ping_reaches_only_members_who_can_view_the_channel(server):
    """The original's pings (and its Web Push) reached anyone named, from any channel: mentioning a
    member from a channel they cannot see told them about it."""
    alice, bob, adam, mia, boss = await members(server, "alice", "bob", "adam", "mia", owner="boss")
    # `dropbox`: members may post, only admins see
    m = await post(alice, "dropbox", "@USR:local_bob @USR:local_adam @&muted")
    assert await inbox_ids(adam) == [m["id"]]
    assert await inbox_ids(bob) == [] and await inbox_ids(mia) == []
    await bob.assert_silent()
    # `staff`: admins only
    s = await post(adam, "staff", "@USR:local_mia @&muted @&user")
    assert await inbox_ids(mia) == [] and await inbox_ids(bob) == []
    await mia.assert_silent()
    assert await inbox_ids(adam) == [s["id"], m["id"]]
    # a ping is kept only for those who could view the channel when it was posted: opening the
    # channel to members later does not turn old mentions into pings
    await boss.send("channel_update", current_name="dropbox", updates={"permissions": {"view": ["user"]}})
    await boss.expect("channel_update")
    await quiet(alice, bob, adam, mia, boss)
    assert await inbox_ids(bob) == [] and await inbox_ids(mia) == [m["id"]]  # (mia: by her role)


async def test_a_ping_follows_the_channels_view_list_when_it_changes(server):
    bob, boss = await members(server, "bob", owner="boss")
    m = await post(boss, "pets", "@bob")
    await quiet(bob)
    assert await inbox_ids(bob) == [m["id"]]
    await boss.send("channel_update", current_name="pets", updates={"permissions": {"view": ["admin"]}})
    await boss.expect("channel_update")
    await quiet(bob, boss)
    assert await inbox(bob) == {"cmd": "pings_get", "messages": [], "offset": 0, "limit": 50, "total": 0,
                                "listener": "p"}


async def test_role_mentions_reach_whoever_holds_the_role(server):
    alice, mia, umi, adam, boss = await members(server, "alice", "mia", "umi", "adam", owner="boss")
    m = await post(adam, "general", "@&muted heads up")
    await quiet(alice, mia, umi, boss)
    assert await inbox_ids(mia) == [m["id"]] and await inbox_ids(umi) == [m["id"]]
    assert await inbox_ids(alice) == []
    await boss.send("user_roles_set", user=LOCAL + "mia", roles=["user"])
    await quiet(boss, mia)
    assert await inbox_ids(mia) == []
    # a message that reaches someone twice (by name and by role) is listed and counted once
    both = await post(adam, "general", "@USR:local_umi @&muted")
    await quiet(umi)
    got = await inbox(umi)
    assert [x["id"] for x in got["messages"]] == [both["id"], m["id"]] and got["total"] == 2


async def test_mentioning_everyone_needs_mention_everyone(server):
    """Flaw 5: anyone could ping (and push to) every member with `@&user`."""
    alice, bob, adam = await members(server, "alice", "bob", "adam")
    await alice.send("message_new", channel="general", content="@&user wake up")
    await alice.expect_error("You do not have permission to mention the '@&user' role", src="message_new")
    first = await post(alice, "general", "plain")
    await alice.send("message_edit", channel="general", id=first["id"], content="@&user")
    await alice.expect_error("You do not have permission to mention the '@&user' role", src="message_edit")
    await bob.expect("message_new")
    assert await inbox_ids(bob) == []
    m = await post(adam, "general", "@&user meeting")  # admins hold mention_everyone
    assert m["pings"]["roles"] == ["user"]
    await quiet(bob)
    assert await inbox_ids(bob) == [m["id"]]


# ---- pings_get --------------------------------------------------------------------------------


async def test_pings_get_pages_newest_first(server):
    alice, bob = await members(server, "alice", "bob")
    sent = [(await post(alice, "general", f"@bob {i}"))["id"] for i in range(5)]
    await quiet(bob)
    newest_first = sent[::-1]
    for offset, limit, want in ((0, 2, newest_first[:2]), (2, 2, newest_first[2:4]), (4, 2, newest_first[4:]),
                                (5, 2, []), (0, 100, newest_first), (2**70, 1, [])):
        got = await inbox(bob, offset=offset, limit=limit)
        assert [m["id"] for m in got["messages"]] == want
        assert (got["offset"], got["limit"], got["total"]) == (offset, limit, 5)
    got = await inbox(bob, limit=True)  # booleans pass as numbers, as in the original
    assert len(got["messages"]) == 1 and got["limit"] == 1


async def test_pings_get_errors(server):
    (bob,) = await members(server, "bob")
    for fields, text in (({"limit": 0}, "Limit must be a number between 1 and 100"),
                         ({"limit": 101}, "Limit must be a number between 1 and 100"),
                         ({"limit": "5"}, "Limit must be a number between 1 and 100"),
                         ({"limit": 1.5}, "Limit must be a number between 1 and 100"),
                         ({"offset": -1}, "Offset must be a non-negative number"),
                         ({"offset": "x"}, "Offset must be a non-negative number"),
                         ({"limit": 0, "offset": -1}, "Limit must be a number between 1 and 100")):
        await bob.send("pings_get", listener="e", **fields)
        await bob.expect_error(text, src="pings_get", listener="e")


# ---- deletion ---------------------------------------------------------------------------------


def ping_rows(server: Any) -> list[tuple]:
    return stored_rows(server.config, "SELECT target, channel_id FROM pings ORDER BY target")


async def test_a_message_reaching_someone_through_several_targets_counts_once(server):
    """The total's correction for messages that ping a member through two or three of their targets
    (their name and two roles) is kept by pair counters (migrations/0011_ping_pairs.sql): it stays
    exact through edits, deletes, a role's deletion and a restart."""
    umi, adam, boss = await members(server, "umi", "adam", owner="boss")
    await boss.send("user_roles_set", user=LOCAL + "umi", roles=["user", "muted", "vip"])
    await quiet(boss, umi)

    async def check(expected: int) -> None:
        got = await inbox(umi)
        assert got["total"] == len(got["messages"]) == expected, got

    three = await post(adam, "general", "@USR:local_umi @&muted @&vip all three")
    two = await post(adam, "general", "@&muted @&vip two roles")
    await post(adam, "general", "@&vip one role")
    await quiet(umi, boss)
    await check(3)
    await adam.send("message_edit", channel="general", id=three["id"], content="@&muted @USR:local_umi now two")
    await adam.expect("message_edit")
    await check(3)
    await adam.send("message_edit", channel="general", id=two["id"], content="nobody now")
    await adam.expect("message_edit")
    await check(2)
    await post(adam, "general", "@USR:local_umi @&muted @&vip again")
    await quiet(umi, boss)
    await check(3)
    await boss.send("role_delete", name="vip")
    await quiet(boss, umi)
    await check(2)  # the message that pinged only `vip` is out; the others still reach umi
    await server.restart()
    (umi,) = await members(server, "umi")
    await check(2)
    assert stored_rows(server.config, "SELECT COUNT(*) FROM ping_counts WHERE n < 0") == [(0,)]


async def test_deleting_a_message_channel_role_or_account_removes_its_pings(server):
    alice, bob, adam, boss = await members(server, "alice", "bob", "adam", owner="boss")
    gone = await post(alice, "general", "@bob soon gone")
    kept = await post(alice, "general", "@bob stays")
    await post(alice, "pets", "@bob in pets")
    await post(adam, "general", "@&vip")
    await quiet(alice, bob, adam, boss)
    assert len(await inbox_ids(bob)) == 3 and ("r:role-vip", general_id(server.config)) in ping_rows(server)
    await alice.send("message_delete", channel="general", id=gone["id"])
    await alice.expect("message_delete")
    await boss.send("channel_delete", name="pets")
    await boss.send("role_delete", name="vip")
    await quiet(boss, bob)
    # the rows went with what they pointed at, in the same transactions
    assert ping_rows(server) == [("u:" + BOB, general_id(server.config))]
    assert stored_rows(server.config, "SELECT target, n FROM ping_counts WHERE n != 0") == [("u:" + BOB, 1)]
    assert await inbox_ids(bob) == [kept["id"]]
    await boss.send("user_delete", user=BOB)
    await quiet(boss)
    assert ping_rows(server) == [] and stored_rows(server.config, "SELECT * FROM ping_counts WHERE n != 0") == []
    await server.restart()
    (alice,) = await members(server, "alice")
    assert await inbox_ids(alice) == []


# ---- reads use indexes ------------------------------------------------------------------------


def test_unread_counts_and_the_inbox_never_scan_history(tmp_path):
    """Flaw 7 (and the counting rule): the original read every message of every readable channel
    on each pings_get and each unread count. Every statement these reads run searches an index:
    none scans `messages`, `pings` or `read_marks`."""
    con = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    apply_migrations(con)
    con.execute("BEGIN")
    for i in range(3000):
        m = Message(id=f"m{i}", channel_id=f"c{i % 3}", thread_id="t" if i % 5 == 0 else None, user_id="u",
                    content="x", timestamp=float(i))
        sql.apply_write(con, w.MessageCreated(m, ("u:bob", "r:mods") if i % 7 == 0 else ()))
    sql.apply_write(con, w.ReadMarked("bob", "c0", None, "m303"))
    sql.apply_write(con, w.ReadMarked("bob", "c0", "t", "m0"))
    con.execute("COMMIT")
    con.execute("ANALYZE")
    runs = [
        ops.UnreadState("bob", (("c0", None), ("c1", None), ("c0", "t")), ("c0",)),
        ops.PingsPage(("u:bob", "r:mods"), ("c0", "c1"), 50, 10),
        ops.ReadTarget("c0", None, None), ops.ReadTarget("c0", None, "m3"),
        ops.MarkBehind("bob", "c0", None, "m2997"),
    ]
    statements: list[str] = []
    con.set_trace_callback(statements.append)
    results = [reads.run_read(con, op) for op in runs]
    con.set_trace_callback(None)
    assert results[0][0] == ("c0", None, "m303", sum(1 for i in range(304, 3000) if i % 3 == 0 and i % 5), 800)
    assert results[1][1] == sum(1 for i in range(3000) if i % 7 == 0 and i % 3 in (0, 1))
    scans = []
    for text in statements:
        for row in con.execute("EXPLAIN QUERY PLAN " + text):
            detail = row[3]
            if detail.startswith("SCAN") and "json_each" not in detail and "CONSTANT ROW" not in detail:
                scans.append((text, detail))
    assert scans == []
    assert len(statements) >= 10
