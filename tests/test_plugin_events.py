"""The data of each plugin event (extended/plugins.md, "Events actually fired"; docs/plugins.md):
a recording plugin written into the data directory's `plugins/` folder, members acting over the
real protocol, and the exact data the plugin received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from originchats.config import PluginsSection
from originchats.server.app import SHUTDOWN_GRACE
from tests.client import Client, settle, until_reply
from tests.conftest import Server
from tests.test_plugins import ROBOT, folder, reload_all, write
from tests.threadworld import FORUM, new_thread, thread_config

RECORDER = '''
    import json, os

    EVENTS = {events!r}

    def getInfo():
        return {{"handles": EVENTS}}

    def record(event, data):
        with open(os.path.join(os.path.dirname(__file__), "events.jsonl"), "a") as out:
            out.write(json.dumps([event, data]) + "\\n")

    for _name in EVENTS:
        globals()["on_" + _name] = (lambda e: lambda api, data: record(e, data))(_name)
'''


async def recording(server: Server, boss: Client, *events: str) -> None:
    """Load a plugin that writes each of `events` it gets, with its data, to `events.jsonl`."""
    write(server, "recorder.py", RECORDER.format(events=list(events)))
    await reload_all(boss)


async def recorded(server: Server) -> list[tuple[str, dict[str, Any]]]:
    """What the recorder got so far, in order (once every plugin has run)."""
    await settle()
    path = folder(server) / "events.jsonl"
    if not path.exists():
        return []
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]  # type: ignore[misc]


async def ok(client: Client, cmd: str, **fields: Any) -> dict[str, Any]:
    await client.send(cmd, listener="ok", **fields)
    _, answer = await until_reply(client, "ok")
    assert answer["cmd"] not in ("error", "auth_error"), answer
    return answer


def boss_id(server: Server) -> str:
    user = server.hub.state.find_user("USR:local_boss")
    assert user is not None
    return user.id


MESSAGE_EVENTS = ("new_message", "message_edit", "message_delete", "message_pin", "message_unpin")


@pytest.fixture
def config(tmp_path: Path):
    """The thread world (tests/threadworld.py: seeded members, a forum), with plugins on."""
    return thread_config(tmp_path, plugins=PluginsSection(account=ROBOT))


async def test_message_events_name_the_channel_and_the_thread(server):
    alice = await server.user("alice")
    boss = await server.owner()
    await alice.drain()
    await recording(server, boss, *MESSAGE_EVENTS)
    mid = (await ok(alice, "message_new", channel="general", content="hello"))["message"]["id"]
    await ok(alice, "message_edit", channel="general", id=mid, content="hello again")
    await ok(boss, "message_pin", channel="general", id=mid)
    await ok(boss, "message_unpin", channel="general", id=mid)
    await ok(alice, "message_delete", channel="general", id=mid)
    thread = await new_thread(alice, "Talk")
    tid = (await ok(alice, "message_new", thread_id=thread["id"], content="in a thread"))["message"]["id"]
    await ok(alice, "message_edit", thread_id=thread["id"], id=tid, content="edited in a thread")
    await ok(alice, "message_delete", thread_id=thread["id"], id=tid)
    events = await recorded(server)
    a = {"user_id": alice.username, "username": alice.username}  # a seeded account's id is its name
    posted = [d for e, d in events if e == "new_message"]
    assert [(d["content"], d["channel"], d["thread_id"], d["user_id"]) for d in posted] == [
        ("hello", "general", None, alice.username), ("in a thread", FORUM, thread["id"], alice.username)]
    events = [(e, d) for e, d in events if e != "new_message"]
    b = {"user_id": boss_id(server), "username": boss.username}
    assert events == [
        ("message_edit", {"channel": "general", "thread_id": None, "id": mid, "content": "hello again", **a}),
        ("message_pin", {"channel": "general", "id": mid, "pinned": True, **b}),
        ("message_unpin", {"channel": "general", "id": mid, "pinned": False, **b}),
        ("message_delete", {"channel": "general", "id": mid, **a}),
        ("message_edit", {"channel": FORUM, "thread_id": thread["id"], "id": tid, "content": "edited in a thread",
                          **a}),
        ("message_delete", {"channel": FORUM, "thread_id": thread["id"], "id": tid, **a}),
    ]


async def test_role_events_and_self_assigned_roles(server):
    alice = await server.user("alice")
    boss = await server.owner()
    await alice.drain()
    await recording(server, boss, "role_create", "role_update", "role_delete", "self_role_add", "self_role_remove")
    rid = (await ok(boss, "role_create", name="fans", description="the fans", color="#ff0000",
                    self_assignable=True))["id"]
    await ok(boss, "role_update", name="fans", description="big fans", color="#00ff00")
    await ok(alice, "self_role_add", role="fans")
    await ok(alice, "self_role_remove", role="fans")
    await ok(boss, "role_set", id=rid, data={"name": "fanclub", "color": "#0000ff"})
    await ok(boss, "role_delete", id=rid)
    b = {"user_id": boss_id(server), "username": boss.username}
    a = {"user_id": alice.username, "username": alice.username}
    assert await recorded(server) == [
        ("role_create", {**b, "role_id": rid, "role_name": "fans", "description": "the fans", "color": "#ff0000"}),
        ("role_update", {**b, "role_id": rid, "role_name": "fans", "description": "big fans", "color": "#00ff00"}),
        ("self_role_add", {**a, "role_name": "fans"}),
        ("self_role_remove", {**a, "role_name": "fans"}),
        ("role_update", {**b, "role_id": rid, "role_name": "fanclub", "description": "big fans",
                         "color": "#0000ff"}),
        ("role_delete", {"role_id": rid, "role_name": "fanclub", **b}),
    ]


async def test_logins_disconnects_and_leaving_tell_who_with_roles_and_color(server, autojump_clock):
    boss = await server.owner()
    await recording(server, boss, "user_join", "user_connect", "user_disconnect", "user_leave")
    first = await server.user("mod")
    second = await server.user("mod")
    await first.close()
    await second.close()
    leaver = await server.user("alice")
    assert (await ok(leaver, "user_leave"))["val"] == "User left server"
    await leaver.wait_closed()
    mod = {"username": "USR:local_mod", "user_id": "USR:local_mod", "roles": ["moderator", "user"],
           "color": "#FFFF00"}
    alice = {"username": "USR:local_alice", "user_id": "USR:local_alice", "roles": ["user"], "color": None}
    assert await recorded(server) == [
        ("user_join", mod), ("user_connect", mod),  # the first socket
        ("user_join", mod),  # the second: no `user_connect`
        ("user_disconnect", mod),  # the last socket closed (not the first)
        ("user_join", alice), ("user_connect", alice),
        ("user_leave", {"username": "USR:local_alice", "user_id": "USR:local_alice"}),
        ("user_disconnect", alice),
    ]
    # the owner's socket is still open: at shutdown its `user_disconnect` finds the plugins stopped,
    # and the server still stops without waiting out its grace for that socket
    began = trio.current_time()
    await server.shutdown()
    assert trio.current_time() - began < SHUTDOWN_GRACE


async def test_a_kick_or_an_owners_delete_is_no_user_leave(server):
    boss = await server.owner()
    await recording(server, boss, "user_leave", "user_disconnect")
    mod = await server.user("mod")
    alice = await server.user("alice")
    await boss.drain()
    assert (await ok(boss, "user_leave", user=mod.username))["val"] == "User kicked"
    await mod.wait_closed()
    await ok(boss, "user_delete", user=alice.username)
    await alice.wait_closed()
    assert [(e, d["username"]) for e, d in await recorded(server)] == [
        ("user_disconnect", "USR:local_mod"), ("user_disconnect", "USR:local_alice")]
