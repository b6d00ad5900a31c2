"""worst_page: how big can one `messages_get` (limit 100) reply get? (issue 14, defect 3)

For each family of hostile messages the largest one the server accepts is found by bisection
(posting candidates), then a fresh server's channel gets five copies of it and a reader asks for
`messages_get` with limit 100. Printed per family: the largest accepted message (bytes of its
request), the reply's size (as the server encodes it), and whether the reader survives the reply
under the real 16 MiB per-socket outgoing cap (`server/ws.py` MAX_OUTBOX_BYTES); the size itself
is measured with the cap raised, so that a reply the real cap would drop can still be weighed.

Families:
  url   one embed whose image URL is n characters (bounded only by the 4 MiB frame before issue 14)
  text  n control characters over the content and up to 10 embed descriptions (6 bytes each as
        JSON), the densest text the schema allows

Runs the real `serve()` in-process over in-memory streams; it measures bytes, not time.

    .venv/bin/python -m bench.worst_page
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/worst_page.py   # another version
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from wsproto.utilities import LocalProtocolError

from originchats.config import Config, CrackedSection, RateLimitingSection, StorageSection
from originchats.server import ws_send as ws_mod  # MAX_OUTBOX_BYTES is patched where push reads it
from originchats.server.app import serve
from tests.client import Client, Closed, MemoryListener, sign_in

COPIES = 5
CONTENT_MAX = 2000


def url_family(n: int) -> dict[str, Any]:
    return {"content": "x", "embeds": [{"title": "t", "image": {"url": "https://example.com/" + "a" * n}}]}


def text_family(n: int) -> dict[str, Any]:
    in_content = min(n, CONTENT_MAX - 1)
    rest = n - in_content
    embeds = []
    while rest > 0:
        part = min(rest, 4096)
        embeds.append({"description": "\x01" * part})
        rest -= part
    return {"content": "x" + "\x01" * in_content, **({"embeds": embeds} if embeds else {})}


FAMILIES: dict[str, tuple[Callable[[int], dict[str, Any]], int]] = {
    "url": (url_family, 4 * 1024 * 1024 - 256),  # the request stays within the 4 MiB frame limit
    "text": (text_family, CONTENT_MAX - 1 + 10 * 4096),
}


def wire_size(packet: dict[str, Any]) -> int:
    return len(json.dumps(packet, separators=(",", ":"), ensure_ascii=False).encode())


async def with_server(cap: int, body: Callable[[Callable[[str], Awaitable[Client]]], Awaitable[Any]]) -> Any:
    """Run `body(login)` against a fresh server whose sockets may queue `cap` bytes."""
    with tempfile.TemporaryDirectory() as data_dir:
        config = Config(auth_mode="cracked", storage=StorageSection(data_dir=data_dir, synchronous="normal"),
                        cracked=CrackedSection(argon2_memory_kib=64, argon2_time_cost=1),
                        rate_limiting=RateLimitingSection(enabled=False))
        listener, stop = MemoryListener(), trio.Event()
        saved, ws_mod.MAX_OUTBOX_BYTES = ws_mod.MAX_OUTBOX_BYTES, cap
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(partial(serve, config, listeners=[listener], stop=stop))

                async def login(name: str) -> Client:
                    client = Client(await listener.connect())
                    await client.open(nursery)
                    await client.expect("handshake")
                    await sign_in(client, name, "pass1234")
                    await client.drain()
                    return client

                try:
                    return await body(login)
                finally:
                    stop.set()
        finally:
            ws_mod.MAX_OUTBOX_BYTES = saved


async def post(client: Client, fields: dict[str, Any]) -> bool:
    await client.send("message_new", channel="general", listener="p", **fields)
    while (reply := await client.recv()).get("listener") != "p":
        pass
    return reply["cmd"] == "message_new"


async def largest_accepted(family: Callable[[int], dict[str, Any]], high: int) -> int:
    async def body(login: Callable[[str], Awaitable[Client]]) -> int:
        alice = await login("alice")
        low, top = 0, high
        while low < top:
            mid = (low + top + 1) // 2
            if await post(alice, family(mid)):
                low = mid
            else:
                top = mid - 1
        return low

    return await with_server(1 << 40, body)


async def page(fields: dict[str, Any], cap: int) -> int | str:
    """The size of the reader's messages_get reply, or how the reader was closed."""
    async def body(login: Callable[[str], Awaitable[Client]]) -> int | str:
        alice = await login("alice")
        reader = await login("reader")
        for _ in range(COPIES):
            assert await post(alice, fields)
        await reader.drain()
        await reader.send("messages_get", channel="general", limit=100, listener="h")
        try:
            while (reply := await reader.recv()).get("listener") != "h":
                pass
            # a socket past the cap is closed after what it has queued: is the reader still here?
            await reader.send("ping", listener="alive")
            while (await reader.recv()).get("listener") != "alive":
                pass
        except (Closed, LocalProtocolError):
            return f"reader dropped ({reader.close_code})"
        return wire_size(reply)

    return await with_server(cap, body)


async def main() -> None:
    import originchats

    print(f"originchats from {originchats.__file__}")
    print(f"{'family':6}  {'largest accepted request':>24}  {'messages_get(100) reply':>24}  under the real cap")
    for name, (family, high) in FAMILIES.items():
        n = await largest_accepted(family, high)
        fields = family(n)
        request = wire_size({"cmd": "message_new", "channel": "general", **fields})
        size = await page(fields, 1 << 40)
        real = await page(fields, ws_mod.MAX_OUTBOX_BYTES)
        verdict = "reader still connected" if isinstance(real, int) else real
        print(f"{name:6}  {request:>18,} bytes  {size:>18,} bytes  {verdict}")


if __name__ == "__main__":
    trio.run(main)
