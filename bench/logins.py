"""logins: a storm of password logins with the DEFAULT argon2id cost (64 MiB, 3 passes), and what it
does to everyone else; then reconnects with session tokens.

Observers (logged in before) receive a `message_new` that a broadcaster posts every 20 ms; their
send-to-arrival latency is measured first with no storm, then while `in_flight` password logins
are kept running at once (each a fresh connection that logs in and leaves). Then `tokens`
reconnects with the `ready.validator` tokens the storm handed out (`login` with `token`), 50 at a
time: reconnects/s and the latency of one.

`--hostile N` measures something else (`hostile_logins`): N sockets of one address flooding
password logins, and how long a password login from another address takes meanwhile.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from . import common
from .server import Server, self_cpu
from .wsclient import MSG_NEW, WS, content_ns, open_ws

HOST = "127.0.0.1"


class Observer:
    def __init__(self, ws: WS, sink: list[int]) -> None:
        self.sink = sink
        ws.framing(self.on_text)

    def on_text(self, data: bytes, start: int, end: int, now: int) -> None:
        if data.startswith(MSG_NEW, start):
            got = content_ns(data, start, end)
            if got is not None:
                self.sink.append(now - got[0])


async def _broadcast(ws: WS, stop: asyncio.Event, period: float = 0.02) -> int:
    sent = 0
    while not stop.is_set():
        ws.send_bytes(b'{"cmd":"message_new","channel":"general","content":"%d:bcast"}' % time.monotonic_ns())
        sent += 1
        await asyncio.sleep(period)
    return sent


async def logins(args: Any) -> dict[str, Any]:
    if getattr(args, "hostile", 0):
        return await hostile_logins(args)
    storm_users = [f"s{i}" for i in range(args.in_flight * 2)]
    obs_users = [f"o{i}" for i in range(args.observers + 1)]
    srv = Server(argon2=None)  # the default argon2id cost, as configured out of the box
    common.add_users(srv.data_dir, storm_users + obs_users, None)
    with srv:
        broadcaster, observers = await common.broadcaster_and_observers(srv.port, obs_users)
        calm: list[int] = []
        for ws in observers:
            Observer(ws, calm)
        stop = asyncio.Event()
        bcast = asyncio.create_task(_broadcast(broadcaster, stop))
        await asyncio.sleep(2.0)
        storm: list[int] = []
        for ws in observers:
            Observer(ws, storm)

        done = 0
        login_lat: list[int] = []
        tokens: list[tuple[str, str]] = []
        errors = 0
        deadline = time.monotonic() + args.secs

        async def stormer(k: int) -> None:
            nonlocal done, errors
            i = k
            while time.monotonic() < deadline:
                name = storm_users[i % len(storm_users)]
                i += args.in_flight
                t0 = time.monotonic_ns()
                try:
                    ws = await open_ws(HOST, srv.port)
                    ready = await common.login(ws, name)
                except Exception:  # noqa: BLE001 - counted
                    errors += 1
                    continue
                login_lat.append(time.monotonic_ns() - t0)
                tokens.append((name, ready["validator"]))
                done += 1
                ws.close()

        cpu0, ccpu0, t0 = srv.cpu(), self_cpu(), time.monotonic()
        calm_n = len(calm)
        await asyncio.gather(*(stormer(k) for k in range(args.in_flight)))
        storm_secs = time.monotonic() - t0
        cpu1, ccpu1 = srv.cpu(), self_cpu()
        stop.set()
        await bcast
        calm = calm[:calm_n]

        # ---- reconnects with session tokens (the newest token of each account)
        latest = dict(tokens)
        use = list(latest.items())
        token_lat: list[int] = []
        token_errors = 0
        sem = asyncio.Semaphore(50)
        queue = list(use) * max(1, args.tokens // max(1, len(use)) + 1)

        async def reconnect(name: str) -> None:
            nonlocal token_errors
            async with sem:
                t = time.monotonic_ns()
                try:
                    ws = await open_ws(HOST, srv.port)
                    ws.send("login", username=name, token=latest[name])
                    first = await ws.recv(30)
                    if first.get("cmd") != "auth_success":
                        raise RuntimeError(str(first))
                    ready = await ws.expect("ready")
                    latest[name] = ready["validator"]  # single-use: the next one
                    token_lat.append(time.monotonic_ns() - t)
                    ws.close()
                except Exception:  # noqa: BLE001 - counted
                    token_errors += 1

        # one reconnect per account at a time (a token is single-use), rounds of all accounts
        t1 = time.monotonic()
        todo = args.tokens
        while todo > 0:
            batch = [name for name, _ in use][:todo]
            await asyncio.gather(*(reconnect(n) for n in batch))
            todo -= len(batch)
        token_secs = time.monotonic() - t1
        del queue
        for ws in [broadcaster, *observers]:
            ws.close()
    return {
        "scenario": "logins", "in_flight": args.in_flight, "storm_secs": round(storm_secs, 2),
        "logins": done, "login_errors": errors, "logins_per_s": round(done / storm_secs, 2),
        "login_p50_ms": common.ms(login_lat, .5), "login_p99_ms": common.ms(login_lat, .99),
        "observers": len(observers),
        "calm_bcast_p50_ms": common.ms(calm, .5), "calm_bcast_p99_ms": common.ms(calm, .99),
        "storm_bcast_p50_ms": common.ms(storm, .5), "storm_bcast_p99_ms": common.ms(storm, .99),
        "storm_bcast_max_ms": common.ms(storm, 1.0), "storm_samples": len(storm),
        "server_cpu_util": round((cpu1 - cpu0) / storm_secs, 3),
        "client_cpu_util": round((ccpu1 - ccpu0) / storm_secs, 3),
        "token_logins": len(token_lat), "token_errors": token_errors,
        "token_logins_per_s": round(len(token_lat) / token_secs, 1),
        "token_login_p50_ms": common.ms(token_lat, .5), "token_login_p99_ms": common.ms(token_lat, .99),
    }


# ---- hostile: one address floods password logins; does another address still get in? -------------

HOSTILE_SOURCE = "127.0.0.1"
VICTIM_SOURCE = "127.0.0.2"


async def hostile_logins(args: Any) -> dict[str, Any]:
    """`args.hostile` sockets from 127.0.0.1, each looping password logins on its own account (a
    refused login is retried at once on the same socket, a successful one reconnects), while a user
    from 127.0.0.2 logs in `args.victim_logins` times with a password, then once with its token.
    The server runs with the default argon2id cost and the default [auth] limits."""
    names = [f"h{i}" for i in range(args.hostile)]
    srv = Server(argon2=None, auth={})  # the out-of-the-box limits are what is measured
    common.add_users(srv.data_dir, names + ["victim"], None)
    ok = refused = other = 0
    with srv:
        stop = asyncio.Event()

        async def flood(name: str) -> None:
            nonlocal ok, refused, other
            ws = None
            while not stop.is_set():
                try:
                    if ws is None:
                        ws = await open_ws(HOST, srv.port, source=HOSTILE_SOURCE)
                    ws.send("login", username=name, password=common.PASSWORD)
                    reply = await ws.recv(300)
                except Exception:  # noqa: BLE001 - counted; a new socket next time
                    other += 1
                    ws = None
                    await asyncio.sleep(0.05)
                    continue
                if reply.get("cmd") == "auth_success":
                    ok += 1
                    ws.close()
                    ws = None
                elif reply.get("cmd") == "auth_error" and "try again shortly" in str(reply.get("val")):
                    refused += 1
                else:
                    other += 1
            if ws is not None:
                ws.close()

        flooders = [asyncio.create_task(flood(n)) for n in names]
        await asyncio.sleep(args.warmup)  # the flood is established
        cpu0, t0 = srv.cpu(), time.monotonic()
        ok0, refused0 = ok, refused
        victim_lat: list[int] = []
        victim_errors = 0
        token = None
        for _ in range(args.victim_logins):
            t = time.monotonic_ns()
            try:
                ws = await open_ws(HOST, srv.port, source=VICTIM_SOURCE)
                ready = await common.login(ws, "victim", timeout=300)
                victim_lat.append(time.monotonic_ns() - t)
                token = ready["validator"]
                ws.close()
            except Exception as exc:  # noqa: BLE001 - counted
                print(f"# victim login failed: {exc}", file=sys.stderr)
                victim_errors += 1
            await asyncio.sleep(0.5)
        token_ms = None
        if token is not None:
            t = time.monotonic_ns()
            ws = await open_ws(HOST, srv.port, source=VICTIM_SOURCE)
            ws.send("login", username="victim", token=token)
            first = await ws.recv(300)
            if first.get("cmd") == "auth_success":
                token_ms = round((time.monotonic_ns() - t) / 1e6, 3)
            ws.close()
        secs = time.monotonic() - t0
        cpu1 = srv.cpu()
        stop.set()
        for task in flooders:
            task.cancel()
        await asyncio.gather(*flooders, return_exceptions=True)
    return {
        "scenario": "logins-hostile", "hostile_sockets": args.hostile, "secs": round(secs, 2),
        "victim_logins": len(victim_lat), "victim_errors": victim_errors,
        "victim_login_p50_ms": common.ms(victim_lat, .5), "victim_login_max_ms": common.ms(victim_lat, 1.0),
        "victim_under_2s": bool(victim_lat) and max(victim_lat) < 2e9 and not victim_errors,
        "victim_token_login_ms": token_ms,
        "hostile_logins_per_s": round((ok - ok0) / secs, 2),
        "hostile_refused_per_s": round((refused - refused0) / secs, 1),
        "hostile_other": other, "server_cpu_util": round((cpu1 - cpu0) / secs, 3),
    }
