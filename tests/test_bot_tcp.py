"""A bot and a member over real TCP sockets to the real `serve()` (issue 10: "the slash and bot flows
are tested with a bot client that speaks the protocol over a real socket").

The bot speaks through the `websockets` library, the one the published chats.py bot library is built
on (its blocking client, run in worker threads, since the tests are trio and websockets' own loop is
asyncio), so its framing and upgrade share no code with the server's (which builds on wsproto); the
member is the wsproto test client (tests/client.py) over a trio TCP stream. Each wait has a timeout;
nothing sleeps.
"""

from __future__ import annotations

import json
import uuid
from functools import partial
from typing import Any

import attrs
import pytest
import trio
from websockets.sync.client import ClientConnection, connect

from tests.botclient import definition, option
from tests.client import Client, sign_in
from tests.tcp import serving

LOCAL = "USR:local_"
WAIT = 10.0  # seconds for any one packet; the flow itself takes well under one


class SocketBot:
    """A chats.py-style bot: JSON text frames over a websockets connection; heartbeats skipped."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str) -> SocketBot:
        # proxy=None: a proxy set in the environment must not carry a loopback test connection
        ws = await trio.to_thread.run_sync(partial(connect, url, proxy=None, open_timeout=WAIT, legacy=True))
        return cls(ws)

    async def send(self, cmd: str, **fields: Any) -> None:
        await trio.to_thread.run_sync(self.ws.send, json.dumps({"cmd": cmd, **fields}))

    async def recv(self) -> dict[str, Any]:
        while True:
            packet = json.loads(await trio.to_thread.run_sync(self.ws.recv, WAIT))
            if packet.get("cmd") != "ping":
                return packet

    async def close(self) -> None:
        await trio.to_thread.run_sync(self.ws.close)


@attrs.define
class Tcp:
    """The real server on a loopback port, and the sockets a test opened to it (closed at teardown)."""

    nursery: trio.Nursery
    host: str
    port: int
    bots: list[SocketBot] = attrs.Factory(list)
    members: list[Client] = attrs.Factory(list)

    async def bot(self) -> SocketBot:
        """A bot logged in (registered) as `dicebot`, through the handshake and `ready`."""
        bot = await SocketBot.open(f"ws://{self.host}:{self.port}/")
        self.bots.append(bot)
        assert (await bot.recv())["cmd"] == "handshake"
        await bot.send("register", username="dicebot", password="pass1234")
        assert (await bot.recv())["cmd"] == "auth_success"
        assert (await next_of(bot, "ready"))["user"]["username"] == LOCAL + "dicebot"
        return bot

    async def member(self, name: str) -> Client:
        client = Client(await trio.open_tcp_stream(self.host, self.port))
        self.members.append(client)
        await client.open(self.nursery)
        await client.expect("handshake")
        return await sign_in(client, name, "pass1234")

    async def aclose(self) -> None:
        for bot in self.bots:
            await bot.close()
        for member in self.members:
            await member.stream.aclose()


@pytest.fixture
async def tcp(nursery: trio.Nursery, config) -> Tcp:  # type: ignore[no-untyped-def]
    async with serving(nursery, config) as (host, port, _):
        sockets = Tcp(nursery, host, port)
        yield sockets
        await sockets.aclose()


PRESENCE = {"user_join", "user_connect", "user_disconnect"}


async def next_of(client: Client | SocketBot, cmd: str) -> dict[str, Any]:
    """The next packet, which must be `cmd`; presence pushes (who joined, who is online) before it are
    passed over, since their order against the flow is not this test's subject."""
    with trio.fail_after(WAIT):
        while True:
            packet = await client.recv()
            if packet.get("cmd") not in PRESENCE:
                assert packet.get("cmd") == cmd, f"expected {cmd}, got {packet}"
                return packet


async def test_a_bot_on_a_real_socket_registers_answers_a_call_and_leaves(tcp):
    bot = await tcp.bot()
    alice = await tcp.member("alice")

    roll = definition("roll", option("sides", "int"), option("colour", "enum", required=False, choices=["red", "blue"]))
    await bot.send("slash_register", commands=[roll], listener="reg")
    shown = {**roll, "whitelistRoles": None, "blacklistRoles": None, "ephemeral": False,
             "registeredBy": LOCAL + "dicebot"}
    assert await next_of(alice, "slash_add") == {"cmd": "slash_add", "commands": [shown]}
    assert await next_of(bot, "slash_add") == {"cmd": "slash_add", "commands": [shown]}  # its own menu too
    assert await next_of(bot, "slash_register") == {"cmd": "slash_register", "listener": "reg",
                                                     "val": "1 commands registered successfully"}
    assert [c for c in (await alice.request("slash_list"))["commands"] if c["name"] == "roll"] == [shown]

    await alice.send("slash_call", channel="general", command="roll", args={"sides": 20, "colour": "red"},
                     listener="call")
    call = {"cmd": "slash_call", "channel": "general", "invoker": LOCAL + "alice", "invokerUsername": LOCAL + "alice",
            "val": {"command": "roll", "args": {"sides": 20, "colour": "red"}, "commander": LOCAL + "dicebot"}}
    assert await next_of(bot, "slash_call") == call
    assert await next_of(alice, "slash_call") == {**call, "listener": "call"}

    await bot.send("slash_response", channel="general", command="roll", response="a red 17", listener="resp")
    answer = await next_of(bot, "message_new")
    seen = await next_of(alice, "message_new")
    message = seen["message"]
    assert seen == {"cmd": "message_new", "channel": "general", "thread_id": None, "global": True, "message": {
        "user": LOCAL + "dicebot", "content": "a red 17", "timestamp": message["timestamp"], "id": message["id"],
        "pinned": False, "type": "message", "interaction": {"command": "roll", "username": LOCAL + "alice"},
        "pings": {"users": [], "roles": [], "replies": []}}}
    assert isinstance(message["timestamp"], float) and uuid.UUID(message["id"])
    assert answer == {**seen, "listener": "resp"}

    await bot.close()
    assert await next_of(alice, "slash_remove") == {"cmd": "slash_remove", "commands": ["roll"]}
