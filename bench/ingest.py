"""ingest: durable `message_new` acknowledgements per second with K concurrent senders, then a
crash (SIGKILL by default) and a restart, and a check that every acknowledged message is there.

Each sender keeps `window` messages in flight and counts a message as acknowledged when its own
echo (the reply carrying its `listener`) arrives: the server sends it only after the commit
(`storage.synchronous = "full"`: the WAL is fsynced; a group of messages shares one fsync). The
senders are ordinary members of `general`, so each message is also broadcast to the K-1 others.
After the restart the acknowledged ids are looked up in the database file (read-only), and the
newest page is read back over the protocol.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server, proc_cpu_split, self_cpu
from .wsclient import MSG_NEW, WS

HOST = "127.0.0.1"


class IngestSender:
    def __init__(self, ws: WS, idx: int, window: int) -> None:
        self.ws = ws
        self.suffix = b',"listener":"i%d"}' % idx
        self.msg = b'{"cmd":"message_new","channel":"general","content":"%%d:ingest %d","listener":"i%d"}' % (idx, idx)
        self.window = window
        self.in_flight = 0
        self.sending = True
        self.acked: list[str] = []
        self.acked_at: list[int] = []
        self.rtt: list[int] = []
        self.sent_at: list[int] = []
        self.idle = asyncio.Event()
        ws.framing(self.on_text)

    def start(self) -> None:
        for _ in range(self.window):
            self.send_one()

    def send_one(self) -> None:
        ns = time.monotonic_ns()
        self.sent_at.append(ns)
        self.ws.send_bytes(self.msg % ns)
        self.in_flight += 1

    def on_text(self, data: bytes, start: int, end: int, now: int) -> None:
        if not data.startswith(MSG_NEW, start) or not data.endswith(self.suffix, start, end):
            if data.startswith(b'{"cmd":"error"', start):
                raise RuntimeError(data[start:end].decode())
            return
        k = data.find(b'"id":"', start, end) + 6
        self.acked.append(data[k:k + 36].decode())
        self.acked_at.append(now)
        self.rtt.append(now - self.sent_at[len(self.rtt)])
        self.in_flight -= 1
        if self.sending:
            self.send_one()
        elif self.in_flight == 0:
            self.idle.set()


async def ingest(args: Any, k: int) -> dict[str, Any]:
    srv = Server(argon2=CHEAP_ARGON2)
    common.add_users(srv.data_dir, [f"u{i}" for i in range(k)], CHEAP_ARGON2)
    try:
        srv.start()
        clients, failures = await common.in_batches(
            [lambda i=i: common.connect_login(HOST, srv.port, f"u{i}") for i in range(k)], batch=100)
        if failures:
            raise RuntimeError(f"{failures} senders could not log in")
        await common.quiet(clients)
        senders = [IngestSender(ws, i, args.window) for i, ws in enumerate(clients)]
        split0 = proc_cpu_split(srv.pid)
        cpu0, ccpu0, t0 = srv.cpu(), self_cpu(), time.monotonic()
        for s in senders:
            s.start()
        await asyncio.sleep(args.secs)
        for s in senders:
            s.sending = False
            if s.in_flight == 0:
                s.idle.set()
        await asyncio.wait_for(asyncio.gather(*(s.idle.wait() for s in senders)), 60)
        secs = time.monotonic() - t0
        cpu1, ccpu1 = srv.cpu(), self_cpu()
        split1 = proc_cpu_split(srv.pid)
        acked = [m for s in senders for m in s.acked]
        newest = [m for _, m in sorted((t, m) for s in senders for t, m in zip(s.acked_at, s.acked))][-50:]
        rtt = [x for s in senders for x in s.rtt]
        for ws in clients:
            ws.close()
        if args.kill:
            srv.kill()
        else:
            srv.stop()
        t_restart = time.monotonic()
        srv.start()
        restart_secs = time.monotonic() - t_restart
        ws = await common.connect_login(HOST, srv.port, "u0")
        ws.send("messages_get", channel="general", limit=200)
        page = await ws.expect("messages_get")
        ws.close()
        newest_ok = {m["id"] for m in page["messages"]} >= set(newest)
        total, found = common.count_messages(srv.data_dir, acked)
        srv.stop()
    finally:
        srv.cleanup()
    return {
        "scenario": "ingest", "senders": k, "window": args.window, "secs": round(secs, 2),
        "acked": len(acked), "acked_per_s": round(len(acked) / secs),
        "ack_p50_ms": common.ms(rtt, .5), "ack_p99_ms": common.ms(rtt, .99),
        "server_cpu_util": round((cpu1 - cpu0) / secs, 3),
        "server_sys_share": round((split1[1] - split0[1]) / max(1e-9, cpu1 - cpu0), 3),
        "server_us_per_message": round((cpu1 - cpu0) * 1e6 / max(1, len(acked)), 1),
        "restart": "SIGKILL" if args.kill else "SIGTERM", "restart_to_listening_s": round(restart_secs, 3),
        "stored_after_restart": total, "missing_after_restart": len(acked) - found,
        "newest_page_matches": newest_ok, "client_cpu_util": round((ccpu1 - ccpu0) / secs, 3),
    }
