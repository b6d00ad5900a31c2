"""A small bot, speaking the protocol over its own socket as a chats.py bot does: it logs in as an
ordinary (cracked) account, registers slash commands, waits for the server's `slash_call`s and
answers them with `slash_response`. The slash tests drive it; it knows nothing of the server. It runs
over the `server` fixture's in-memory sockets; tests/test_bot_tcp.py runs the same flow over real TCP
with the `websockets` library chats.py is built on."""

from __future__ import annotations

from typing import Any

from tests.client import Client


def option(name: str, kind: str = "str", *, required: bool = True, choices: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "description": name, "type": kind, "choices": choices, "required": required}


def definition(name: str, *options: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"the {name} command", "options": list(options), **extra}


class Bot:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.username = client.username

    async def register(self, *commands: dict[str, Any]) -> dict[str, Any]:
        """Register; returns the server's answer (the `slash_register` reply, or an error)."""
        await self.client.send("slash_register", commands=list(commands), listener="reg")
        while True:
            packet = await self.client.recv()
            if packet.get("listener") == "reg":
                return packet

    async def next_call(self) -> dict[str, Any]:
        """The next `slash_call` the server forwards (other packets are skipped)."""
        while True:
            packet = await self.client.recv()
            if packet.get("cmd") == "slash_call":
                return packet

    async def respond(self, call: dict[str, Any], text: str, **extra: Any) -> dict[str, Any]:
        """Answer a call in its channel; returns the server's answer to the bot."""
        await self.client.send("slash_response", channel=call["channel"], command=call["val"]["command"],
                               response=text, listener="resp", **extra)
        while True:
            packet = await self.client.recv()
            if packet.get("listener") == "resp":
                return packet
