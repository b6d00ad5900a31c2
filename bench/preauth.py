"""preauth: N sockets each hold an unfinished text message and stay alive; the server's RSS while they
hold it and after they close (the memory-exhaustion attack of issue 14, defect 1).

Each socket (from 127.0.0.1) sends the first fragment of a text message (FIN clear) of `--size`
bytes, with one 4-byte UTF-8 character (an emoji) every `--wide-every` bytes, and never finishes the
message; it answers the server's pings and sends a WebSocket ping every second. With `--login` the
sockets log in first (the authenticated limits apply), else they stay unauthenticated. The server's
RSS is sampled every 0.2 s: `rss_peak_mib` is the highest reading while the sockets hold their
fragments (`--hold` seconds after the last byte was written), `rss_after_mib` the reading `--after`
seconds after every socket closed. `closed` counts the close codes the server sent meanwhile.

`--config` adds server configuration keys (`section.key=value`, TOML values), e.g.
`--config limits.max_buffered_input=1073741824`.
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections import Counter
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server
from .wsclient import WS, client_frame, open_ws

HOST = "127.0.0.1"
WIDE = "\U0001f600".encode()  # 4 bytes in UTF-8; makes a Python str of its chunk 4 bytes per character


def fragment(size: int, wide_every: int) -> bytes:
    unit = b"a" * (wide_every - len(WIDE)) + WIDE
    body = unit * (size // len(unit))
    return body + b"a" * (size - len(body))


def parse_config(items: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = tomllib.loads(f"v = {value}")["v"]
    return out


async def preauth(args: Any) -> dict[str, Any]:
    n = args.n
    srv = Server(argon2=CHEAP_ARGON2, config=parse_config(args.config))
    users = [f"p{i}" for i in range(n)]
    if args.login:
        common.add_users(srv.data_dir, users, CHEAP_ARGON2)
    payload = client_frame(fragment(args.size, args.wide_every), 0x1, fin=False)
    with srv:
        warm = await open_ws(HOST, srv.port)  # imports and caches are not counted
        warm.close()
        await asyncio.sleep(0.5)
        rss0 = srv.rss_kib()

        async def one(i: int) -> WS:
            ws = await open_ws(HOST, srv.port)
            if args.login:
                await common.login(ws, users[i])
            ws.framing(lambda *_: None)  # frames are parsed (close codes, pings answered), texts dropped
            return ws

        clients, failures = await common.in_batches([lambda i=i: one(i) for i in range(n)], batch=50)
        t0 = time.monotonic()
        for ws in clients:
            ws.transport.write(payload)  # type: ignore[union-attr]
        stop = asyncio.Event()
        peak = [rss0]

        async def keep_alive() -> None:
            while not stop.is_set():
                for ws in clients:
                    if not ws.closed:
                        ws.transport.write(client_frame(b"hb", 0x9))  # type: ignore[union-attr]
                await asyncio.sleep(1.0)

        async def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], srv.rss_kib())
                await asyncio.sleep(0.2)

        tasks = [asyncio.create_task(keep_alive()), asyncio.create_task(sample())]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(
                not ws.closed and ws.transport.get_write_buffer_size() for ws in clients):  # type: ignore[union-attr]
            await asyncio.sleep(0.1)
        written = time.monotonic() - t0
        await asyncio.sleep(args.hold)
        rss_held = srv.rss_kib()
        held = sum(1 for ws in clients if not ws.closed)
        stop.set()
        await asyncio.gather(*tasks)
        peak_held = max(peak[0], rss_held)
        codes = Counter(str(ws.close_code) for ws in clients if ws.closed)
        for ws in clients:
            ws.close()
        await asyncio.sleep(args.after)
        rss_after = srv.rss_kib()
        probe = await open_ws(HOST, srv.port)  # the server still serves
        probe.close()
    return {
        "scenario": "preauth", "n": n, "login": bool(args.login), "size": args.size,
        "wide_every": args.wide_every, "config": " ".join(args.config), "failures": failures,
        "held": held, "closed": dict(codes), "write_secs": round(written, 2),
        "rss_before_mib": round(rss0 / 1024, 1), "rss_held_mib": round(rss_held / 1024, 1),
        "rss_peak_mib": round(peak_held / 1024, 1), "rss_after_mib": round(rss_after / 1024, 1),
    }
