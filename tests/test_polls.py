"""Polls through the protocol (extended/polls.md): poll_create, poll_vote, poll_end, poll_results,
poll_get, their broadcasts and who receives them, and every "Flaws in the original" item fixed
(docs/compatibility.md, "Polls"):

1. voters are hidden while a poll is open in every packet, usernames once it is closed;
2. the creation broadcast keeps its flat fields and also carries the nested `message`;
3. thread polls are keyed by (channel, thread) and announced to the channel's viewers;
4. length limits, distinct option ids, text channels only, rate limited;
5. `remove: true` takes a vote back; an expired poll is ended and announced; deleting the poll's
   message (or its channel) deletes the poll;
6. a vote writes its own rows and counters (no whole-file rewrite, no scan: test_poll_vote_uses_indexes).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from originchats.config import RateLimitingSection
from originchats.store.migrate import apply_migrations
from tests.client import Client, until_reply
from tests.clock import autojump_clock  # noqa: F401
from tests.conftest import make_config
from tests.offline import edit_offline, query

LOCAL = "USR:local_"


async def request(client: Client, cmd: str, listener: str = "L", **fields: Any) -> tuple[list[dict], dict]:
    """Packets before the reply, and the reply."""
    await client.send(cmd, listener=listener, **fields)
    return await until_reply(client, listener)


async def create(client: Client, **fields: Any) -> dict[str, Any]:
    """A poll in `general` (unless told otherwise); returns the `poll_create` reply."""
    fields = {"channel": "general", "question": "Tea or coffee?", "options": ["tea", "coffee"], **fields}
    _, reply = await request(client, "poll_create", **fields)
    assert reply["cmd"] == "poll_create", reply
    await client.drain()
    return reply


async def vote(client: Client, poll_id: str, *options: str, **fields: Any) -> dict[str, Any]:
    _, reply = await request(client, "poll_vote", poll_id=poll_id, option_ids=list(options), **fields)
    return reply


def counts(results: dict[str, Any]) -> dict[str, int]:
    return {r["id"]: r["votes"] for r in results["results"]}


# ---- poll_create ------------------------------------------------------------------------------


async def test_poll_create_announces_the_poll_message_then_replies(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    await alice.send("poll_create", channel="general", question="Tea or coffee?",
                     options=["tea", {"text": "coffee", "emoji": "☕", "id": "c"}], allow_multiselect=True,
                     listener="L")
    announced = await alice.recv()
    reply = await alice.recv()
    poll_id, mid = reply["poll_id"], reply["message_id"]
    options = [{"id": "0", "text": "tea"}, {"id": "c", "text": "coffee", "emoji": "☕"}]
    assert reply == {"cmd": "poll_create", "poll_id": poll_id, "message_id": mid, "channel": "general",
                     "thread_id": None, "question": "Tea or coffee?", "options": options,
                     "allow_multiselect": True, "expires_at": None, "listener": "L"}
    embed = {"type": "poll", "poll": {"id": poll_id, "question": "Tea or coffee?", "options": options,
                                      "allow_multiselect": True, "expires_at": None},
             "title": "Tea or coffee?"}
    ts = announced["timestamp"]
    message = {"user": LOCAL + "alice", "content": "", "timestamp": ts, "id": mid, "embeds": [embed],
               "pinned": False, "type": "message", "interaction": None}
    # flat as the original's, plus the nested message every other message_new has (no listener)
    expected = {"cmd": "message_new", "id": mid, "channel": "general", "thread_id": None, "user": LOCAL + "alice",
                "content": "", "timestamp": ts, "embeds": [embed], "poll_id": poll_id, "message": message}
    assert announced == expected
    assert list(announced) == list(expected)
    assert await bob.recv() == expected
    assert poll_id != mid
    # stored like any message: history shows it, with the counts (test_reads_show_the_poll_counts)
    _, page = await request(bob, "messages_get", channel="general")
    counted = {**embed["poll"], "options": [{**o, "votes": 0} for o in options], "total_votes": 0,
               "ended": False, "ended_at": None}
    assert page["messages"] == [{**message, "embeds": [{**embed, "poll": counted}]}]


CREATE_ERRORS = [
    ({"channel": None}, "Channel or thread_id is required"),
    ({"question": ""}, "Question is required"),
    ({"options": None}, "At least 2 options are required"),
    ({"options": ["only"]}, "At least 2 options are required"),
    ({"options": [str(i) for i in range(11)]}, "Cannot have more than 10 options"),
    ({"options": ["a", {"emoji": "x"}]}, "Option 1 must have 'text'"),
    ({"thread_id": "t1"}, "Thread not found"),
    ({"channel": "nowhere"}, "Channel not found"),
    # the checks the original lacked
    ({"question": "q" * 301}, "Question cannot be longer than 300 characters"),
    ({"options": ["a", "b" * 101]}, "Option 1 text must be a string of at most 100 characters"),
    ({"options": ["a", {"text": 5}]}, "Option 1 text must be a string of at most 100 characters"),
    ({"options": ["a", {"id": "x" * 51, "text": "b"}]}, "Option 1 id must be a string of 1-50 characters"),
    ({"options": ["a", {"id": 1, "text": "b"}]}, "Option 1 id must be a string of 1-50 characters"),
    ({"options": ["a", {"id": "0", "text": "b"}]}, "Option 1 has the same id as an earlier option"),
    ({"options": ["a", 7]}, "Option 1 must be a string or an object with 'text'"),
    ({"options": ["a", {"text": "b", "emoji": "e" * 33}]}, "Option 1 emoji must be a string of at most 32 characters"),
    ({"expires_at": 1.0}, "expires_at must be a time in the future (Unix seconds)"),
    ({"expires_at": "soon"}, "expires_at must be a time in the future (Unix seconds)"),
    ({"duration_hours": -1}, "duration_hours must be a positive number"),
    ({"options": "ab"}, "Invalid field 'options': expected array, got string"),
    ({"question": 5}, "Invalid field 'question': expected string, got number"),
    ({"channel": "voice"}, "Cannot send messages in this channel type"),
]


@pytest.mark.parametrize(("fields", "error"), CREATE_ERRORS)
async def test_poll_create_refusals_store_nothing(server, fields, error):
    boss = await server.owner()
    await request(boss, "channel_create", name="voice", type="voice")
    await boss.drain()
    request_fields = {"channel": "general", "question": "Q?", "options": ["a", "b"], **fields}
    _, reply = await request(boss, "poll_create", **{k: v for k, v in request_fields.items() if v is not None})
    assert reply == {"cmd": "error", "src": "poll_create", "val": error, "listener": "L"}
    assert query(server, "SELECT COUNT(*) FROM polls") == [(0,)]
    _, page = await request(boss, "messages_get", channel="general")
    assert page["messages"] == []


async def test_poll_create_needs_send_messages_and_the_channels_send_list(server):
    boss = await server.owner()
    bob = await server.user("bob")
    await request(boss, "channel_create", name="news", type="text",
                  permissions={"view": ["user"], "send": ["owner"]})
    await request(boss, "role_permissions_set", name="user", permissions=[])
    await boss.drain()
    await bob.drain()
    _, reply = await request(bob, "poll_create", channel="general", question="Q?", options=["a", "b"])
    assert reply["val"] == "Access denied: 'send_messages' permission required"
    await request(boss, "role_permissions_set", name="user", permissions=["send_messages"])
    await bob.drain()
    _, reply = await request(bob, "poll_create", channel="news", question="Q?", options=["a", "b"])
    assert reply["val"] == "You do not have permission to send messages in this channel"
    assert query(server, "SELECT COUNT(*) FROM polls") == [(0,)]


async def test_a_poll_in_a_hidden_channel_reaches_only_its_viewers(server):
    boss = await server.owner()
    bob = await server.user("bob")
    await request(boss, "channel_create", name="staff", type="text",
                  permissions={"view": ["owner"], "send": ["owner"]})
    await boss.drain()
    await bob.drain()
    poll = await create(boss, channel="staff")
    await vote(boss, poll["poll_id"], "0")
    await request(boss, "poll_end", poll_id=poll["poll_id"])
    await bob.assert_silent()
    for cmd in ("poll_vote", "poll_results", "poll_get"):
        _, reply = await request(bob, cmd, poll_id=poll["poll_id"], option_id="0")
        assert reply["val"] == "You do not have permission to view this poll", cmd


# ---- voting -----------------------------------------------------------------------------------


async def test_single_select_votes_replace_and_the_counts_follow(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    poll = await create(alice, options=["a", "b", "c"])
    pid = poll["poll_id"]
    assert counts((await vote(alice, pid, "0"))["results"]) == {"0": 1, "1": 0, "2": 0}
    assert counts((await vote(alice, pid, "1"))["results"]) == {"0": 0, "1": 1, "2": 0}
    assert counts((await vote(alice, pid, "1"))["results"]) == {"0": 0, "1": 1, "2": 0}  # again: no change
    await bob.drain()
    # by message id, and `option_id`; several options on a single-select poll: the last one wins
    _, reply = await request(bob, "poll_vote", message_id=poll["message_id"], option_ids=["0", "2"])
    assert reply["option_ids"] == ["0", "2"]
    assert counts(reply["results"]) == {"0": 0, "1": 1, "2": 1}
    assert reply["results"]["total_votes"] == 2
    _, reply = await request(bob, "poll_vote", poll_id=pid, option_id="0")
    assert counts(reply["results"]) == {"0": 1, "1": 1, "2": 0}
    _, got = await request(bob, "poll_get", poll_id=pid)
    assert got["poll"]["user_votes"] == ["0"]


async def test_multiselect_votes_add_and_remove_takes_a_vote_back(server):
    alice = await server.user("alice")
    pid = (await create(alice, options=["a", "b", "c"], allow_multiselect=True))["poll_id"]
    await vote(alice, pid, "0")
    reply = await vote(alice, pid, "1", "2")
    assert counts(reply["results"]) == {"0": 1, "1": 1, "2": 1}
    assert reply["results"]["total_votes"] == 3  # one per chosen option
    reply = await vote(alice, pid, "1", remove=True)
    assert reply["option_ids"] == ["1"]
    assert counts(reply["results"]) == {"0": 1, "1": 0, "2": 1}
    _, got = await request(alice, "poll_get", poll_id=pid)
    assert got["poll"]["user_votes"] == ["0", "2"]
    # taking back a vote one never cast changes nothing; single-select polls can be taken back too
    assert counts((await vote(alice, pid, "1", remove=True))["results"]) == {"0": 1, "1": 0, "2": 1}
    single = (await create(alice))["poll_id"]
    await vote(alice, single, "1")
    assert counts((await vote(alice, single, "1", remove=True))["results"]) == {"0": 0, "1": 0}


async def test_a_vote_with_an_unknown_option_stores_nothing(server):
    alice = await server.user("alice")
    pid = (await create(alice, options=["a", "b"], allow_multiselect=True))["poll_id"]
    for options, error in ((["0", "nope"], "Invalid option: nope"), (["0", 5], "Invalid option: 5"),
                           ([], "option_id or option_ids is required")):
        _, reply = await request(alice, "poll_vote", poll_id=pid, option_ids=options)
        assert reply == {"cmd": "error", "src": "poll_vote", "val": error, "listener": "L"}
    # the original kept option "0" of the first request; here nothing was stored
    assert query(server, "SELECT COUNT(*) FROM poll_votes") == [(0,)]
    for fields, error in (({}, "poll_id or message_id is required"), ({"poll_id": "nope"}, "Poll not found"),
                          ({"message_id": "nope"}, "Poll not found")):
        _, reply = await request(alice, "poll_vote", option_id="0", **fields)
        assert reply["val"] == error


async def test_voters_stay_hidden_while_the_poll_is_open(server):
    """Flaw 1: the original sent voters' user ids in poll_vote, poll_vote_update and poll_end while
    poll_results hid them; and poll_vote_update named who voted for what."""
    alice = await server.user("alice")
    bob = await server.user("bob")
    pid = (await create(alice, options=["a", "b"]))["poll_id"]
    await bob.drain()
    await alice.send("poll_vote", poll_id=pid, option_ids=["1"], listener="V")
    own_update = await alice.recv()
    reply = await alice.recv()
    hidden = {"poll_id": pid, "question": "Tea or coffee?", "allow_multiselect": False, "ended": False,
              "ended_at": None, "total_votes": 1,
              "results": [{"id": "0", "text": "a", "emoji": None, "votes": 0, "voters": []},
                          {"id": "1", "text": "b", "emoji": None, "votes": 1, "voters": []}]}
    assert reply == {"cmd": "poll_vote", "poll_id": pid, "option_ids": ["1"], "results": hidden, "listener": "V"}
    mid = (await request(alice, "poll_get", poll_id=pid))[1]["poll"]["message_id"]
    update = {"cmd": "poll_vote_update", "poll_id": pid, "message_id": mid, "channel": "general", "thread_id": None}
    # the voter learns its own vote back; everyone else learns that someone voted, not who or what
    assert own_update == {**update, "user": LOCAL + "alice", "option_ids": ["1"], "results": hidden}
    assert await bob.recv() == {**update, "user": None, "option_ids": [], "results": hidden}
    _, results = await request(bob, "poll_results", poll_id=pid)
    assert [r["voters"] for r in results["results"]["results"]] == [[], []]
    assert [r["voted"] for r in results["results"]["results"]] == [False, False]


async def test_poll_end_reveals_voters_by_username(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    poll = await create(alice, options=["a", "b"])
    pid = poll["poll_id"]
    await vote(bob, pid, "1")
    await vote(alice, pid, "1")
    await alice.drain()
    await bob.drain()
    await alice.send("poll_end", message_id=poll["message_id"], listener="E")
    broadcast = await alice.recv()
    reply = await alice.recv()
    ended_at = reply["results"]["ended_at"]
    assert isinstance(ended_at, float)
    shown = {"poll_id": pid, "question": "Tea or coffee?", "allow_multiselect": False, "ended": True,
             "ended_at": ended_at, "total_votes": 2,
             "results": [{"id": "0", "text": "a", "emoji": None, "votes": 0, "voters": []},
                         {"id": "1", "text": "b", "emoji": None, "votes": 2,
                          "voters": [LOCAL + "bob", LOCAL + "alice"]}]}
    assert reply == {"cmd": "poll_end", "poll_id": pid, "results": shown, "listener": "E"}
    expected = {"cmd": "poll_end", "poll_id": pid, "message_id": poll["message_id"], "channel": "general",
                "thread_id": None, "results": shown}
    assert broadcast == expected
    assert await bob.recv() == expected
    _, results = await request(bob, "poll_results", poll_id=pid)
    assert [(r["voters"], r["voted"]) for r in results["results"]["results"]] == [
        ([], False), ([LOCAL + "bob", LOCAL + "alice"], True)]
    # an ended poll takes no votes and cannot end twice
    assert (await vote(bob, pid, "0"))["val"] == "Poll has ended"
    _, reply = await request(alice, "poll_end", poll_id=pid)
    assert reply == {"cmd": "error", "src": "poll_end", "val": "Poll has already ended", "listener": "L"}
    _, got = await request(bob, "poll_get", poll_id=pid)
    assert got["poll"] == {
        "id": pid, "message_id": poll["message_id"], "channel": "general", "thread_id": None,
        "question": "Tea or coffee?", "options": [{"id": "0", "text": "a"}, {"id": "1", "text": "b"}],
        "allow_multiselect": False, "expires_at": None, "created_by": LOCAL + "alice",
        "created_at": got["poll"]["created_at"], "ended": True, "ended_at": ended_at, "user_votes": ["1"]}


async def test_a_creator_who_can_no_longer_view_the_channel_cannot_end_its_poll(server):
    """The original had no view check on poll_end: the reply would show the voters of a channel
    the caller cannot see."""
    boss = await server.owner()
    alice = await server.user("alice")
    await request(boss, "channel_create", name="club", type="text",
                  permissions={"view": ["user", "owner"], "send": ["user", "owner"]})
    pid = (await create(alice, channel="club"))["poll_id"]
    await request(boss, "channel_update", current_name="club",
                  updates={"permissions": {"view": ["owner"], "send": ["owner"]}})
    await alice.drain()
    _, reply = await request(alice, "poll_end", poll_id=pid)
    assert reply["val"] == "You do not have permission to view this poll"
    assert query(server, "SELECT ended FROM polls") == [(0,)]


async def test_only_the_creator_or_a_moderator_ends_a_poll(server):
    boss = await server.owner()
    alice = await server.user("alice")
    bob = await server.user("bob")
    pid = (await create(alice))["poll_id"]
    _, reply = await request(bob, "poll_end", poll_id=pid)
    assert reply["val"] == "Access denied: 'manage_messages' permission required"
    _, reply = await request(boss, "poll_end", poll_id=pid)
    assert reply["cmd"] == "poll_end" and reply["results"]["ended"] is True


# ---- expiry -----------------------------------------------------------------------------------


async def test_an_expired_poll_is_ended_and_announced(server, autojump_clock):
    """Flaw 5: expired polls never auto-closed in the original (its cleanup was never scheduled)."""
    alice = await server.user("alice")
    bob = await server.user("bob")
    reply = await create(alice, options=["a", "b"], duration_hours=0.5)
    pid, mid, expires_at = reply["poll_id"], reply["message_id"], reply["expires_at"]
    await vote(bob, pid, "0")
    await alice.drain()
    await bob.drain()
    await trio.sleep(1799)
    await bob.assert_silent()  # not yet
    await trio.sleep(2)
    shown = {"poll_id": pid, "question": "Tea or coffee?", "allow_multiselect": False, "ended": True,
             "ended_at": expires_at, "total_votes": 1,
             "results": [{"id": "0", "text": "a", "emoji": None, "votes": 1, "voters": [LOCAL + "bob"]},
                         {"id": "1", "text": "b", "emoji": None, "votes": 0, "voters": []}]}
    expected = {"cmd": "poll_end", "poll_id": pid, "message_id": mid, "channel": "general", "thread_id": None,
                "results": shown}
    assert await alice.recv() == expected
    assert await bob.recv() == expected
    assert query(server, "SELECT ended, ended_at FROM polls") == [(1, expires_at)]
    assert (await vote(bob, pid, "1"))["val"] == "Poll has expired"
    _, reply = await request(alice, "poll_end", poll_id=pid)
    assert reply["val"] == "Poll has already ended"
    _, got = await request(alice, "poll_get", poll_id=pid)
    assert (got["poll"]["ended"], got["poll"]["ended_at"]) == (True, expires_at)


async def test_a_poll_that_expired_while_the_server_was_down_is_ended_at_start(server, autojump_clock):
    alice = await server.user("alice")
    reply = await create(alice, duration_hours=1)
    await alice.close()
    past = server.hub.now() - 10
    await edit_offline(server, "UPDATE polls SET expires_at = ?", (past,))  # as if down for an hour
    await trio.sleep(0.1)
    assert query(server, "SELECT ended, ended_at FROM polls") == [(1, past)]
    alice = await server.user("alice")
    assert (await vote(alice, reply["poll_id"], "0"))["val"] == "Poll has expired"


async def test_expiry_is_judged_with_the_commands_clock(make_server, monkeypatch, autojump_clock):
    """A vote after `expires_at` is refused, and the poll shows as ended, even when the expiry
    timer has not ended it (here it never runs)."""
    async def no_timer(hub):  # type: ignore[no-untyped-def]
        await trio.sleep_forever()

    monkeypatch.setattr("originchats.server.app.poll_expiry", no_timer)
    server = await make_server()
    alice = await server.user("alice")
    reply = await create(alice, duration_hours=1)
    await trio.sleep(3600)
    _, results = await request(alice, "poll_results", poll_id=reply["poll_id"])
    assert results["results"]["ended"] is True and results["results"]["ended_at"] == reply["expires_at"]
    assert (await vote(alice, reply["poll_id"], "0"))["val"] == "Poll has expired"
    assert query(server, "SELECT ended FROM polls") == [(0,)]


# ---- deletion ---------------------------------------------------------------------------------


async def test_reads_show_the_poll_counts(server):
    """The official web client draws a poll's counts only from the message it holds: it does not
    redraw on `poll_vote_update` (its PollEmbed is memoised on an embed it changes in place), and
    the original's stored message had no counts, so its polls read "0 votes" even after a reload.
    Every read of a poll message now carries each option's `votes`, `total_votes`, `ended` and
    `ended_at` in the poll embed, as the results object has them (voters are never shown there)."""
    alice = await server.user("alice")
    bob = await server.user("bob")
    poll = await create(alice, options=["a", {"text": "b", "emoji": "☕", "id": "x"}, "c"], allow_multiselect=True)
    pid, mid = poll["poll_id"], poll["message_id"]
    await vote(alice, pid, "0", "x")
    await vote(bob, pid, "x")
    _, plain = await request(alice, "message_new", channel="general", content="after the poll")
    await bob.drain()

    def shown(message: dict[str, Any]) -> dict[str, Any]:
        (embed,) = message["embeds"]
        assert embed["type"] == "poll" and embed["title"] == "Tea or coffee?"
        return embed["poll"]

    expected = {"id": pid, "question": "Tea or coffee?",
                "options": [{"id": "0", "text": "a", "votes": 1}, {"id": "x", "text": "b", "emoji": "☕", "votes": 2},
                            {"id": "2", "text": "c", "votes": 0}],
                "allow_multiselect": True, "expires_at": None, "total_votes": 3, "ended": False, "ended_at": None}
    _, page = await request(bob, "messages_get", channel="general")
    assert [m["id"] for m in page["messages"]] == [mid, plain["message"]["id"]]
    assert shown(page["messages"][0]) == expected
    assert "embeds" not in page["messages"][1]
    _, around = await request(bob, "messages_around", channel="general", around=mid)
    assert shown(around["messages"][0]) == expected
    _, one = await request(bob, "message_get", channel="general", id=mid)
    assert shown(one["message"]) == expected
    # a vote taken back and an end show in the next read, and after a restart
    await vote(alice, pid, "0", remove=True)
    _, ended = await request(alice, "poll_end", poll_id=pid)
    await server.restart()
    bob = await server.user("bob")
    _, page = await request(bob, "messages_get", channel="general")
    assert shown(page["messages"][0]) == {
        **expected, "options": [{"id": "0", "text": "a", "votes": 0}, {"id": "x", "text": "b", "emoji": "☕", "votes": 2},
                                {"id": "2", "text": "c", "votes": 0}],
        "total_votes": 2, "ended": True, "ended_at": ended["results"]["ended_at"]}


async def test_deleting_the_poll_message_deletes_the_poll(server):
    """Flaw 5: the original left a votable poll record behind its deleted message."""
    alice = await server.user("alice")
    bob = await server.user("bob")
    poll = await create(alice)
    await vote(bob, poll["poll_id"], "1")
    _, reply = await request(alice, "message_delete", channel="general", id=poll["message_id"])
    assert reply["cmd"] == "message_delete"
    for table in ("polls", "poll_options", "poll_votes"):
        assert query(server, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    for fields in ({"poll_id": poll["poll_id"]}, {"message_id": poll["message_id"]}):
        _, reply = await request(bob, "poll_vote", option_id="1", **fields)
        assert reply["val"] == "Poll not found"
    await server.restart()
    bob = await server.user("bob")
    _, reply = await request(bob, "poll_get", poll_id=poll["poll_id"])
    assert reply["val"] == "Poll not found"


async def test_deleting_the_channel_deletes_its_polls(server):
    boss = await server.owner()
    await request(boss, "channel_create", name="side", type="text")
    side = await create(boss, channel="side")
    kept = await create(boss)
    await vote(boss, side["poll_id"], "0")
    await vote(boss, kept["poll_id"], "0")
    await request(boss, "channel_delete", name="side")
    assert query(server, "SELECT id FROM polls") == [(kept["poll_id"],)]
    assert query(server, "SELECT poll_id FROM poll_votes") == [(kept["poll_id"],)]
    assert query(server, "SELECT DISTINCT poll_id FROM poll_options") == [(kept["poll_id"],)]
    await server.restart()
    boss = await server.owner()
    _, reply = await request(boss, "poll_results", poll_id=side["poll_id"])
    assert reply["val"] == "Poll not found"
    _, reply = await request(boss, "poll_results", poll_id=kept["poll_id"])
    assert counts(reply["results"]) == {"0": 1, "1": 0}


# ---- limits, storage --------------------------------------------------------------------------


async def test_poll_create_takes_a_message_slot_and_poll_vote_a_broadcast_slot(make_server):
    """Flaw 4: polls were not rate limited (a spam vector)."""
    server = await make_server(rate_limiting=RateLimitingSection(
        burst_limit=2, cooldown_seconds=30, broadcast_burst_limit=2, broadcast_cooldown_seconds=30))
    alice = await server.user("alice")
    pid = (await create(alice))["poll_id"]
    await create(alice)
    _, reply = await request(alice, "poll_create", channel="general", question="Q", options=["a", "b"])
    assert reply["cmd"] == "rate_limit"
    await vote(alice, pid, "0")
    await vote(alice, pid, "1")
    assert (await vote(alice, pid, "0"))["cmd"] == "rate_limit"
    assert query(server, "SELECT COUNT(*) FROM polls") == [(2,)]


async def test_votes_survive_a_restart(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    pid = (await create(alice, allow_multiselect=True))["poll_id"]
    await vote(alice, pid, "0", "1")
    await vote(bob, pid, "1")
    await server.restart()
    alice = await server.user("alice")
    _, reply = await request(alice, "poll_results", poll_id=pid)
    assert counts(reply["results"]) == {"0": 1, "1": 2}
    assert [r["voted"] for r in reply["results"]["results"]] == [True, True]


async def test_thread_ids_are_checked_before_the_channel(server):
    alice = await server.user("alice")
    _, reply = await request(alice, "poll_create", channel="general", thread_id="t1", question="Q",
                             options=["a", "b"])
    assert reply["val"] == "Thread not found"


def test_poll_vote_uses_indexes(tmp_path: Path):
    """Every statement of a vote, and the reads around it, use an index: none scans a table."""
    from originchats.core.poll_records import Poll
    from originchats.core.writes import PollCreated, PollVoted
    from originchats.store import polls as poll_sql

    con = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    apply_migrations(con)
    poll_sql._poll_created(con, PollCreated(Poll(
        id="p", message_id="m", channel_id="c", thread_id=None, question="q",
        options=({"id": "a", "text": "a"}, {"id": "b", "text": "b"}), allow_multiselect=False, expires_at=None,
        created_by="u", created_at=0.0)))
    statements: list[str] = []
    con.set_trace_callback(statements.append)
    poll_sql._poll_voted(con, PollVoted(poll_id="p", user_id="u", option_ids=("a",), at=1.0, exclusive=True))
    poll_sql._poll_voted(con, PollVoted(poll_id="p", user_id="u", option_ids=("a",), at=1.0, remove=True))
    from originchats.core.ops import DuePolls, ReadPoll
    poll_sql.read_poll(con, ReadPoll("p", None, "u", 1.0))
    poll_sql.read_poll(con, ReadPoll(None, "m", "u", 1.0))
    poll_sql.due_polls(con, DuePolls(1.0, 10))
    con.set_trace_callback(None)
    triggers = ["UPDATE poll_options SET votes = votes + 1 WHERE poll_id = 'p' AND option_id = 'a'",
                "DELETE FROM polls WHERE message_id = 'm'"]
    checked = 0
    for sql in [s for s in statements if s.split()[0] in ("SELECT", "INSERT", "DELETE", "UPDATE")] + triggers:
        plan = " | ".join(row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (sql, plan)
        checked += 1
    assert checked >= 8
