"""The direct-write path of the WebSocket shell (server/ws.py `Flusher`) on a real socket: frames
pushed while the peer does not read arrive complete and in order once it reads (what the kernel
did not take is left to the connection's writer task), and a close goes out after them."""

import socket

import trio

from originchats.server.ws import Flusher, WebSocket, encode_text


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(data):
        op, ln = data[i] & 0x0F, data[i + 1] & 0x7F
        h = 2
        if ln == 126:
            ln, h = int.from_bytes(data[i + 2:i + 4], "big"), 4
        elif ln == 127:
            ln, h = int.from_bytes(data[i + 2:i + 10], "big"), 10
        out.append((op, data[i + h:i + h + ln]))
        i += h + ln
    assert i == len(data)
    return out


async def open_pair() -> tuple[WebSocket, trio.socket.SocketType]:
    a, b = trio.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws = WebSocket(trio.SocketStream(a))
    ws.use_flusher(Flusher())
    return ws, b


async def read_all(sock: trio.socket.SocketType) -> bytes:
    chunks = []
    while True:
        data = await sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


async def test_frames_pushed_to_a_full_socket_arrive_in_order_then_the_close(nursery):
    ws, peer = await open_pair()

    async def writer() -> None:
        await ws.run_writer()  # returns once the close frame is out
        ws.stream.socket.close()

    nursery.start_soon(writer)
    texts = [f'{{"n":{i},"pad":"{"x" * (i % 700)}"}}' for i in range(600)]  # ~210 KB, far above the buffers
    for i, t in enumerate(texts):
        ws.push(encode_text(t))
        if i % 50 == 0:
            await trio.sleep(0)  # let the flusher run between bursts, as broadcasts would
    await trio.testing.wait_all_tasks_blocked()
    assert ws._queue, "the kernel took everything: the writer-task path was not exercised"
    ws.close(1000, "bye")
    with trio.fail_after(10):
        frames = parse_frames(await read_all(peer))
    peer.close()
    assert [p.decode() for op, p in frames if op == 1] == texts
    assert frames[-1][0] == 0x8 and frames[-1][1][:2] == (1000).to_bytes(2, "big")


async def test_a_flush_after_the_peer_left_ends_quietly(nursery):
    ws, peer = await open_pair()
    done = trio.Event()

    async def writer() -> None:
        try:
            await ws.run_writer()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.set()

    nursery.start_soon(writer)
    peer.close()
    for _ in range(20):
        ws.push(encode_text('{"cmd":"ping"}'))
        await trio.sleep(0)
    with trio.fail_after(5):
        await done.wait()  # the failed write handed over to the writer, which saw the broken pipe
    ws.stream.socket.close()
