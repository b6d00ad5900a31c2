"""A commit that fails leaves the server exactly as it was before the command (hardening issue,
defect 8: a `register` whose save failed left a logged-in socket and an account that existed only
in memory; after a restart its posts remained and its name could be taken again).

The failure is real: TEMP triggers on the writer's own SQLite connection make every INSERT, UPDATE
and DELETE abort, as a full disk would, for exactly one command. Each write command is tried this
way. Afterwards the in-memory state equals the state before the command, nothing was broadcast,
the caller got the failure answer, and a restart loads the same state from the database.
"""

from __future__ import annotations

import base64
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from originchats.config import RateLimitingSection, RoturSection
from originchats.core.dispatch import AUTH_HANDLERS, HANDLERS, OPERATOR_HANDLERS
from originchats.core.state import ServerState
from tests import media_samples
from tests.client import Client, _Threads, settle
from tests.conftest import make_config
from tests.test_rotur import rotur  # noqa: F401  (the fake Rotur fixture)

LOCAL = "USR:local_"
EMOJI = "data:image/png;base64," + base64.b64encode(media_samples.image("PNG")).decode()


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    # the limiter is on (rate_limit_reset and user_timeout need it), and never refuses here: a
    # command's rate-limit slot is taken back with the rest of it when its commit fails
    return make_config(tmp_path, rate_limiting=RateLimitingSection(messages_per_minute=10_000, burst_limit=10_000))


async def _on_writer(server, fn) -> None:  # type: ignore[no-untyped-def]
    """Run `fn(con)` on the writer's connection, between two of its commits."""
    writer = server.hub.writer
    await _Threads.original(fn, writer.con, limiter=writer._limiter)


def _fail_all(con) -> None:  # type: ignore[no-untyped-def]
    tables = [r[0] for r in con.execute(  # virtual tables (FTS5) take no triggers; their shadow tables do
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'")]
    for table in tables:
        for op in ("INSERT", "UPDATE", "DELETE"):
            con.execute(f"CREATE TEMP TRIGGER fail_{op}_{table} BEFORE {op} ON main.{table} "
                        "BEGIN SELECT RAISE(ABORT, 'injected: database or disk is full'); END")


def _heal(con) -> None:  # type: ignore[no-untyped-def]
    for (name,) in con.execute("SELECT name FROM sqlite_temp_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER temp.{name}")


def persisted(state: ServerState) -> dict[str, Any]:
    """The parts of the state that are loaded from the database at start."""
    return {"users": dict(state.users), "names": dict(state.names), "roles": dict(state.roles),
            "channels": state.channels, "sessions": dict(state.sessions), "server_info": dict(state.server_info),
            "timeouts": {u: b.timeout_until for u, b in state.rate_limits.items() if b.timeout_until},
            "threads": dict(state.threads), "emojis": dict(state.emojis), "server_assets": dict(state.server_assets),
            "attachments": dict(state.attachments), "webhooks": dict(state.webhooks),
            "webhook_tokens": dict(state.webhook_tokens)}


@attrs.define
class World:
    boss: Client
    bob: Client
    carl: Client
    message_id: str
    clients: list[Client]
    thread_id: str = ""  # bob's thread in the forum `board`
    poll_id: str = ""
    attachment_id: str = ""  # bob's upload
    webhook_id: str = ""  # boss's webhook in general


async def make_world(server) -> World:  # type: ignore[no-untyped-def]
    boss = await server.owner("boss")
    bob = await server.user("bob")
    carl = await server.user("carl")
    eve = await server.user("eve")
    await boss.send("channel_create", name="side", type="text")
    await boss.send("role_create", name="helper", self_assignable=True)
    await boss.send("user_ban", user=LOCAL + "eve")
    await settle()  # the role exists before carl asks for it (through another gateway in a cluster)
    await carl.send("self_role_add", role="helper")
    await bob.send("message_new", channel="general", content="hello", listener="m")
    await settle()
    message_id = None
    for packet in await bob.drain():
        if packet.get("listener") == "m":
            message_id = packet["message"]["id"]
    assert message_id is not None
    await boss.send("message_react_add", channel="general", id=message_id, emoji="👍")
    await boss.send("emoji_add", name="wave", image=EMOJI)  # emoji 0
    await boss.send("channel_create", name="board", type="forum",
                    permissions={"view": ["user"], "send": ["user"], "create_thread": ["user"]})
    await settle()
    await bob.send("thread_create", channel="board", name="topic", listener="t")
    await settle()
    thread_id = None
    for packet in await bob.drain():
        if packet.get("listener") == "t":
            thread_id = packet["thread"]["id"]
    assert thread_id is not None
    await carl.send("thread_join", thread_id=thread_id)
    await settle()
    for client in (boss, bob, carl, eve):
        await client.drain()
    await bob.send("poll_create", channel="general", question="Q?", options=["a", "b"], listener="p")
    await settle()
    poll_id = None
    for packet in await bob.drain():
        if packet.get("listener") == "p":
            poll_id = packet["poll_id"]
    assert poll_id is not None
    for client in (boss, bob, carl, eve):
        await client.drain()
    from tests.test_attachments import uploaded
    attachment = await uploaded(server, bob, b"bob's file")
    # carl is a bot with /echo, and bob's call of it waits for carl's slash_response
    await carl.send("slash_register", commands=[{"name": "echo", "description": "", "options": []}])
    await settle()
    await bob.send("slash_call", channel="general", command="echo")
    await settle()
    for client in (boss, bob, carl):
        await client.drain()
    hook = await boss.request("webhook_create", channel="general", name="CI")
    assert hook["cmd"] == "webhook_create", hook
    return World(boss=boss, bob=bob, carl=carl, message_id=message_id, clients=[boss, bob, carl],
                 thread_id=thread_id, poll_id=poll_id, attachment_id=attachment["id"],
                 webhook_id=hook["webhook"]["id"])


#: command -> (who sends it, its fields); every write command of the protocol is here.
def cases(w: World) -> dict[str, tuple[Client, dict[str, Any]]]:
    mid = w.message_id
    return {
        "message_new": (w.bob, {"channel": "general", "content": "lost"}),
        "message_edit": (w.bob, {"channel": "general", "id": mid, "content": "edited"}),
        "message_delete": (w.bob, {"channel": "general", "id": mid}),
        "message_react_add": (w.bob, {"channel": "general", "id": mid, "emoji": "🎉"}),
        "message_react_remove": (w.boss, {"channel": "general", "id": mid, "emoji": "👍"}),
        "status_set": (w.bob, {"status": "dnd", "text": "busy"}),
        "nickname_update": (w.bob, {"nickname": "Bobby"}),
        "nickname_remove": (w.carl, {}),
        "pfp_set": (w.bob, {"url": "https://img.example/bob.png"}),
        "user_ban": (w.boss, {"user": LOCAL + "bob", "reason": "spam"}),
        "user_unban": (w.boss, {"user": LOCAL + "eve"}),
        "user_timeout": (w.boss, {"user": LOCAL + "bob", "timeout": 60}),
        "user_update": (w.boss, {"user": LOCAL + "bob", "updates": {"nickname": "B"}}),
        "user_roles_set": (w.boss, {"user": LOCAL + "bob", "roles": ["user", "helper"]}),
        "user_leave": (w.bob, {}),
        "user_delete": (w.boss, {"user": LOCAL + "bob"}),
        "channel_create": (w.boss, {"name": "extra", "type": "text"}),
        "channel_update": (w.boss, {"current_name": "side", "updates": {"name": "side2"}}),
        "channel_move": (w.boss, {"name": "side", "position": 0}),
        "channel_delete": (w.boss, {"name": "side"}),
        "role_create": (w.boss, {"name": "fresh"}),
        "role_update": (w.boss, {"name": "helper", "color": "#123456"}),
        "role_set": (w.boss, {"name": "helper", "data": {"color": "#654321"}}),
        "role_reorder": (w.boss, {"roles": ["owner", "admin", "user", "helper"]}),
        "role_delete": (w.boss, {"name": "helper"}),
        "role_permissions_set": (w.boss, {"name": "helper", "permissions": ["send_messages"]}),
        "self_role_add": (w.bob, {"role": "helper"}),
        "self_role_remove": (w.carl, {"role": "helper"}),
        "server_update": (w.boss, {"name": "Renamed"}),
        "plugins_reload": (w.boss, {}),
        "rate_limit_reset": (w.boss, {"user": LOCAL + "bob"}),
        "logout": (w.bob, {}),
        "password_change": (w.bob, {"old_password": "pass1234", "new_password": "newpass99"}),
        "thread_create": (w.carl, {"channel": "board", "name": "another"}),
        "thread_update": (w.bob, {"thread_id": w.thread_id, "name": "renamed", "archived": True}),
        "thread_delete": (w.bob, {"thread_id": w.thread_id}),
        "thread_join": (w.boss, {"thread_id": w.thread_id}),
        "thread_leave": (w.carl, {"thread_id": w.thread_id}),
        "poll_create": (w.bob, {"channel": "general", "question": "Lost?", "options": ["a", "b"]}),
        "poll_vote": (w.carl, {"poll_id": w.poll_id, "option_id": "0"}),
        "poll_end": (w.bob, {"poll_id": w.poll_id}),
        "unreads_ack": (w.bob, {"channel": "general", "message_id": mid}),
        "message_pin": (w.boss, {"channel": "general", "id": mid}),
        "message_unpin": (w.boss, {"channel": "general", "id": mid}),
        "attachment_delete": (w.bob, {"attachment_id": w.attachment_id}),
        "emoji_add": (w.boss, {"name": "fresh", "image": EMOJI}),
        "emoji_update": (w.boss, {"emoji_id": 0, "name": "renamed", "image": EMOJI}),
        "emoji_delete": (w.boss, {"emoji_id": 0}),
        "slash_call": (w.bob, {"channel": "general", "command": "nick", "args": {"nickname": "Bobby"}}),
        "slash_response": (w.carl, {"channel": "general", "command": "echo", "response": "lost"}),
        "webhook_create": (w.boss, {"channel": "general", "name": "Feed"}),
        "webhook_update": (w.boss, {"id": w.webhook_id, "name": "Renamed"}),
        "webhook_regenerate": (w.boss, {"id": w.webhook_id}),
        "webhook_delete": (w.boss, {"id": w.webhook_id}),
        "push_subscribe": (w.bob, {"subscription": {"endpoint": "https://push.example.com/b",
                                                    "keys": {"p256dh": "a", "auth": "b"}}}),
    }


#: commands that change nothing stored (reads, presence, pings)
READ_ONLY = {"slash_list", "slash_register", "channels_get", "message_get", "messages_around", "messages_get", "modlog_get", "modlog_summary",
             "pfp_get", "ping", "plugins_list", "rate_limit_status", "role_permissions_get", "roles_list",
             "self_roles_list", "server_info", "status_get", "typing", "user_roles_get", "users_banned_list",
             "users_list", "users_online", "thread_get", "thread_messages", "poll_results", "poll_get",
             # unread state and the pings inbox (messages_get's auto-acknowledge may write: its
             # failure still answers the page, tests/test_unreads.py)
             "unreads_get", "unreads_count", "pings_get",
             "messages_pinned", "messages_search", "message_replies", "embeds_list", "attachment_get",
             "emoji_get_all", "emoji_get_id", "emoji_get_filename", "webhook_get", "webhook_list",
             # web push: the key; unsubscribing what is not there stores nothing (tests/test_push.py
             # unsubscribes for real); voice state is kept in memory only
             "push_get_vapid", "push_unsubscribe",
             "voice_join", "voice_leave", "voice_mute", "voice_unmute", "voice_state"}


def test_every_command_is_either_tried_here_or_read_only():
    """A new write command must be added to `cases` (or, if it stores nothing, to READ_ONLY)."""
    tried = set(cases(World(*(None,) * 5)))  # type: ignore[arg-type]
    assert tried | READ_ONLY == set(HANDLERS), set(HANDLERS) ^ (tried | READ_ONLY)
    assert not tried & READ_ONLY


@pytest.mark.parametrize("cmd", sorted(cases(World(*(None,) * 5))))  # type: ignore[arg-type]
async def test_a_failed_commit_leaves_no_trace(server, cmd):
    w = await make_world(server)
    sender, fields = cases(w)[cmd]
    before = server.hub.state
    await _on_writer(server, _fail_all)
    await sender.send(cmd, listener="L", **fields)
    assert await sender.recv() == {"cmd": "error", "src": cmd, "val": "Failed to save changes", "listener": "L"}
    await _on_writer(server, _heal)
    for client in w.clients:
        await client.assert_silent()
    assert server.hub.state == before
    # the database agrees with memory: a restart loads the same state
    await server.restart()
    assert persisted(server.hub.state) == persisted(before)


async def test_a_failed_registration_logs_nobody_in_and_keeps_the_name_free(server):
    await server.user("alice")
    before = server.hub.state
    ann = await server.connect()
    await _on_writer(server, _fail_all)
    await ann.send("register", username="ann", password="pass1234")
    assert await ann.recv() == {"cmd": "auth_error", "val": "Registration failed"}
    await _on_writer(server, _heal)
    assert {k: v for k, v in attrs.asdict(server.hub.state, recurse=False).items() if k != "conns"} == \
        {k: v for k, v in attrs.asdict(before, recurse=False).items() if k != "conns"}
    # the socket is not logged in, and nobody heard of `ann`
    await ann.send("users_list")
    assert await ann.recv() == {"cmd": "auth_error", "val": "Authentication required"}
    await server.restart()
    assert LOCAL + "ann" not in server.hub.state.users
    again = await server.connect()
    await again.send("register", username="ann", password="pass1234")
    assert (await again.recv())["cmd"] == "auth_success"


async def test_a_failed_login_token_write_logs_nobody_in(server):
    alice = await server.user("alice")
    token = alice.ready["validator"]
    await alice.close()
    await settle()
    before = persisted(server.hub.state)
    again = await server.connect()
    await _on_writer(server, _fail_all)
    await again.send("login", username="alice", password="pass1234")
    assert await again.recv() == {"cmd": "auth_error", "val": "Authentication failed"}
    await again.send("login", username="alice", token=token)
    assert await again.recv() == {"cmd": "auth_error", "val": "Authentication failed"}
    await _on_writer(server, _heal)
    await again.send("users_list")
    assert await again.recv() == {"cmd": "auth_error", "val": "Authentication required"}
    assert persisted(server.hub.state) == before
    # the session token was not spent by the failed login
    await again.send("login", username="alice", token=token)
    assert (await again.recv())["cmd"] == "auth_success"


async def test_a_failed_operator_command_answers_in_the_operator_shape(server):
    await server.user("alice")
    before = server.hub.state
    await _on_writer(server, _fail_all)
    for request in ({"cmd": "grant-owner", "user": "alice"}, {"cmd": "ban", "user": "alice"},
                    # its save is in the continuation after the password is hashed
                    {"cmd": "reset-password", "user": "alice", "password": "newpass99"}):
        assert await server.admin(request) == {"ok": False, "message": "Failed to save changes"}
    await _on_writer(server, _heal)
    assert server.hub.state == before
    assert set(OPERATOR_HANDLERS) >= {"grant-owner", "ban", "unban"}


async def test_pipelined_messages_after_a_failure_are_still_stored_in_order(server):
    """A failure undoes its own step only: the messages queued behind it, once the disk is back,
    are stored and announced in order."""
    alice = await server.user("alice")
    await _on_writer(server, _fail_all)
    await alice.send("message_new", channel="general", content="lost", listener="0")
    assert (await alice.recv())["val"] == "Failed to save changes"
    await _on_writer(server, _heal)
    for i in range(1, 6):
        await alice.send("message_new", channel="general", content=f"m{i}", listener=str(i))
    got = [await alice.recv() for _ in range(5)]
    assert [p["listener"] for p in got] == ["1", "2", "3", "4", "5"]
    await alice.send("messages_get", channel="general")
    history = await alice.expect("messages_get")
    assert [m["content"] for m in history["messages"]] == ["m1", "m2", "m3", "m4", "m5"]


async def test_a_failed_rotur_signup_logs_nobody_in(make_server, rotur):
    server = await make_server(rotur=RoturSection(validate_url=rotur.url, timeout_seconds=2))
    rotur.user("v-rita", "usr_rita", "Rita")
    before = persisted(server.hub.state)
    rita = await server.connect()
    await _on_writer(server, _fail_all)
    await rita.send("auth", validator="v-rita")
    assert await rita.recv() == {"cmd": "auth_error", "val": "Authentication failed"}
    await _on_writer(server, _heal)
    assert persisted(server.hub.state) == before
    await rita.send("users_list")
    assert await rita.recv() == {"cmd": "auth_error", "val": "Authentication required"}
    await rita.send("auth", validator="v-rita")
    assert (await rita.recv())["cmd"] == "auth_success"


def test_every_auth_command_is_tried():
    # register, login (password and token), auth (Rotur): the tests above
    assert set(AUTH_HANDLERS) == {"auth", "login", "register"}


# ---- core/revert.py, the rule itself ------------------------------------------------------------

def test_revert_takes_back_a_chain_of_failed_steps_newest_first_and_keeps_later_changes():
    from originchats.core.model import User
    from originchats.core.revert import revert
    from originchats.core.state import Conn

    s0 = ServerState().with_conn(Conn(id=1, validator_key="k"))
    s1 = s0.with_user(User(id="u", username="u", status="online"))  # fails
    s2 = s1.with_user(User(id="u", username="u", status="dnd"))  # built on it, fails too
    s3 = s2.with_conn(Conn(id=2, validator_key="k2"))  # someone connects meanwhile: not a failed step
    state = revert(revert(s3, s1, s2), s0, s1)
    assert state.users == {} and state.names == {}
    assert set(state.conns) == {1, 2}
    # a key changed since the failed step keeps its newer value (the connection closed meanwhile)
    t1 = s0.with_conn(Conn(id=1, validator_key="k", user_id="u", username="u"))
    t2 = t1.without_conn(1)
    assert 1 not in revert(t2, s0, t1).conns


async def test_a_socket_hears_nothing_before_its_own_auth_success(server):
    """A login counts only once its session token is stored: while the commit waits, broadcasts to
    logged-in sockets (here a `typing`) do not reach the socket that is logging in."""
    bob = await server.user("bob")
    await server.user("alice")
    alice = await server.connect()
    limiter = server.hub.writer._limiter
    await limiter.acquire()  # the writer cannot commit until released
    try:
        await alice.send("login", username="alice", password="pass1234")
        with trio.fail_after(10):  # the password is checked; the token's commit waits for the writer
            while not limiter.statistics().tasks_waiting:
                await trio.testing.wait_all_tasks_blocked(cushion=0.001)
        await bob.send("typing", channel="general")
        await trio.testing.wait_all_tasks_blocked()
        assert alice._recv.statistics().current_buffer_used == 0  # nothing reached alice
    finally:
        limiter.release()
    assert (await alice.recv())["cmd"] == "auth_success"
    assert (await alice.recv())["cmd"] == "ready"
    await alice.assert_silent()
