"""Rotur `auth` (auth.md §4) against a fake Rotur validate endpoint on loopback (trio + h11).

The fake answers per validator from a table; a validator can be *held*: the fake keeps the request
open until the test sets an event (no sleeping), which shows that a slow Rotur stalls nobody.
"""

from __future__ import annotations

import json
import socket
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import h11
import pytest
import trio
import trio.testing

from originchats.config import AuthSection, LimitsSection, NetworkSection, RoturSection
from originchats.core.ops import RoturValidate
from originchats.server.ops import OpRunner
from tests.conftest import Server, make_config
from tests.offline import ban_offline, edit_offline, query

INVALID = {"cmd": "auth_error", "val": "Invalid authentication"}
UNAVAILABLE = {"cmd": "auth_error", "val": "Authentication service unavailable, please try again"}
AUTH_REQUIRED = {"cmd": "auth_error", "val": "Authentication required"}
BUSY = {"cmd": "auth_error", "val": "Too many authentication requests in progress, please try again shortly"}


@attrs.define
class FakeRotur:
    answers: dict[str, tuple[int, bytes]] = attrs.Factory(dict)  # validator -> (status, body)
    held: dict[str, trio.Event] = attrs.Factory(dict)  # validator -> released when set
    arrived: dict[str, trio.Event] = attrs.Factory(dict)  # validator -> set when its request came
    requests: list[dict[str, list[str]]] = attrs.Factory(list)
    url: str = ""
    held_prefix: tuple[str, trio.Event] | None = None  # every validator starting with it is held
    profiles: dict[str, dict[str, Any]] = attrs.Factory(dict)  # username -> `/profile` answer (attachments)

    def answer(self, validator: str, body: Any, status: int = 200) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[validator] = (status, raw)

    def user(self, validator: str, uid: str, username: str) -> None:
        self.answer(validator, {"valid": True, "id": uid, "username": username})

    def hold(self, validator: str) -> trio.Event:
        self.arrived[validator] = trio.Event()
        self.held[validator] = trio.Event()
        return self.held[validator]

    def hold_prefix(self, prefix: str) -> trio.Event:
        self.held_prefix = (prefix, trio.Event())
        return self.held_prefix[1]

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            request = None
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    return
            params = parse_qs(urlsplit(request.target.decode()).query, keep_blank_values=True)
            self.requests.append(params)
            if urlsplit(request.target.decode()).path.endswith("/profile"):
                name = params.get("name", [""])[0]
                raw = json.dumps(self.profiles[name]).encode() if name in self.profiles else b'{"error": "no"}'
                status = 200 if name in self.profiles else 404
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
                    ("content-type", "application/json"), ("content-length", str(len(raw))), ("connection", "close"),
                ])))
                await stream.send_all(conn.send(h11.Data(data=raw)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
                return
            validator = params.get("v", [""])[0]
            self.arrived.setdefault(validator, trio.Event()).set()
            if validator in self.held:
                await self.held[validator].wait()
            elif self.held_prefix is not None and validator.startswith(self.held_prefix[0]):
                await self.held_prefix[1].wait()
            status, body = self.answers.get(validator, (200, b'{"valid": false}'))
            await stream.send_all(conn.send(h11.Response(status_code=status, headers=[
                ("content-type", "application/json"), ("content-length", str(len(body))), ("connection", "close"),
            ])))
            await stream.send_all(conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))


@pytest.fixture
async def rotur(nursery: trio.Nursery) -> FakeRotur:
    fake = FakeRotur()
    listeners = await nursery.start(partial(trio.serve_tcp, fake.handle, 0, host="127.0.0.1"))
    fake.url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/validate"
    return fake


@pytest.fixture
async def config(tmp_path: Path, rotur: FakeRotur):
    return make_config(tmp_path, auth_mode="rotur", rotur=RoturSection(validate_url=rotur.url, timeout_seconds=2))


async def rotur_login(server: Server, rotur: FakeRotur, validator: str, uid: str, username: str, ip: str = "local"):
    """A connected, authenticated Rotur user (auth packets drained)."""
    rotur.user(validator, uid, username)
    client = await server.connect(ip=ip)
    await client.send("auth", validator=validator)
    await client.expect("auth_success")
    client.ready = await client.expect("ready")
    await client.drain()
    return client


def brief(username: str) -> dict:
    return {"username": username, "roles": ["user"], "color": None}


async def test_new_rotur_user_joins_and_connects(server, rotur):
    alice = await rotur_login(server, rotur, "v-alice", "usr_alice", "Alice")
    rotur.user("v-rita", "usr_rita", "Rita")
    rita = await server.connect()
    key = rita.handshake["val"]["validator_key"]
    assert key.startswith("originChats-") and len(key) >= 44
    await rita.send("auth", validator="v-rita", listener="L")
    assert await rita.recv() == {"cmd": "auth_success", "val": "Authentication successful"}
    ready = await rita.expect("ready")
    assert ready["user"] == {"roles": ["user"], "username": "Rita", "status": {"status": "online", "text": ""},
                             "cracked": False}
    assert len(ready["validator"]) == 43
    for client in (rita, alice):
        assert await client.recv() == {"cmd": "user_join", "user": brief("Rita")}
        assert await client.recv() == {"cmd": "user_connect", "user": brief("Rita")}
        await client.assert_silent()
    # the server asked Rotur about this connection's key and the client's validator
    assert rotur.requests[-1] == {"key": [key], "v": ["v-rita"]}
    [(uid, username, password_hash)] = query(
        server, "SELECT id, username, password_hash FROM users WHERE id = ?", ("usr_rita",))
    assert (uid, username, password_hash) == ("usr_rita", "Rita", None)


async def test_existing_rotur_user_takes_the_name_rotur_reports(server, rotur):
    alice = await rotur_login(server, rotur, "v-alice", "usr_alice", "Alice")
    await (await rotur_login(server, rotur, "v-rita", "usr_rita", "Rita")).close()
    await alice.drain()
    rotur.user("v-rita2", "usr_rita", "RitaRenamed")
    rita = await server.connect()
    await rita.send("auth", validator="v-rita2")
    await rita.expect("auth_success")
    assert (await rita.expect("ready"))["user"]["username"] == "RitaRenamed"
    # known account: no user_join, only user_connect
    assert await rita.recv() == {"cmd": "user_connect", "user": brief("RitaRenamed")}
    assert await alice.recv() == {"cmd": "user_connect", "user": brief("RitaRenamed")}
    await alice.send("users_list")
    names = [u["username"] for u in (await alice.expect("users_list"))["users"]]
    assert sorted(names) == ["Alice", "RitaRenamed"]
    await alice.send("status_get", user="rita")
    await alice.expect_error("User not found", src="status_get")


@pytest.mark.parametrize(("status", "body", "expected"), [
    (200, {"valid": False}, INVALID),
    (200, {"valid": "true", "id": "usr_x", "username": "x"}, INVALID),  # exactly the boolean true
    (200, {"valid": 1, "id": "usr_x", "username": "x"}, INVALID),
    (403, {"valid": True, "id": "usr_x", "username": "x"}, INVALID),  # non-200, whatever the body
    (500, b"internal error", INVALID),
    (200, {"valid": True, "id": "", "username": "x"}, INVALID),  # no id: never a primary key
    (200, {"valid": True, "id": 42, "username": "x"}, INVALID),
    (200, {"valid": True, "id": "usr_x"}, INVALID),  # no username
    (200, {"valid": True, "id": "USR:local_alice", "username": "alice"}, INVALID),  # a local id
    (200, {"valid": True, "id": "usr_x", "username": "USR:local_alice"}, INVALID),  # a local name
    (200, b"<html>not json</html>", UNAVAILABLE),
    (200, b"[true]", UNAVAILABLE),
])
async def test_rotur_refusals(server, rotur, status, body, expected):
    rotur.answer("v", body, status)
    client = await server.connect()
    await client.send("auth", validator="v", listener="L")
    assert await client.recv() == expected
    assert rotur.requests[-1]["v"] == ["v"]
    # still unauthenticated, and free to try again
    await client.send("ping")
    assert await client.recv() == AUTH_REQUIRED
    rotur.user("v2", "usr_ok", "Okay")
    await client.send("auth", validator="v2")
    assert (await client.recv())["cmd"] == "auth_success"


async def test_missing_validator_is_refused_without_asking_rotur(server, rotur):
    client = await server.connect()
    for fields in ({}, {"validator": ""}, {"validator": None}, {"validator": 7}):
        await client.send("auth", **fields)
        assert await client.recv() == INVALID
    assert rotur.requests == []


async def test_unreachable_rotur_gets_a_clear_error(make_server):
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = await make_server(auth_mode="rotur", rotur=RoturSection(validate_url=f"http://127.0.0.1:{port}/validate"))
    client = await srv.connect()
    await client.send("auth", validator="v")
    assert await client.recv() == UNAVAILABLE


async def test_rotur_timeout_gets_a_clear_error(server, rotur, autojump_clock):
    rotur.hold("v-slow")  # never released
    client = await server.connect()
    start = trio.current_time()
    await client.send("auth", validator="v-slow")
    assert await client.recv() == UNAVAILABLE
    assert 2 <= trio.current_time() - start < 3  # rotur.timeout_seconds


async def test_a_slow_rotur_stalls_nobody(server, rotur):
    bob = await rotur_login(server, rotur, "v-bob", "usr_bob", "Bob")
    rotur.user("v-rita", "usr_rita", "Rita")
    release = rotur.hold("v-rita")
    rita = await server.connect()
    await rita.send("auth", validator="v-rita")
    await rotur.arrived["v-rita"].wait()
    # while Rita's check is pending, everybody else is served
    await bob.send("ping", listener="P")
    assert await bob.recv() == {"cmd": "pong", "val": "pong", "listener": "P"}
    newcomer = await server.connect()
    assert newcomer.handshake["cmd"] == "handshake"
    await newcomer.send("ping")
    assert await newcomer.recv() == AUTH_REQUIRED
    await bob.send("users_online")
    assert [u["username"] for u in (await bob.expect("users_online"))["users"]] == ["Bob"]
    await rita.assert_silent()
    release.set()
    assert (await rita.recv())["cmd"] == "auth_success"
    await rita.expect("ready")
    assert await bob.recv() == {"cmd": "user_join", "user": brief("Rita")}
    assert await bob.recv() == {"cmd": "user_connect", "user": brief("Rita")}


async def test_banned_rotur_user_is_refused(server, rotur):
    await (await rotur_login(server, rotur, "v-m", "usr_mallory", "Mallory")).close()
    await ban_offline(server, "usr_mallory")
    client = await server.connect()
    await client.send("auth", validator="v-m")
    assert await client.recv() == {"cmd": "auth_error", "val": "Access denied: You are banned from this server"}
    await client.send("ping")
    assert await client.recv() == AUTH_REQUIRED


async def test_rotur_user_who_left_comes_back_as_a_new_member(server, rotur):
    rita = await rotur_login(server, rotur, "v-rita", "usr_rita", "Rita")
    await rita.send("status_set", status="dnd", text="away")
    await rita.expect("status_get")
    await rita.close()
    await edit_offline(server, "UPDATE users SET deleted = 1, roles = ? WHERE id = ?", ('["user", "vip"]', "usr_rita"))
    rita = await server.connect()
    await rita.send("auth", validator="v-rita")
    await rita.expect("auth_success")
    ready = await rita.expect("ready")
    assert ready["user"]["roles"] == ["user"] and ready["user"]["status"] == {"status": "online", "text": ""}
    assert await rita.recv() == {"cmd": "user_join", "user": brief("Rita")}
    assert await rita.recv() == {"cmd": "user_connect", "user": brief("Rita")}


async def test_cracked_only_server_never_asks_rotur(make_server, rotur):
    srv = await make_server(auth_mode="cracked-only", rotur=RoturSection(validate_url=rotur.url))
    client = await srv.connect()
    rotur.user("v", "usr_x", "X")
    await client.send("auth", validator="v")
    assert await client.recv() == {
        "cmd": "auth_error", "val": "Rotur authentication is disabled. Use login or register commands."}
    assert rotur.requests == []


async def test_cracked_server_accepts_rotur_users_too(make_server, rotur):
    srv = await make_server(auth_mode="cracked", rotur=RoturSection(validate_url=rotur.url))
    rita = await rotur_login(srv, rotur, "v-rita", "usr_rita", "Rita")
    assert rita.ready["user"]["cracked"] is False
    # pfp_set is allowed by server mode, not by account kind (auth.md §5.4)
    await rita.send("pfp_set", url="https://img.example/r.png")
    assert await rita.recv() == {"cmd": "pfp_set", "val": "https://img.example/r.png"}


async def test_pfp_set_is_refused_on_a_rotur_server(server, rotur):
    rita = await rotur_login(server, rotur, "v-rita", "usr_rita", "Rita")
    await rita.send("pfp_set", url="https://img.example/r.png")
    await rita.expect_error("Profile pictures are managed by Rotur for this account", src="pfp_set")
    await rita.send("pfp_get", username="Rita")
    assert await rita.recv() == {"cmd": "pfp_get", "val": None, "username": "Rita"}


# ---- floods: bounded calls, shared calls, cached answers ------------------------------------------


async def test_a_flood_from_one_address_is_bounded_and_a_valid_user_still_gets_in(make_server, rotur):
    """60 sockets from one address, each with its own validator, against a Rotur that does not
    answer: only the address's share of checks reaches Rotur, the rest are refused at once, and a
    user from another address is checked (and let in) while the flood is stuck."""
    srv = await make_server(auth_mode="rotur", rotur=RoturSection(validate_url=rotur.url, timeout_seconds=2),
                            auth=AuthSection(rotur_concurrency=16, rotur_per_ip=4),
                            network=NetworkSection(new_connections_per_second=0))  # 60 sockets at once
    release = rotur.hold_prefix("junk")
    flood = [await srv.connect(ip="10.6.6.6") for _ in range(60)]
    for i, client in enumerate(flood):
        await client.send("auth", validator=f"junk{i}")
    for client in flood[4:]:
        assert await client.recv() == BUSY
    # the refused sockets keep trying, with new validators: still refused, still no call
    for i, client in enumerate(flood[4:]):
        await client.send("auth", validator=f"junk-again{i}")
        assert await client.recv() == BUSY
    assert sorted(r["v"][0] for r in rotur.requests) == ["junk0", "junk1", "junk2", "junk3"]
    rita = await rotur_login(srv, rotur, "v-rita", "usr_rita", "Rita", ip="10.0.0.7")
    assert rita.ready["user"]["username"] == "Rita"
    release.set()
    for client in flood[:4]:
        assert await client.recv() == INVALID
    # a socket that repeats its validator is answered from the cache, without a call
    calls = len(rotur.requests)
    for _ in range(3):
        await flood[0].send("auth", validator="junk0")
        assert await flood[0].recv() == INVALID
    assert len(rotur.requests) == calls == 5


async def test_identical_checks_in_flight_make_one_call(rotur, nursery):
    """The same (key, validator) asked while its check is in flight waits for that one call. Each
    connection has its own key, so this is the runner's behaviour, checked on the runner itself,
    over real HTTP: ten askers, one request, ten answers."""
    runner = OpRunner(reader=None, rotur_url=rotur.url, rotur_timeout=2)  # type: ignore[arg-type]
    await nursery.start(runner.run_services)
    rotur.user("v-same", "usr_same", "Same")
    release = rotur.hold("v-same")
    answers: list = []

    async def ask() -> None:
        answers.append(await runner.run(RoturValidate("originChats-k", "v-same", source="10.0.0.1")))

    async with trio.open_nursery() as askers:
        for _ in range(10):
            askers.start_soon(ask)
        await rotur.arrived["v-same"].wait()
        await trio.testing.wait_all_tasks_blocked()
        assert len(rotur.requests) == 1
        release.set()
    assert answers == [{"valid": True, "id": "usr_same", "username": "Same"}] * 10
    assert len(rotur.requests) == 1
    await runner.aclose()


async def test_answers_are_cached_for_the_configured_time_but_failures_are_not(make_server, rotur, mock_clock):
    srv = await make_server(auth_mode="rotur", rotur=RoturSection(validate_url=rotur.url, timeout_seconds=2),
                            auth=AuthSection(rotur_cache_seconds=30),
                            limits=LimitsSection(login_timeout_seconds=3600))  # the socket waits out the cache
    client = await srv.connect()
    for _ in range(2):
        await client.send("auth", validator="v-bad")
        assert await client.recv() == INVALID
    assert len(rotur.requests) == 1
    mock_clock.jump(30)
    await client.send("auth", validator="v-bad")
    assert await client.recv() == INVALID
    assert len(rotur.requests) == 2
    # "Rotur could not be reached / answered garbage" is never kept: the next try asks again
    rotur.answer("v-flaky", b"<html>", 200)
    await client.send("auth", validator="v-flaky")
    assert await client.recv() == UNAVAILABLE
    rotur.user("v-flaky", "usr_f", "Flaky")
    await client.send("auth", validator="v-flaky")
    assert (await client.recv())["cmd"] == "auth_success"
    assert len(rotur.requests) == 4


async def test_rotur_accounts_have_no_password_to_change_but_can_log_out(server, rotur):
    rita = await rotur_login(server, rotur, "v-rita", "usr_rita", "Rita")
    await rita.send("password_change", old_password="anything", new_password="new-pass")
    await rita.expect_error("This account uses Rotur authentication", src="password_change")
    await rita.send("logout")
    assert await rita.recv() == {"cmd": "logout", "val": "Logged out"}
    assert await rita.wait_closed() == 1000


async def test_a_rotur_name_past_the_per_name_budget_is_refused(server, rotur):
    """Stored messages count each user name at 64 bytes (core/budget.py); a longer Rotur name could
    push the largest history page past the outgoing cap, so it is refused (as is a huge id)."""
    rotur.user("v-long", "usr_long", "é" * 33)  # 66 bytes
    rotur.user("v-fit", "usr_fit", "é" * 32)  # 64 bytes
    rotur.user("v-id", "u" * 129, "Idris")
    client = await server.connect()
    await client.send("auth", validator="v-long")
    assert await client.recv() == {"cmd": "auth_error",
                                   "val": "Rotur username is too long for this server (at most 64 bytes)"}
    await client.send("auth", validator="v-id")
    assert await client.recv() == INVALID
    await client.send("auth", validator="v-fit")
    assert (await client.recv())["cmd"] == "auth_success"
