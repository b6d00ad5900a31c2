"""Slash commands and bots (extended/slash.md, issue 10 item 1), through the real protocol: a bot
(tests/botclient.py) on its own socket registers commands, receives members' calls and answers
them; members see the commands come and go in their `/` menu (`slash_add` / `slash_remove`, the
pushes the official client keeps its menu by). The built-ins act through the member commands'
own paths (permissions, audit, broadcasts, closing a banned member's sockets).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from originchats.config import RateLimitingSection
from originchats.config.sections import SlashSection
from tests.botclient import Bot, definition, option
from tests.client import until_reply
from tests.conftest import make_config

LOCAL = "USR:local_"
ROLL = definition("roll", option("sides", "int", required=False))
PICK = definition("pick", option("colour", "enum", choices=["red", "blue"]), option("note", required=False))


@pytest.fixture
def config(tmp_path: Path):
    return make_config(tmp_path, rate_limiting=RateLimitingSection(enabled=True),
                       slash=SlashSection(response_seconds=60.0, commands_per_connection=3))


async def bot_and_member(server, *commands):
    bot = Bot(await server.user("dicebot"))
    alice = await server.user("alice")
    await bot.client.drain()
    if commands:
        assert (await bot.register(*commands))["val"] == f"{len(commands)} commands registered successfully"
        await alice.drain()
        await bot.client.drain()
    return bot, alice


def listed(name: str, registrant: str, *options) -> dict:
    return {"name": name, "description": f"the {name} command", "options": list(options),
            "whitelistRoles": None, "blacklistRoles": None, "ephemeral": False, "registeredBy": registrant}


async def call(member, command: str, channel: str = "general", **args) -> None:
    await member.send("slash_call", channel=channel, command=command, args=args)


async def history(client, channel: str = "general") -> list[dict]:
    await client.send("messages_get", channel=channel, listener="h")
    _, page = await until_reply(client, "h")
    return page["messages"]


# ---- the menu ---------------------------------------------------------------------------------


async def test_a_bots_commands_enter_every_menu_and_leave_when_it_disconnects(server):
    bot, alice = await bot_and_member(server)
    await bot.client.send("slash_register", commands=[ROLL], listener="r")
    shown = listed("roll", LOCAL + "dicebot", option("sides", "int", required=False))
    assert await alice.recv() == {"cmd": "slash_add", "commands": [shown]}
    assert await bot.client.recv() == {"cmd": "slash_add", "commands": [shown]}
    assert await bot.client.recv() == {"cmd": "slash_register", "val": "1 commands registered successfully",
                                       "listener": "r"}
    menu = (await alice.request("slash_list"))["commands"]
    assert [c["name"] for c in menu] == ["ban", "help", "mute", "nick", "unban", "unmute", "roll"]
    assert menu[-1] == shown
    await bot.client.close()
    packets = await alice.drain()
    assert {"cmd": "slash_remove", "commands": ["roll"]} in packets
    assert [c["name"] for c in (await alice.request("slash_list"))["commands"]][-1] == "unmute"


async def test_registering_again_takes_dropped_names_out_of_the_menu(server):
    bot, alice = await bot_and_member(server, ROLL, PICK)
    await bot.register(PICK)
    packets = await alice.drain()
    assert packets == [{"cmd": "slash_remove", "commands": ["roll"]}]


async def test_a_shadowed_command_comes_back_when_the_first_bot_leaves(server):
    bot, alice = await bot_and_member(server, ROLL)
    other = Bot(await server.user("otherbot"))
    await bot.client.drain()
    await alice.drain()
    assert (await other.register(definition("roll")))["cmd"] == "slash_register"
    assert await alice.drain() == []  # the first registration keeps the name
    await bot.client.close()
    packets = [p for p in await alice.drain() if p["cmd"].startswith("slash")]
    assert packets == [{"cmd": "slash_add", "commands": [listed("roll", LOCAL + "otherbot")]}]
    await call(alice, "roll")
    assert (await other.next_call())["val"]["commander"] == LOCAL + "otherbot"


@pytest.mark.parametrize(("commands", "error"), [
    ("roll", "Commands must be provided as a list"),
    ([], "Invalid command schema: commands: at least one command"),
    ([definition("a"), definition("b"), definition("c"), definition("d")],
     "Invalid command schema: commands: at most 3 per connection"),
    ([definition("pick", option("colour", "enum"))],
     "Invalid command schema: commands[0].options[0].choices: required for type enum"),
    ([definition("roll", option("n", "integer"))],
     "Invalid command schema: commands[0].options[0].type: must be one of str, int, bool, enum, float"),
    ([definition("ban")], "Invalid command schema: commands[0].name: /ban is a built-in command"),
    ([definition("x" * 33)], "Invalid command schema: commands[0].name: at most 32 characters"),
    ([ROLL, definition("roll")], "Invalid command schema: commands: command names must be distinct"),
    ([ROLL, {"name": "bad"}], "Invalid command schema: commands[1].description: must be a string"),
])
async def test_a_bad_registration_is_refused_whole(server, commands, error):
    bot, alice = await bot_and_member(server)
    answer = await bot.register(*commands) if isinstance(commands, list) else None
    if answer is None:
        await bot.client.send("slash_register", commands=commands, listener="reg")
        answer = await bot.client.recv()
    assert answer == {"cmd": "error", "src": "slash_register", "val": error, "listener": "reg"}
    assert await alice.drain() == []
    assert [c["registeredBy"] for c in (await alice.request("slash_list"))["commands"]] == ["originChats"] * 6


async def test_registering_takes_a_slot_of_the_broadcast_bucket(server):
    """Each registration is pushed to every socket; the original did not limit them."""
    bot, alice = await bot_and_member(server)
    answers = [(await bot.register(definition(f"c{i}")))["cmd"] for i in range(11)]
    assert answers == ["slash_register"] * 10 + ["rate_limit"]


async def test_two_sessions_of_one_bot_may_both_register(server):
    """Flaw 5: the original refused a second session's commands if the user had any other socket."""
    bot, alice = await bot_and_member(server, ROLL)
    second = Bot(await server.user("dicebot"))
    assert (await second.register(PICK))["cmd"] == "slash_register"
    await bot.client.drain()
    await call(alice, "pick", colour="red")
    got = await second.next_call()
    assert got["val"] == {"command": "pick", "args": {"colour": "red"}, "commander": LOCAL + "dicebot"}
    await bot.client.assert_silent()


# ---- calls and responses ----------------------------------------------------------------------


async def test_a_call_reaches_the_bot_and_its_response_is_posted_as_the_bot(server):
    bot, alice = await bot_and_member(server, ROLL)
    await alice.send("slash_call", channel="general", command="roll", args={"sides": 6}, listener="c")
    expected = {"cmd": "slash_call", "val": {"command": "roll", "args": {"sides": 6}, "commander": LOCAL + "dicebot"},
                "invoker": LOCAL + "alice", "invokerUsername": LOCAL + "alice", "channel": "general"}
    assert await bot.next_call() == expected
    assert await alice.recv() == {**expected, "listener": "c"}
    answer = await bot.respond(expected, "  You rolled 4  ")
    message = answer["message"]
    assert answer["cmd"] == "message_new" and answer["channel"] == "general"
    assert (message["user"], message["content"]) == (LOCAL + "dicebot", "You rolled 4")
    assert message["interaction"] == {"command": "roll", "username": LOCAL + "alice"}
    seen = await alice.recv()
    assert seen["cmd"] == "message_new" and seen["message"]["id"] == message["id"]
    stored = (await history(alice))[-1]
    assert (stored["user"], stored["interaction"]) == (LOCAL + "dicebot", message["interaction"])


async def test_a_response_needs_a_waiting_call_of_the_bots_own_command(server, autojump_clock):
    """Flaw 1: any member could post as a "response" anywhere, with a forged invoker."""
    bot, alice = await bot_and_member(server, ROLL)
    fake = {"channel": "general", "val": {"command": "roll"}}
    no_call = "No call of /roll is waiting for a response in this channel (or its deadline passed)"
    assert (await bot.respond(fake, "unasked"))["val"] == no_call
    assert (await Bot(alice).respond(fake, "forged"))["val"] == "You have no slash command /roll registered"
    await call(alice, "roll")
    got = await bot.next_call()
    await alice.drain()
    assert (await bot.respond({**got, "channel": "random"}, "elsewhere"))["val"] == no_call
    assert (await bot.respond(got, "once"))["cmd"] == "message_new"
    assert (await bot.respond(got, "twice"))["val"] == no_call
    await call(alice, "roll")
    got = await bot.next_call()
    await trio.sleep(61)  # past response_seconds
    assert (await bot.respond(got, "late"))["val"] == no_call
    contents = [m["content"] for m in await history(alice)]
    assert "once" in contents and not {"unasked", "forged", "elsewhere", "twice", "late"} & set(contents)


async def test_a_response_needs_the_bots_view_and_send_in_the_channel(server):
    bot, alice = await bot_and_member(server, ROLL)
    boss = await server.owner()
    await boss.send("channel_create", name="staff", type="text", permissions={"view": ["owner"], "send": ["owner"]})
    await boss.drain()
    await bot.client.drain()
    await call(boss, "roll", channel="staff")
    got = await bot.next_call()
    assert got["channel"] == "staff"
    assert (await bot.respond(got, "leak"))["val"] == "Channel not found"
    await alice.drain()
    await call(alice, "roll", channel="staff")  # nor may a member call into a channel hidden from them
    await alice.expect_error("Channel not found", src="slash_call")


async def test_the_invoker_shown_is_the_caller_not_one_the_bot_names(server):
    bot, alice = await bot_and_member(server, ROLL)
    await call(alice, "roll")
    got = await bot.next_call()
    assert (await bot.respond(got, "x", invoker=LOCAL + "boss"))["cmd"] == "error"
    answer = await bot.respond(got, "x", invoker=LOCAL + "alice")
    assert answer["message"]["interaction"] == {"command": "roll", "username": LOCAL + "alice"}


async def test_a_response_gets_the_bots_rate_limit(server):
    """The original checked no limit on responses (the burst limit here is 10 in 10 s)."""
    bot, alice = await bot_and_member(server, ROLL)
    bob = await server.user("bob")
    await bot.client.drain()
    calls = []
    for member in (alice, bob) * 6:
        await call(member, "roll")
        calls.append(await bot.next_call())
    answers = [(await bot.respond(c, "r"))["cmd"] for c in calls]
    assert answers == ["message_new"] * 10 + ["rate_limit"] * 2


async def test_a_timed_out_member_cannot_call(server):
    bot, alice = await bot_and_member(server, ROLL)
    boss = await server.owner()
    await boss.send("user_timeout", user=LOCAL + "alice", timeout=60)
    await boss.expect("user_timeout")
    await alice.drain()
    await bot.client.drain()
    await call(alice, "roll")
    assert (await alice.recv())["cmd"] == "rate_limit"
    await bot.client.assert_silent()


@pytest.mark.parametrize(("command", "args", "error"), [
    ("roll", {"sides": "six"}, "Invalid value for 'sides': Expected an integer"),
    ("roll", {"sides": True}, "Invalid value for 'sides': Expected an integer"),
    ("pick", {"colour": "green"}, "Invalid value for 'colour': Expected one of red, blue"),
    ("pick", {"colour": 3}, "Invalid value for 'colour': Expected a string"),
    ("pick", {}, "Missing required argument: colour"),
    ("pick", {"colour": "red", "size": 2}, "Unknown argument: size"),
    ("nope", {}, "Unknown slash command: /nope"),
])
async def test_arguments_are_checked_before_the_bot_sees_them(server, command, args, error):
    """Flaw 2: the original let any JSON value through and never enforced choices."""
    bot, alice = await bot_and_member(server, ROLL, PICK)
    await call(alice, command, **args)
    await alice.expect_error(error, src="slash_call")
    await bot.client.assert_silent()


@pytest.mark.parametrize(("fields", "error", "src"), [
    ({"command": "roll"}, "Channel parameter is required for slash commands", "slash_call"),
    ({"channel": "general", "command": "roll", "args": [1]}, "Command args must be an object", None),
    ({"channel": "general", "command": 5}, "Command name must be a string", "slash_call"),
    ({"channel": "../users", "command": "roll"}, "Channel not found", "slash_call"),
])
async def test_bad_calls_are_refused(server, fields, error, src):
    bot, alice = await bot_and_member(server, ROLL)
    await alice.send("slash_call", **fields)
    await alice.expect_error(error, src=src)
    await bot.client.assert_silent()


async def test_calling_needs_use_slash_commands(server):
    """Flaw 4: the original never checked the permission."""
    bot, alice = await bot_and_member(server, ROLL)
    boss = await server.owner()
    await boss.send("role_update", name="user", permissions=["send_messages", "read_message_history"], listener="u")
    _, reply = await until_reply(boss, "u")
    assert reply["cmd"] == "role_update", reply
    await alice.drain()
    await bot.client.drain()
    await call(alice, "roll")
    await alice.expect_error("You do not have permission to use slash commands", src="slash_call")
    await bot.client.assert_silent()


async def test_whitelisted_roles_let_any_one_of_them_in(server):
    """Flaw 4: one rule (any-of) for built-ins and bots' commands alike."""
    bot, alice = await bot_and_member(server, definition("secret", whitelistRoles=["owner", "user"]),
                                      definition("hidden", blacklistRoles=["user"]))
    await call(alice, "secret")
    assert (await bot.next_call())["val"]["command"] == "secret"
    await alice.drain()
    await call(alice, "hidden")
    await alice.expect_error("Access denied: forbidden roles")


async def test_a_bot_speaking_like_chats_py_registers_and_answers(server):
    """chats.py sends `choices: []` and `whitelistRoles: []` for "none", and answers a call with
    `channel` and `invoker` only (no `command`)."""
    bot, alice = await bot_and_member(server)
    roll = {"name": "roll", "description": "Roll", "ephemeral": False, "whitelistRoles": [], "blacklistRoles": [],
            "options": [{"name": "sides", "type": "int", "description": "n", "required": False, "choices": []}]}
    assert (await bot.register(roll))["cmd"] == "slash_register"
    await alice.drain()
    await call(alice, "roll", sides=20)
    got = await bot.next_call()
    await bot.client.send("slash_response", response="17", invoker=got["invoker"], channel=got["channel"],
                          ephemeral=False)
    packet = await alice.recv()
    while packet["cmd"] != "message_new":
        packet = await alice.recv()
    assert packet["message"]["interaction"] == {"command": "roll", "username": LOCAL + "alice"}
    await bot.client.drain()
    await bot.client.send("slash_response", response="again", invoker=got["invoker"], channel=got["channel"])
    await bot.client.expect_error("Command parameter is required for slash responses", src=None)


# ---- built-ins --------------------------------------------------------------------------------


async def result(client) -> dict:
    while True:
        packet = await client.recv()
        if packet.get("cmd") in ("message_new", "error"):
            return packet


async def test_help_lists_what_the_caller_may_use(server):
    """Flaw 3: the original's /help always failed."""
    bot, alice = await bot_and_member(server, ROLL, definition("server_x"), definition("ops", whitelistRoles=["owner"]))
    await call(alice, "help")
    packet = await result(alice)
    assert packet["message"]["user"] == "originChats"
    assert packet["message"]["interaction"] == {"command": "help", "username": LOCAL + "alice"}
    assert packet["message"]["content"] == ("**Available Commands:**\n• `/help` - Show the commands you can use\n"
                                            "• `/nick` - Set or clear your nickname\n• `/roll` - the roll command")


async def test_nick_sets_and_clears_the_nickname_like_the_member_command(server):
    bot, alice = await bot_and_member(server)
    await call(alice, "nick", nickname=" Ally ")
    event = {"cmd": "nickname_update", "user": LOCAL + "alice", "username": LOCAL + "alice", "nickname": "Ally"}
    assert await bot.client.recv() == event
    assert await alice.recv() == event
    assert (await result(alice))["message"]["content"] == "Nickname set to **Ally**"
    await call(alice, "nick")
    assert (await alice.recv())["cmd"] == "nickname_remove"
    assert (await result(alice))["message"]["content"] == "Nickname cleared"
    await call(alice, "nick", nickname="x" * 21)
    await alice.expect_error("Nickname too long (max 20 characters)", src="slash_call")


async def test_ban_needs_manage_users_and_acts_as_user_ban(server):
    """Flaw 6: permissions, not role names; the ban goes through user_ban's path (sessions,
    sockets, audit)."""
    bot, alice = await bot_and_member(server, ROLL)
    token = bot.client.ready["validator"]
    await call(alice, "ban", username="dicebot")
    await alice.expect_error("Access denied: 'manage_users' permission required", src="slash_call")
    boss = await server.owner()
    await alice.drain()
    await bot.client.drain()
    await call(boss, "ban", username="dicebot", reason="spam")
    assert await bot.client.recv() == {"cmd": "disconnect", "reason": "You have been banned"}
    await bot.client.wait_closed()
    packets = await alice.drain()
    assert {"cmd": "slash_remove", "commands": ["roll"]} in packets
    shown = [p for p in packets if p["cmd"] == "message_new"][0]["message"]
    assert shown["content"] == f"🚫 **{LOCAL}dicebot** has been banned.\n**Reason:** spam"
    assert shown["interaction"] == {"command": "ban", "username": LOCAL + "boss"}
    await boss.drain()
    await boss.send("modlog_get")
    entry = (await boss.expect("modlog_get"))["entries"][0]
    assert (entry["action"], entry["actor_id"]) == ("user_ban", LOCAL + "boss")
    await call(boss, "ban", username="dicebot")
    await boss.expect_error(f"User '{LOCAL}dicebot' is already banned")
    await call(boss, "unban", username="dicebot")
    assert (await result(boss))["message"]["content"] == f"✅ **{LOCAL}dicebot** has been unbanned."
    await call(boss, "unban", username="ghost")
    await boss.expect_error("User 'ghost' not found")
    # as with user_ban, the bot's sessions were revoked: its token no longer logs in after the unban
    again = await server.connect()
    await again.send("login", username="dicebot", token=token)
    assert (await again.recv())["cmd"] == "auth_error"


async def test_mute_and_unmute_really_time_out_and_release(server):
    """Flaw 3: the original's /unmute left the timeout in place."""
    alice = await server.user("alice")
    boss = await server.owner()
    await alice.drain()
    await call(boss, "mute", username="alice", duration=600, reason="calm down")
    assert (await alice.recv())["cmd"] == "rate_limit"
    assert "muted for 600 seconds" in (await result(boss))["message"]["content"]
    await alice.drain()
    await alice.send("message_new", channel="general", content="hello?")
    assert (await alice.recv())["cmd"] == "rate_limit"
    await call(boss, "unmute", username="alice")
    assert (await result(boss))["message"]["content"] == f"🔊 **{LOCAL}alice** has been unmuted."
    await alice.drain()
    await alice.send("message_new", channel="general", content="free", listener="m")
    _, reply = await until_reply(alice, "m")
    assert reply["cmd"] == "message_new"
    await boss.drain()
    await call(boss, "mute", username="alice", duration="ten")
    await boss.expect_error("Invalid value for 'duration': Expected an integer")
