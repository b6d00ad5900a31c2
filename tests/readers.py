"""Every reader of stored content, for the store-then-read tests (test_stored_content, test_fuzz)."""

from __future__ import annotations

from typing import Any

from originchats.core.handlers.message_rules import AROUND_CAP
from tests.client import Client, until_reply
from tests.conftest import Server


async def read_everything(client: Client, *, owner: bool) -> None:
    """Each reader a client has answers this client (no error), which stays connected: the
    history of `general` and three of its messages each way, the channel, role and user lists,
    this user's status, picture and roles, each role's permissions, the newest polls, the pins, a
    search, the replies and embeds of those messages, and for an owner the audit log."""
    name = client.username or ""
    await client.drain()
    await client.send("messages_get", channel="general", limit=100, listener="history")
    _, page = await until_reply(client, "history")
    assert page["cmd"] == "messages_get", page
    readers: list[dict[str, Any]] = [
        {"cmd": "channels_get"}, {"cmd": "roles_list"}, {"cmd": "users_list"}, {"cmd": "users_online"},
        {"cmd": "status_get", "user": name}, {"cmd": "pfp_get", "username": name}, {"cmd": "server_info"},
        {"cmd": "self_roles_list"}, {"cmd": "user_roles_get", "user": name},
        {"cmd": "unreads_get"}, {"cmd": "unreads_count", "channel": "general"}, {"cmd": "pings_get", "limit": 100},
    ]
    readers += [{"cmd": "messages_pinned", "channel": "general"},
                {"cmd": "messages_search", "channel": "general", "query": "e"},  # short: the scan
                {"cmd": "messages_search", "channel": "general", "query": "first"}]  # the index
    for m in page["messages"][-3:]:
        readers += [{"cmd": "message_replies", "channel": "general", "id": m["id"], "limit": 200},
                    {"cmd": "embeds_list", "channel": "general", "id": m["id"]}]
        readers += [{"cmd": "message_get", "channel": "general", "id": m["id"]},
                    {"cmd": "messages_around", "channel": "general", "around": m["id"],
                     "bounds": {"above": AROUND_CAP, "below": AROUND_CAP}}]
    polls = [m for m in page["messages"]  # made by poll_create: their embed names the poll
             if any(isinstance(e, dict) and isinstance(e.get("poll"), dict) and "id" in e["poll"]
                    for e in m.get("embeds") or ())]
    for m in polls[-4:]:
        readers += [{"cmd": "poll_get", "message_id": m["id"]}, {"cmd": "poll_results", "message_id": m["id"]}]
    await client.send("roles_list", listener="roles")
    _, roles = await until_reply(client, "roles")
    readers += [{"cmd": "role_permissions_get", "name": role} for role in roles["roles"]]
    if owner:
        readers += [{"cmd": "modlog_get", "limit": 200}, {"cmd": "modlog_summary"}]
    for i, request in enumerate(readers):
        await client.send(listener=f"read{i}", **request)
        _, reply = await until_reply(client, f"read{i}")
        assert reply["cmd"] != "error", (request, reply)
    await client.send("ping", listener="alive")
    assert (await until_reply(client, "alive"))[1]["cmd"] == "pong"


async def read_back(server: Server, owner: str = "boss", member: str = "bob") -> None:
    """Everything read back by an owner and by a member, on new connections."""
    for name, is_owner in ((owner, True), (member, False)):
        client = await server.user(name)
        await read_everything(client, owner=is_owner)
        await client.close()
