"""A loopback fake web push service, run as its own process by bench/integrations.py.

It answers `201 Created` to every request on HTTP/1.1 keep-alive connections and counts them. It
runs outside the load generator so that answering 100 pushes per message does not sit on the
event loop that timestamps the receivers' frames (a real push service is another machine): it
is pinned to the load generator's CPU at SCHED_IDLE, so it only runs while the load generator
has nothing to do, and never takes CPU from the server being measured.

`python -m bench.fakepush`: prints its port on one line; then, for each line read on stdin, how
many requests it answered and to how many distinct subscriptions; exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import sys

from .server import CLIENT_CPU


class Service:
    def __init__(self) -> None:
        self.posts = 0
        self.paths: set[bytes] = set()  # the subscriptions pushed to

    async def conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.paths.add(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                self.posts += 1
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def _background() -> None:
    try:
        os.sched_setaffinity(0, {CLIENT_CPU})
    except (OSError, AttributeError):
        pass
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        except OSError:
            pass


async def main() -> None:
    _background()
    service = Service()
    server = await asyncio.start_server(service.conn, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):  # each line: "how many so far?"
        print(service.posts, len(service.paths), flush=True)
    server.close()  # stdin closed: done


if __name__ == "__main__":
    asyncio.run(main())
