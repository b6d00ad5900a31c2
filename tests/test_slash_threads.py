"""Slash commands called in a thread (an addition to extended/slash.md): a `slash_call` with
`thread_id` is checked as a `message_new` in that thread is, the bot's `slash_call` names the
thread, and the answer (the bot's `slash_response`, or a built-in's result) is posted in it."""

from __future__ import annotations

from typing import Any

from tests.botclient import Bot, definition, option
from tests.client import Client, until_reply

ROLL = definition("roll", option("sides", "int", required=False))
BOARD = {"view": ["user"], "send": ["!quiet", "user"], "create_thread": ["user"]}


async def ask(client: Client, cmd: str, **fields: Any) -> dict[str, Any]:
    await client.send(cmd, listener="ask", **fields)
    return (await until_reply(client, "ask"))[1]


async def board(server) -> tuple[Client, Bot, Client, Client, str]:
    """A forum `board` with a thread alice made; a bot with /roll; carol watching."""
    boss = await server.owner()
    assert (await ask(boss, "channel_create", name="board", type="forum", permissions=BOARD))["cmd"] == "channel_create"
    bot = Bot(await server.user("dicebot"))
    alice, carol = await server.user("alice"), await server.user("carol")
    assert (await bot.register(ROLL))["cmd"] == "slash_register"
    made = await ask(alice, "thread_create", channel="board", name="games")
    for client in (boss, bot.client, alice, carol):
        await client.drain()
    return boss, bot, alice, carol, made["thread"]["id"]


async def in_thread(client: Client, thread_id: str) -> list[dict[str, Any]]:
    return (await ask(client, "thread_messages", thread_id=thread_id))["messages"]


async def test_a_bots_answer_to_a_call_in_a_thread_goes_into_that_thread(server):
    boss, bot, alice, carol, tid = await board(server)
    await alice.send("slash_call", thread_id=tid, command="roll", args={"sides": 6})
    call = await bot.next_call()
    assert call == {"cmd": "slash_call", "val": {"command": "roll", "args": {"sides": 6},
                                                 "commander": bot.username},
                    "invoker": call["invoker"], "invokerUsername": alice.username, "channel": "board",
                    "thread_id": tid}
    assert await alice.recv() == call
    # a chats.py bot echoes `channel` only: the answer still lands in the thread of the call
    answer = await bot.respond(call, "4")
    assert answer["cmd"] == "message_new" and answer["thread_id"] == tid and answer["channel"] == "board"
    assert answer["message"]["interaction"] == {"command": "roll", "username": alice.username}
    for viewer in (alice, carol):
        packet = await viewer.expect("message_new", thread_id=tid)
        assert packet["message"]["content"] == "4"
    # a bot that names the thread (and no channel) is answered the same way
    await alice.send("slash_call", thread_id=tid, channel="general", command="roll")
    call = await bot.next_call()
    assert call["thread_id"] == tid and call["channel"] == "board"  # thread_id wins, as in message_new
    await bot.client.send("slash_response", thread_id=tid, command="roll", response="2", listener="r2")
    _, second = await until_reply(bot.client, "r2")
    assert second["thread_id"] == tid
    assert [m["content"] for m in await in_thread(carol, tid)] == ["4", "2"]
    assert (await ask(carol, "thread_get", thread_id=tid))["thread"]["last_message_id"] == second["message"]["id"]
    general = (await ask(carol, "messages_get", channel="general"))["messages"]
    assert all(m.get("interaction") is None for m in general)  # nothing in the channel itself


async def test_a_builtin_called_in_a_thread_answers_there(server):
    boss, bot, alice, carol, tid = await board(server)
    await ask(boss, "thread_update", thread_id=tid, archived=True)
    await alice.drain()
    await carol.drain()
    await alice.send("slash_call", thread_id=tid, command="help")
    packets = await alice.drain()
    posted = [p for p in packets if p["cmd"] == "message_new"]
    assert len(posted) == 1 and posted[0]["thread_id"] == tid and posted[0]["channel"] == "board"
    assert posted[0]["message"]["content"].startswith("**Available Commands:**")
    assert posted[0]["message"]["interaction"] == {"command": "help", "username": alice.username}
    assert any(p["cmd"] == "thread_update" and p["thread"]["archived"] is False for p in packets)  # revived
    assert [m["content"] for m in await in_thread(carol, tid)] == [posted[0]["message"]["content"]]


async def test_a_call_in_a_thread_is_checked_as_a_post_in_it(server):
    boss, bot, alice, carol, tid = await board(server)
    await alice.send("slash_call", command="roll")
    await alice.expect_error("Channel parameter is required for slash commands", src="slash_call")
    await alice.send("slash_call", thread_id="no-such-thread", command="roll")
    await alice.expect_error("Thread not found", src="slash_call")
    await ask(boss, "role_create", name="quiet")
    await ask(boss, "user_roles_set", user=carol.username, roles=["quiet", "user"])
    await carol.drain()
    await carol.send("slash_call", thread_id=tid, command="roll")
    await carol.expect_error("You do not have permission to send messages in this thread", src="slash_call")
    # a call made, then the thread locked before the bot answers: the answer is refused
    await alice.send("slash_call", thread_id=tid, command="roll")
    call = await bot.next_call()
    await ask(boss, "thread_update", thread_id=tid, locked=True)
    refused = await bot.respond(call, "6")
    assert refused == {"cmd": "error", "src": "slash_response", "val": "This thread is locked", "listener": "resp"}
    await alice.drain()
    await alice.send("slash_call", thread_id=tid, command="roll")
    await alice.expect_error("This thread is locked", src="slash_call")
    assert await in_thread(carol, tid) == []
