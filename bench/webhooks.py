"""webhooks: a burst of webhook posts (issue 10: 1,000 in 10 s) against members chatting.

A webhook is stored in `general` before the server starts (its token's hash, as webhook_create
would). Observers (logged in) receive a `message_new` a member posts every 20 ms; their
send-to-arrival latency is measured first with no burst (`calm`), then while `--posts` webhook
posts are sent over `--conns` keep-alive HTTP connections, spread evenly over `--secs` seconds
(`burst`). Each post's content is `<ns>:wh<i>`. The webhook's rate limit is `[webhooks]`
`posts_per_minute`/`burst` as given (defaults here: 600/min, burst 20), so most of the burst is
answered 429.

Checked (the scenario fails otherwise): every post answered 204 was broadcast to every observer (`lost_broadcast`, counted on
one observer) and is stored (`lost_stored`, read from the database after the server stopped);
no post answered 429 was stored (`stored_refused`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from typing import Any

from . import common
from .server import Server, self_cpu
from .wsclient import MSG_NEW, WS, content_ns

HOST = "127.0.0.1"
TOKEN = "whk_bench-token-0123456789abcdefghijklmnopqrstuvwxyz"
HOOK_ID = "00000000-0000-4000-8000-00000000b00c"


def add_webhook(data_dir: Any) -> None:
    from originchats.core.webhook_records import Webhook
    from originchats.core.writes import WebhookSaved
    from originchats.store.sql import apply_write

    con = common.open_store(data_dir)
    try:
        con.execute("BEGIN")
        apply_write(con, WebhookSaved(Webhook(id=HOOK_ID, channel_id=common.general_channel_id(con), name="bench",
                                              token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(),
                                              created_by=None, created_at=time.time())))
        con.execute("COMMIT")
    finally:
        con.close()


class Observer:
    """Member broadcasts ("<ns>:bcast") go to `sink` as latencies; webhook posts ("<ns>:wh<i>") to `seen`."""

    def __init__(self, ws: WS, sink: list[int], seen: set[bytes] | None) -> None:
        self.sink = sink
        self.seen = seen
        ws.framing(self.on_text)

    def on_text(self, data: bytes, start: int, end: int, now: int) -> None:
        if not data.startswith(MSG_NEW, start):
            return
        got = content_ns(data, start, end)
        if got is None:
            return
        if got[1] == b"bcast":
            self.sink.append(now - got[0])
        elif self.seen is not None and got[1].startswith(b"wh"):
            self.seen.add(got[1])


async def _broadcast(ws: WS, stop: asyncio.Event, period: float = 0.02) -> None:
    while not stop.is_set():
        ws.send_bytes(b'{"cmd":"message_new","channel":"general","content":"%d:bcast"}' % time.monotonic_ns())
        await asyncio.sleep(period)


class Poster:
    """One keep-alive HTTP/1.1 connection posting JSON to /webhooks (reopened after `Connection: close`)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(b"POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
                          + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lower = head.lower()
        length = 0
        k = lower.find(b"content-length:")
        if k >= 0:
            length = int(lower[k + 15:lower.find(b"\r\n", k)])
        if length:
            await self.reader.readexactly(length)
        if b"connection: close" in lower:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def webhooks(args: Any) -> dict[str, Any]:
    obs_users = [f"o{i}" for i in range(args.observers + 1)]
    srv = Server(config={"webhooks": {"posts_per_minute": args.per_minute, "burst": args.burst}})
    common.add_users(srv.data_dir, obs_users, None)
    add_webhook(srv.data_dir)
    statuses: dict[int, int] = {}
    accepted: list[bytes] = []
    refused: list[bytes] = []
    post_lat: list[int] = []
    with srv:
        member, observers = await common.broadcaster_and_observers(srv.port, obs_users)
        calm: list[int] = []
        seen: set[bytes] = set()
        for k, ws in enumerate(observers):
            Observer(ws, calm, seen if k == 0 else None)
        stop = asyncio.Event()
        chat = asyncio.create_task(_broadcast(member, stop))
        await asyncio.sleep(2.0)
        burst: list[int] = []
        for k, ws in enumerate(observers):
            Observer(ws, burst, seen if k == 0 else None)
        calm_n = len(calm)

        posters = [Poster(srv.port) for _ in range(args.conns)]
        t0 = time.monotonic()
        interval = args.secs / args.posts
        cpu0, ccpu0 = srv.cpu(), self_cpu()

        async def lane(j: int) -> None:
            p = posters[j]
            for i in range(j, args.posts, args.conns):
                delay = t0 + i * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tag = b"wh%d" % i
                sent = time.monotonic_ns()
                body = json.dumps({"content": f"{sent}:{tag.decode()}", "username": "CI"}).encode()
                try:
                    status = await p.post(body)
                except (OSError, asyncio.IncompleteReadError):
                    p.close()
                    status = -1
                statuses[status] = statuses.get(status, 0) + 1
                if status == 204:
                    accepted.append(tag)
                    post_lat.append(time.monotonic_ns() - sent)
                elif status == 429:
                    refused.append(tag)

        await asyncio.gather(*(lane(j) for j in range(args.conns)))
        burst_secs = time.monotonic() - t0
        cpu1, ccpu1 = srv.cpu(), self_cpu()
        await asyncio.sleep(1.0)  # the last broadcasts arrive
        stop.set()
        await chat
        calm = calm[:calm_n]
        for p in posters:
            p.close()
        await common.quiet([member, *observers])
        for ws in [member, *observers]:
            ws.close()
        srv.stop()
        con = sqlite3.connect(srv.data_dir / "originchats.sqlite3")  # the server has stopped
        stored = {row[0].split(":", 1)[1].encode() for row in
                  con.execute("SELECT content FROM messages WHERE webhook IS NOT NULL")}
        con.close()
    lost = (len(set(accepted) - seen), len(set(accepted) - stored), len(set(refused) & stored))
    if any(lost):
        raise RuntimeError("accepted posts not broadcast / not stored, refused posts stored: %d / %d / %d" % lost)
    return {
        "scenario": "webhooks", "posts": args.posts, "secs": args.secs, "conns": args.conns,
        "per_minute": args.per_minute, "burst": args.burst, "burst_secs": round(burst_secs, 2),
        "accepted": len(accepted), "throttled": len(refused),
        "other_statuses": {str(k): v for k, v in statuses.items() if k not in (204, 429)},
        "lost_broadcast": len(set(accepted) - seen), "lost_stored": len(set(accepted) - stored),
        "stored_refused": len(set(refused) & stored),
        "post_p50_ms": common.ms(post_lat, .5), "post_p99_ms": common.ms(post_lat, .99),
        "observers": len(observers),
        "calm_bcast_p50_ms": common.ms(calm, .5), "calm_bcast_p99_ms": common.ms(calm, .99),
        "burst_bcast_p50_ms": common.ms(burst, .5), "burst_bcast_p99_ms": common.ms(burst, .99),
        "burst_bcast_max_ms": common.ms(burst, 1.0), "burst_samples": len(burst),
        "server_cpu_util": round((cpu1 - cpu0) / burst_secs, 3),
        "client_cpu_util": round((ccpu1 - ccpu0) / burst_secs, 3),
    }
