"""integrations: broadcast latency of plain chat vs the same chat with 20 plugins subscribed to
`new_message` and 100 web push subscribers that every message pushes to (issue 10).

Two servers in turn, on fresh data directories, with the same fan-out load (bench/fanout.py: N
receivers and S senders in `general`; a saturation phase, then one message at a time), every
message mentioning the role `pushers`:
* plain: the role exists but nobody holds it; no plugins;
* loaded: 100 offline accounts hold the role and each has a push subscription whose endpoint is a
  fake push service on loopback (bench/fakepush.py, a child process at SCHED_IDLE beside the load generator) (it answers 201 to every POST and counts them;
  the server's test allowances `push.allow_http`/`allow_private` let it in); and 20 trivial plugin
  modules in `<data dir>/plugins/` subscribed to `new_message`.
So each message of the loaded run is stored, broadcast, handed to 20 plugins and pushed (encrypted
and signed) to 100 subscriptions, while the latency of its broadcast is measured. The target: the
loaded broadcast p99 within 1.2x of the plain one.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import common
from .fanout import run_fanout
from .server import CHEAP_ARGON2, Server

ROLE = "pushers"
PLUGIN = '''
def getInfo():
    return {{"name": "bench{i}", "description": "counts messages", "handles": ["new_message"]}}


SEEN = [0]


def on_new_message(api, data):
    SEEN[0] += 1
'''


class FakePushService:
    """The fake push service (bench/fakepush.py) as a child process."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.fakepush", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parent.parent))
        assert self.proc.stdout is not None
        self.port = int(await self.proc.stdout.readline())

    async def counts(self) -> tuple[int, int]:
        """(pushes answered, distinct subscriptions pushed to) so far."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"?\n")
        line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
        posts, paths = line.split()
        return int(posts), int(paths)

    async def settled(self, quiet: float = 1.0, limit: float = 30.0) -> tuple[int, int]:
        """The counts once no push has come for `quiet` seconds (or after `limit`): the server's
        waiting pushes have all gone out."""
        last, deadline = await self.counts(), time.monotonic() + limit
        while time.monotonic() < deadline:
            await asyncio.sleep(quiet)
            now = await self.counts()
            if now == last:
                break
            last = now
        return last

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            assert proc.stdin is not None
            proc.stdin.close()
            await proc.wait()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def prepare(data_dir: Path, subscribers: int, push_port: int) -> None:
    """The role, and (`subscribers` > 0) the offline role members with their subscriptions."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from originchats.core.model import Role
    from originchats.core.push_records import PushSub
    from originchats.core.writes import PushSubscribed, RoleSaved, UserSaved
    from originchats.store.sql import apply_write

    names = [f"p{i}" for i in range(subscribers)]
    common.add_users(data_dir, names, CHEAP_ARGON2)
    con = common.open_store(data_dir)
    try:
        con.execute("BEGIN")
        apply_write(con, RoleSaved(Role(id="role_pushers", name=ROLE, permissions=[], position=10)))
        now = time.time()
        for name in names:
            uid = "USR:local_" + name
            from originchats.core.model import User

            row = con.execute("SELECT password_hash FROM users WHERE id = ?", (uid,)).fetchone()
            apply_write(con, UserSaved(User(id=uid, username=uid, nickname=name, password_hash=row[0],
                                            roles=("user", ROLE), created_at=now)))
            key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
                Encoding.X962, PublicFormat.UncompressedPoint)
            apply_write(con, PushSubscribed(PushSub(f"http://127.0.0.1:{push_port}/push/{name}", uid, _b64(key),
                                                    _b64(os.urandom(16)), now, now)))
        con.execute("COMMIT")
    finally:
        con.close()


async def one(args: Any, loaded: bool) -> dict[str, Any]:
    fake = FakePushService()
    await fake.start()
    users = min(args.users, args.n + args.senders)
    srv = Server(argon2=CHEAP_ARGON2, config={"push": {"allow_http": True, "allow_private": True}})
    try:
        common.add_users(srv.data_dir, [f"u{i}" for i in range(users)], CHEAP_ARGON2)
        srv.start(wait=False)  # the first start makes the schema; then stop, fill, start again
        srv.wait_listening()
        srv.stop()
        prepare(srv.data_dir, args.subscribers if loaded else 0, fake.port)
        if loaded:
            folder = srv.data_dir / "plugins"
            folder.mkdir(exist_ok=True)
            for i in range(args.plugins):
                (folder / f"bench{i}.py").write_text(PLUGIN.format(i=i))
        with srv:
            r = await run_fanout(srv.port, srv.cpu, n=args.n, senders=args.senders, messages=args.messages,
                                 window=args.window, one_at_a_time=args.one_at_a_time, users=users, raw=False,
                                 suffix=b" @&" + ROLE.encode())
            r["push_posts"], r["push_reached"] = await fake.settled()
            r["server_rss_mib"] = round(srv.rss_kib() / 1024, 1)
    finally:
        await fake.stop()
    return r


#: runs of this process so far: `--runs N` alternates which server goes first, so that neither
#: always meets the machine first (a page cache, a CPU that has just woken)
_RUNS = itertools.count()


async def integrations(args: Any) -> dict[str, Any]:
    if next(_RUNS) % 2 == 0:
        plain = await one(args, loaded=False)
        loaded = await one(args, loaded=True)
    else:
        loaded = await one(args, loaded=True)
        plain = await one(args, loaded=False)
    keep = ("lat_one_p50_ms", "lat_one_p99_ms", "lat_sat_p50_ms", "lat_sat_p99_ms", "msgs_per_s",
            "server_cpu_util", "loss_total", "timed_out", "push_posts", "push_reached")
    out: dict[str, Any] = {"scenario": "integrations", "n": args.n, "senders": args.senders,
                           "messages": plain["messages"], "one_at_a_time": args.one_at_a_time,
                           "plugins": args.plugins, "subscribers": args.subscribers}
    for name, r in (("plain", plain), ("loaded", loaded)):
        for k in keep:
            out[f"{name}_{k}"] = r.get(k)
    for k in ("lat_one_p99_ms", "lat_sat_p99_ms"):
        if plain.get(k) and loaded.get(k) is not None:
            out[f"ratio_{k}"] = round(loaded[k] / plain[k], 3)
    return out
