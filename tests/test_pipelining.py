"""Messages sent back to back by one client commit together (the hub does not wait for one commit
before reading the next message), yet every client sees them in the order they were sent, each
acknowledgement comes before the reply to any later request, and all of them are stored."""

import trio
import trio.testing

from originchats.config import StorageSection


async def test_back_to_back_messages_keep_their_order_everywhere(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    for i in range(30):
        await alice.send("message_new", channel="general", content=f"m{i}", listener=f"L{i}")
    await alice.send("typing", channel="general", listener="T")  # not a write: waits for the 30
    await alice.send("messages_get", channel="general", limit=50, listener="G")
    for i in range(30):
        ack = await alice.expect("message_new", listener=f"L{i}")
        assert ack["message"]["content"] == f"m{i}"
    await alice.expect("typing", listener="T")
    history = await alice.expect("messages_get", listener="G")
    assert [m["content"] for m in history["messages"]] == [f"m{i}" for i in range(30)]
    seen = [(await bob.expect("message_new"))["message"]["content"] for _ in range(30)]
    assert seen == [f"m{i}" for i in range(30)]
    await bob.expect("typing")


async def test_an_invalid_packet_after_messages_is_answered_after_their_acks(server):
    alice = await server.user("alice")
    for i in range(5):
        await alice.send("message_new", channel="general", content=f"m{i}", listener=f"L{i}")
    await alice.send_raw("{not json")
    for i in range(5):
        await alice.expect("message_new", listener=f"L{i}")
    await alice.expect_error("Invalid JSON", src=None)


async def test_pipelined_messages_survive_a_restart(server):
    alice = await server.user("alice")
    for i in range(20):
        await alice.send("message_new", channel="general", content=f"m{i}", listener=f"L{i}")
    for i in range(20):
        await alice.expect("message_new", listener=f"L{i}")
    await server.restart()
    carol = await server.user("carol")
    await carol.send("messages_get", channel="general", limit=50)
    history = await carol.expect("messages_get")
    assert [m["content"] for m in history["messages"]] == [f"m{i}" for i in range(20)]


async def test_a_full_write_queue_makes_the_writer_wait_and_loses_nothing(make_server, tmp_path):
    """`storage.write_queue` is full: the connection that writes waits (its later messages are not
    read meanwhile), a connection that only reads is answered, and once the disk is back every
    message is stored, acknowledged and announced in order."""
    server = await make_server(storage=StorageSection(data_dir=str(tmp_path / "q"), synchronous="normal",
                                                      write_queue=2))
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    writer = server.hub.writer
    await writer._limiter.acquire()  # the writer cannot commit until released
    try:
        for i in range(10):
            await alice.send("message_new", channel="general", content=f"m{i}", listener=f"L{i}")
        await alice.send("ping", listener="P")
        await bob.send("ping", listener="B")
        assert (await bob.recv())["listener"] == "B"
        await trio.testing.wait_all_tasks_blocked()
        queued = writer._send.statistics()
        assert queued.current_buffer_used == queued.max_buffer_size == 2
        assert alice._recv.statistics().current_buffer_used == 0  # no ack, and no pong yet
    finally:
        writer._limiter.release()
    for i in range(10):
        assert (await alice.expect("message_new", listener=f"L{i}"))["message"]["content"] == f"m{i}"
    await alice.expect("pong", listener="P")
    assert [(await bob.expect("message_new"))["message"]["content"] for _ in range(10)] == [f"m{i}" for i in range(10)]
    await alice.send("messages_get", channel="general", limit=50, listener="G")
    history = await alice.expect("messages_get", listener="G")
    assert [m["content"] for m in history["messages"]] == [f"m{i}" for i in range(10)]
