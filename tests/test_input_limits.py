"""Memory a socket can make the server hold (issue 14, defect 1), through the real server: a small
message limit and a deadline before login, partial messages held as their raw bytes (not as decoded
`str` pieces, 4 bytes per character once a wide character is among them), a budget for all the
partial messages together, and the memory given back when the socket goes."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
import trio
from wsproto.events import Ping, TextMessage

from originchats.config import LimitsSection
from tests.client import Client, settle

AUTH_REQUIRED = {"cmd": "auth_error", "val": "Authentication required"}


async def send_fragment(client: Client, text: str, finished: bool = False) -> None:
    """One frame of a text message; `finished=False` leaves the message open."""
    await client.stream.send_all(client.ws.send(TextMessage(data=text, message_finished=finished)))


async def test_before_login_a_100_kb_message_closes_1009_after_login_it_is_read(server):
    anon = await server.connect()
    await anon.send("login", username="nobody", password="p" * 8000)  # a few KB: read and answered
    assert (await anon.recv())["cmd"] == "auth_error"
    await anon.send("login", username="nobody", password="p" * 100_000)
    assert await anon.wait_closed() == 1009
    alice = await server.user("alice")
    await alice.send("ping", listener="big", pad="p" * 100_000)  # the normal limit (4 MiB) once logged in
    assert await alice.expect("pong", listener="big")


async def test_before_login_the_limit_holds_across_fragments(server):
    anon = await server.connect()
    for _ in range(3):  # 3 x 6 KB: every frame is small, the message is not
        await send_fragment(anon, "x" * 6000)
    assert await anon.wait_closed() == 1009


async def test_a_socket_not_logged_in_by_the_deadline_is_closed_pings_or_not(server, autojump_clock):
    start = trio.current_time()
    lurker = await server.connect()
    pinger = await server.connect()  # keeps its socket busy: WebSocket pings and commands
    late = await server.connect()  # logs in just before the deadline
    while trio.current_time() - start < 25:
        await pinger.stream.send_all(pinger.ws.send(Ping(b"still here")))
        await pinger.send("ping")
        assert await pinger.recv() == AUTH_REQUIRED
        await trio.sleep(4)
    await late.send("register", username="late", password="pass1234")
    assert (await late.expect("auth_success"))
    await late.drain()
    await lurker.send("ping")  # 29 s: still open
    assert await lurker.recv() == AUTH_REQUIRED
    await trio.sleep(start + 30.5 - trio.current_time())
    assert await lurker.wait_closed() == 1008
    assert await pinger.wait_closed() == 1008
    await trio.sleep(120)  # the logged-in socket has no deadline
    await late.send("ping")
    assert (await late.expect("pong"))


async def test_the_input_budget_closes_the_socket_that_would_exceed_it_1013(make_server):
    """Policy "refuse the newcomer": bob's fragment would take the partial messages of all sockets
    past `limits.max_buffered_input`, so bob is closed; alice keeps hers and finishes it."""
    server = await make_server(limits=LimitsSection(max_frame_size=64 * 1024, max_buffered_input=64 * 1024))
    alice = await server.user("alice")
    bob = await server.user("bob")
    carol = await server.user("carol")
    await alice.drain(), await bob.drain(), await carol.drain()
    # 40,000 bytes of UTF-8 in 10,000 wide characters: counted as the 40 KB it is
    await send_fragment(alice, '{"cmd":"ping","listener":"a","pad":"' + "\U0001f600" * 10_000)
    await settle()
    await send_fragment(bob, '{"cmd":"ping","listener":"b","pad":"' + "y" * 40_000)
    assert await bob.wait_closed() == 1013
    await alice.expect("user_disconnect", username=bob.username)
    await carol.drain()
    await send_fragment(alice, '"}', finished=True)
    assert await alice.expect("pong", listener="a")
    # alice's bytes were given back: carol can hold as much now
    await send_fragment(carol, '{"cmd":"ping","listener":"c","pad":"' + "z" * 40_000)
    await send_fragment(carol, '"}', finished=True)
    assert await carol.expect("pong", listener="c")


async def test_a_held_fragment_costs_its_bytes_and_they_are_given_back(server):
    """tracemalloc sees what the server allocates for a 1 MiB unfinished message with one wide
    character per KiB: about its 1 MiB of UTF-8, not the ~4 MiB of Python str it decodes to; and
    nothing of it once the socket has gone."""
    alice = await server.user("alice")
    await alice.drain()
    unit = "a" * 1020 + "\U0001f600"  # 1,024 bytes of UTF-8
    frame = alice.ws.send(TextMessage(data='{"cmd":"ping","pad":"' + unit * 1024, message_finished=False))
    size = len(frame)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        await alice.stream.send_all(frame)
        del frame
        await settle()
        held = tracemalloc.get_traced_memory()[0] - base
        await alice.close()
        await settle()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert size <= held < 1.5 * size, (held, size)
    assert after < 0.1 * size, (after, size)
