"""The heartbeat (README §5.6) on trio's mock clock: `{"cmd":"ping"}` every interval to every socket,
and dead peers (nothing received for three intervals) are dropped, announcing `user_disconnect`."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from originchats.config import LimitsSection
from originchats.server.connection import CLOSE_GRACE
from tests.conftest import make_config

INTERVAL = 30  # make_config's heartbeat interval
PING = {"cmd": "ping"}


@pytest.fixture
def config(tmp_path):  # type: ignore[no-untyped-def]
    """Unauthenticated sockets here outlive several heartbeats: no login deadline in the way."""
    return make_config(tmp_path, limits=LimitsSection(login_timeout_seconds=3600))


class RawClient:
    """A WebSocket peer that sends what it is told and otherwise never reads: it answers no
    WebSocket ping, so the server hears nothing from it after its last packet."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    async def open(self) -> None:
        await self.stream.send_all(self.ws.send(Request(host="localhost", target="/")))
        while True:  # read just the 101 (a lockstep stream hands over one server write at a time)
            self.ws.receive_data(await self.stream.receive_some(65536))
            if any(isinstance(e, AcceptConnection) for e in self.ws.events()):
                return

    async def send(self, cmd: str, **fields: object) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=json.dumps({"cmd": cmd, **fields}))))

    async def read_to_end(self) -> tuple[list[dict], int | None]:
        """Everything the server sent (packets, close code) until it closed the stream."""
        packets, code = [], None
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                break
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    packets.append(json.loads(event.data))
                elif isinstance(event, CloseConnection):
                    code = event.code
        return packets, code


async def raw_client(server, stream_pair=trio.testing.memory_stream_pair) -> RawClient:
    client_end, server_end = stream_pair()
    await server.listener.hand(server_end)  # what MemoryListener.connect does, any stream kind
    raw = RawClient(client_end)
    await raw.open()
    return raw


async def test_ping_every_interval_to_every_socket(server, autojump_clock):
    anon = await server.connect(heartbeats=True)
    alice = await server.user("alice", heartbeats=True)
    for _ in range(3):
        await trio.sleep(INTERVAL)
        for client in (anon, alice):
            assert await client.recv() == PING
            await client.assert_silent()
    await anon.send("ping")  # the heartbeat does not authenticate anybody
    assert await anon.recv() == {"cmd": "auth_error", "val": "Authentication required"}


async def test_answering_the_heartbeat_with_pong_is_an_unknown_command(server, autojump_clock):
    alice = await server.user("alice", heartbeats=True)
    await trio.sleep(INTERVAL + 1)
    assert await alice.recv() == PING
    await alice.send("pong")
    await alice.expect_error("Unknown command: pong", src="pong")


async def test_clients_that_answer_websocket_pings_stay_connected(server, autojump_clock):
    alice = await server.user("alice")
    anon = await server.connect()
    bob = await server.user("bob")
    await alice.drain()
    await trio.sleep(20 * INTERVAL)
    for client in (alice, anon, bob):
        await client.send("ping")
        assert (await client.recv())["cmd"] in ("pong", "auth_error")
    await alice.assert_silent()  # no user_disconnect for bob


async def test_a_silent_peer_is_dropped_after_three_intervals(server, autojump_clock):
    alice = await server.user("alice")
    start = trio.current_time()
    ghost = await raw_client(server)
    await ghost.send("register", username="ghost", password="pass1234")
    assert (await alice.recv())["cmd"] == "user_join"
    assert (await alice.recv())["cmd"] == "user_connect"
    await trio.sleep(start + 3 * INTERVAL - 1 - trio.current_time())
    await alice.send("users_online")
    assert [u["username"] for u in (await alice.expect("users_online"))["users"]] == [
        "USR:local_alice", "USR:local_ghost"]
    await trio.sleep(2)  # past the third interval
    assert await alice.recv() == {"cmd": "user_disconnect", "username": "USR:local_ghost"}
    packets, code = await ghost.read_to_end()
    assert code == 1001
    assert [p["cmd"] for p in packets] == ["handshake", "auth_success", "ready", "user_join", "user_connect",
                                           "ping", "ping"]


async def test_a_silent_unauthenticated_peer_is_dropped_too(server, autojump_clock):
    alice = await server.user("alice")
    lurker = await raw_client(server)
    await trio.sleep(3 * INTERVAL + 1)
    packets, code = await lurker.read_to_end()
    assert code == 1001 and [p["cmd"] for p in packets] == ["handshake", "ping", "ping"]
    await alice.assert_silent()


async def test_a_peer_that_never_reads_is_dropped(server, autojump_clock):
    """A lockstep stream blocks every server write until the peer reads: the connection's writer
    is stuck from the first packet on, and the close frame can never go out either."""
    alice = await server.user("alice")
    start = trio.current_time()
    stuck = await raw_client(server, trio.testing.lockstep_stream_pair)
    await stuck.send("register", username="stuck", password="pass1234")
    assert (await alice.recv())["cmd"] == "user_join"
    assert (await alice.recv())["cmd"] == "user_connect"
    for i in range(20):  # the server keeps queueing for it meanwhile
        await alice.send("message_new", channel="general", content=f"m{i}")
        await alice.expect("message_new")
    await trio.sleep(start + 3 * INTERVAL - 1 - trio.current_time())
    await alice.assert_silent()
    await trio.sleep(2 + CLOSE_GRACE)
    assert await alice.recv() == {"cmd": "user_disconnect", "username": "USR:local_stuck"}
    await alice.send("users_online")
    assert [u["username"] for u in (await alice.expect("users_online"))["users"]] == ["USR:local_alice"]
