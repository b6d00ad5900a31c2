"""rich: issue 8's reads (search, threads, pins, unreads, pings, polls) with 0 / 100k / 1M stored
messages, and message_new with mentions against a plain message_new.

The world: 50 text channels (`general` and c01..c49), a forum `forum` holding 10,000 threads, and
100 accounts u0..u99 (all with the `user` role, which views and posts everywhere; u1 also holds
`admin`, so that it may mention `@&user`). u0 is the reader whose requests are timed.

Before the server first starts, the channels, the threads and the accounts are written into the
database as the server's own writers would (store/sql.py `apply_write` of `ChannelSaved`,
`ThreadSaved`, `UserSaved`). Then, through the protocol, the bench posts a working set that every
timed read finds at every size, so that the replies keep their size as the history grows: 400
messages in `general` (each holding one of the ten search phrases), 60 messages of u1 that ping
u0 (`@USR:local_u0 @&user`), 50 pins, 150 messages in one thread and one in 199 others, one in
each other channel, and a poll.

Each size has its own server and data directory. After the working set, its history is written by
rows INSERTed straight into the stopped server's SQLite file, 50,000 per transaction
(`synchronous=OFF`, then `os.sync()`), through the real schema: the message rows carry what the
server would have written (the `mentions` of the messages that ping someone,
`reply_to_id`/`reply_to_user` of replies, `pinned`, polls through `PollCreated`/`PollVoted`), and
the migrations' triggers keep every derived table (search index, block counts, totals, pings and
their counts, poll counters) as they do for the server. 60% of the new messages go to the text
channels (`general` the busiest: channel i has weight 1/(i+1)), 40% to the threads; 2% mention a
user (u0 one time in ten), 2% reply to the previous message of their channel or thread, 0.1%
mention `@&user`; 1 in 2,000 outside `general` is pinned; 1 in 20,000 is a poll. One in 25 holds
one of the ten search phrases (one in 250 a given phrase).

Then every server runs: u0 marks every channel and the 200 threads read up to a message at a
random point of each (`unreads_ack`), the counts are checked through the protocol against the rows
written (`unreads_get` totals and unread counts, the `pings_get` total, the numbers of pins,
threads and search results), and the requests are timed: one request at a time, each operation in
turn and each size in turn (the sizes in a new random order each time), so that the other work on
the machine, which comes and goes, weighs on every size alike; then message_new by u1, plain and
with mentions, alternating.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid
from collections import Counter
from itertools import accumulate
from pathlib import Path
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server
from .wsclient import WS

HOST = "127.0.0.1"
N_CHANNELS = 50
N_THREADS = 10_000
N_USERS = 100
MARKED_THREADS = 200
CHANNEL_SHARE = 0.6
MENTION_RATE, REPLY_RATE, EVERYONE_RATE = 0.02, 0.02, 0.001
TOPIC_RATE = 1 / 25
PIN_RATE, POLL_RATE = 1 / 2000, 1 / 20_000
MAX_PINS = 100  # limits.pins_per_channel
#: every channel: anyone with `user` views, posts, pins and opens threads
PERMS = {"view": ("user",), "send": ("user",), "delete": ("admin", "moderator"), "create_thread": ("user",),
         "pin": ("user",)}
OPS = ("messages_search", "messages_search_rare", "thread_messages", "messages_pinned", "unreads_get",
       "pings_get", "poll_vote")


# ---- the text ---------------------------------------------------------------------------------


class Corpus:
    """Made-up words with Zipf frequencies; ten two-word phrases that messages mention now and then
    (the search queries), and the same pairs reversed (two common words that hardly ever meet:
    the search has to look at every message holding both)."""

    def __init__(self, seed: int = 1, n: int = 2000) -> None:
        rng = random.Random(seed)
        syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
        words: set[str] = set()
        while len(words) < n:
            words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))))
        self.words = sorted(words)
        rng.shuffle(self.words)
        self.cum = list(accumulate(1 / (r + 1) for r in range(n)))
        pairs = [(self.words[100 + 2 * i], self.words[101 + 2 * i]) for i in range(10)]
        self.topics = [f"{a} {b}" for a, b in pairs]
        self.rare = [f"{b} {a}" for a, b in pairs]

    def sentence(self, rng: random.Random, topic: int | None = None) -> str:
        n = rng.randint(4, 12)
        ws = rng.choices(self.words, cum_weights=self.cum, k=n)
        if topic is not None:
            ws.insert(rng.randint(0, n), self.topics[topic])
        return " ".join(ws)


# ---- the world, as written into the database ---------------------------------------------------


class World:
    def __init__(self, data_dir: Path, threads: int = N_THREADS) -> None:
        self.data_dir = data_dir
        self.threads = threads
        self.corpus = Corpus()
        self.rng = random.Random(8)
        self.counts: Counter[tuple[str, str]] = Counter()  # (channel id, thread id or '') -> messages
        self.pins: Counter[tuple[str, str]] = Counter()
        self.pings_u0 = 0  # messages that ping u0 (directly, by a reply, or through @&user)
        self.last: dict[tuple[str, str], tuple[str, str]] = {}  # scope -> (newest id, its author)
        self.polls = 0
        self.channel_ids: list[str] = []
        self.channel_names: dict[str, str] = {}
        self.forum_id = ""
        self.thread_ids: list[str] = []
        self.user_ids = [f"USR:local_u{i}" for i in range(N_USERS)]
        self.user_role = ""

    @property
    def marked_threads(self) -> list[str]:
        return self.thread_ids[:MARKED_THREADS]

    @property
    def general(self) -> str:
        return self.channel_ids[0]

    def create(self) -> None:
        """Accounts, channels and threads, through the server's own writers."""
        from originchats.core.model import Channel, Thread, User
        from originchats.core.writes import ChannelSaved, ThreadSaved, UserSaved
        from originchats.store.load import load_channels
        from originchats.store.sql import apply_write

        pw = common.password_hash(CHEAP_ARGON2)
        con = common.open_store(self.data_dir)
        try:
            con.execute("BEGIN")
            now = time.time()
            for i, uid in enumerate(self.user_ids):
                roles = ("user", "admin") if i == 1 else ("user",)
                apply_write(con, UserSaved(User(id=uid, username=uid, nickname=f"u{i}", password_hash=pw,
                                                roles=roles, created_at=now)))
            general = next(c for c in load_channels(con) if c.name == "general")
            channels = [Channel(id=general.id, name="general", type="text", description=general.description,
                                display_name=general.display_name, permissions=PERMS)]
            channels += [Channel(id=str(uuid.uuid4()), name=f"c{i:02d}", type="text", permissions=PERMS)
                         for i in range(1, N_CHANNELS)]
            forum = Channel(id=str(uuid.uuid4()), name="forum", type="forum", permissions=PERMS)
            for ch in (*channels, forum):
                apply_write(con, ChannelSaved(ch))
            self.channel_ids = [c.id for c in channels]
            self.channel_names = {c.id: c.name for c in channels}
            self.forum_id = forum.id
            for i in range(self.threads):
                by = self.user_ids[self.rng.randrange(N_USERS)]
                t = Thread(id=str(uuid.uuid4()), channel_id=forum.id, name=f"topic {i}", created_by=by,
                           created_at=now, participants=(by,))
                apply_write(con, ThreadSaved(t))
                self.thread_ids.append(t.id)
            self.user_role = con.execute("SELECT id FROM roles WHERE name = 'user'").fetchone()[0]
            con.execute("COMMIT")
        finally:
            con.close()

    def grow(self, count: int, chunk: int = 50_000) -> float:
        """Append `count` messages (module docstring); returns the seconds it took."""
        from originchats.store.sql import MESSAGE_COLUMNS

        if count <= 0:
            return 0.0
        t0 = time.monotonic()
        rng, corpus = self.rng, self.corpus
        ch_cum = list(accumulate(1 / (i + 1) for i in range(N_CHANNELS)))
        insert = f"INSERT INTO messages({MESSAGE_COLUMNS}, mentions) VALUES ({', '.join('?' * 17)})"
        u0, everyone = "u:" + self.user_ids[0], "r:" + self.user_role
        con = common.open_store(self.data_dir)
        try:
            con.execute("PRAGMA cache_size=-262144")
            (newest,) = con.execute("SELECT COALESCE(MAX(timestamp), 0) FROM messages").fetchone()
            now = time.time() - 1
            start = max(newest, now - count * 0.001)
            step = (now - start) / count
            done = 0
            while done < count:
                n = min(chunk, count - done)
                rows: list[tuple] = []
                polls: list[tuple[int, str, str]] = []
                for i in range(n):
                    ts = start + (done + i) * step
                    if rng.random() < CHANNEL_SHARE:
                        cid, tid = rng.choices(self.channel_ids, cum_weights=ch_cum)[0], None
                    else:
                        cid, tid = self.forum_id, rng.choice(self.thread_ids)
                    key = (cid, tid or "")
                    author = self.user_ids[rng.randrange(N_USERS)]
                    if tid is None and cid != self.general and rng.random() < POLL_RATE:
                        polls.append((len(rows), cid, author))  # written after the rows before it
                        continue
                    mid = str(uuid.uuid4())
                    words, targets = [], []
                    if rng.random() < MENTION_RATE:
                        for _ in range(2 if rng.random() < 0.2 else 1):
                            k = 0 if rng.random() < 0.1 else rng.randrange(N_USERS)
                            words.append(f"@{self.user_ids[k]}")
                            if "u:" + self.user_ids[k] not in targets:
                                targets.append("u:" + self.user_ids[k])
                    reply_id = reply_user = None
                    if rng.random() < REPLY_RATE and key in self.last:
                        reply_id, reply_user = self.last[key]
                        if "u:" + reply_user not in targets:
                            targets.append("u:" + reply_user)
                    if rng.random() < EVERYONE_RATE:
                        words.append("@&user")
                        targets.append(everyone)
                    topic = rng.randrange(10) if rng.random() < TOPIC_RATE else None
                    words.append(corpus.sentence(rng, topic))
                    pinned = 0
                    if cid != self.general and self.pins[key] < MAX_PINS and rng.random() < PIN_RATE:
                        pinned = 1
                        self.pins[key] += 1
                    if u0 in targets or everyone in targets:
                        self.pings_u0 += 1
                    rows.append((mid, cid, tid, author, " ".join(words), ts, reply_id, reply_user, None, None, None,
                                 0, pinned, None, None, None,
                                 json.dumps(targets, separators=(",", ":")) if targets else None))
                    self.counts[key] += 1
                    self.last[key] = (mid, author)
                con.execute("BEGIN")
                at = 0
                for pos, cid, author in polls:
                    con.executemany(insert, rows[at:pos])
                    at = pos
                    self._poll(con, cid, author, start + (done + pos) * step)
                con.executemany(insert, rows[at:])
                con.execute("COMMIT")
                done += n
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
        os.sync()  # written with synchronous=OFF: flushed now, not during the measurement
        return time.monotonic() - t0

    def _poll(self, con: sqlite3.Connection, cid: str, author: str, ts: float) -> None:
        """A poll as poll_create writes it (its message and record), and a few votes."""
        from originchats.core.model import Message
        from originchats.core.poll_records import Poll
        from originchats.core.polls import embed
        from originchats.core.writes import MessageCreated, PollCreated, PollVoted
        from originchats.store.sql import apply_write

        rng = self.rng
        options = tuple({"id": str(i), "text": f"option {i}"} for i in range(rng.randint(2, 5)))
        poll = Poll(id=str(uuid.uuid4()), message_id=str(uuid.uuid4()), channel_id=cid, thread_id=None,
                    question=self.corpus.sentence(rng), options=options, allow_multiselect=False,
                    expires_at=None, created_by=author, created_at=ts)
        message = Message(id=poll.message_id, channel_id=cid, thread_id=None, user_id=author, content="",
                          timestamp=ts, embeds=[embed(poll)])
        apply_write(con, MessageCreated(message))
        apply_write(con, PollCreated(poll))
        for voter in rng.sample(self.user_ids, rng.randint(0, 20)):
            apply_write(con, PollVoted(poll_id=poll.id, user_id=voter, option_ids=(rng.choice(options)["id"],), at=ts,
                                        exclusive=True))
        self.counts[(cid, "")] += 1
        self.last[(cid, "")] = (message.id, author)
        self.polls += 1


# ---- the protocol side -----------------------------------------------------------------------


async def _ask(ws: WS, cmd: str, **fields: Any) -> dict:
    return (await common.timed(ws, cmd, fields))[1]


async def seed(world: World, u0: WS, u1: WS) -> str:
    """The working set (module docstring), through the protocol; returns the poll's id."""
    rng, corpus = random.Random(3), world.corpus
    g = world.general
    posted = []
    for i in range(400):
        pkt = await _ask(u0, "message_new", channel="general", content=corpus.sentence(rng, i % 10))
        posted.append(pkt["message"]["id"])
    for i in range(60):
        await _ask(u1, "message_new", channel="general", content=f"@USR:local_u0 @&user {corpus.sentence(rng)}")
    world.counts[(g, "")] += 460
    world.pings_u0 += 60
    for cid in world.channel_ids[1:]:
        await _ask(u0, "message_new", channel=world.channel_names[cid], content=corpus.sentence(rng))
        world.counts[(cid, "")] += 1
    for j, tid in enumerate(world.marked_threads):
        for _ in range(150 if j == 0 else 1):
            await _ask(u0, "message_new", thread_id=tid, content=corpus.sentence(rng))
            world.counts[(world.forum_id, tid)] += 1
    for mid in posted[::8]:
        await _ask(u0, "message_pin", channel="general", id=mid)
    world.pins[(g, "")] += 50
    pkt = await _ask(u0, "poll_create", channel="general", question="which one?", options=["this", "that"])
    world.counts[(g, "")] += 1
    return pkt["poll_id"]


def _ro(world: World) -> sqlite3.Connection:
    from originchats.store.db import db_path

    return sqlite3.connect(f"file:{db_path(world.data_dir)}?mode=ro", uri=True)


async def mark(world: World, u0: WS) -> dict[str, tuple[str, int]]:
    """u0 acknowledges every channel and the marked threads up to a message picked at random in
    each; returns target -> (message id, seq)."""
    rng = random.Random(len(world.counts) + sum(world.counts.values()))
    con = _ro(world)
    out = {}
    try:
        targets = [(cid, None) for cid in world.channel_ids] + [(world.forum_id, t) for t in world.marked_threads]
        for cid, tid in targets:
            lo, hi = con.execute("SELECT MIN(seq), MAX(seq) FROM messages WHERE channel_id = ? AND thread_id IS ?",
                                 (cid, tid)).fetchone()
            mid, seq = con.execute("SELECT id, seq FROM messages WHERE channel_id = ? AND thread_id IS ? AND seq >= ?"
                                   " ORDER BY seq LIMIT 1", (cid, tid, rng.randint(lo, hi))).fetchone()
            if tid is None:
                await _ask(u0, "unreads_ack", channel=world.channel_names[cid], message_id=mid)
                out[world.channel_names[cid]] = (mid, seq)
            else:
                await _ask(u0, "unreads_ack", thread_id=tid, message_id=mid)
                out["thread/" + tid] = (mid, seq)
    finally:
        con.close()
    return out


async def verify(world: World, u0: WS, marks: dict[str, tuple[str, int]], thread_id: str) -> dict[str, Any]:
    """The protocol's counts against the rows written; raises on the first difference."""
    con = _ro(world)
    problems: list[str] = []
    try:
        unreads = (await _ask(u0, "unreads_get"))["unreads"]
        if set(unreads) != set(marks):
            problems.append(f"unreads_get keys: {len(unreads)} entries, {len(marks)} expected")
        ids = {name: cid for cid, name in world.channel_names.items()}
        for key, (mid, seq) in marks.items():
            e = unreads.get(key, {})
            cid, tid = (ids[key], None) if not key.startswith("thread/") else (world.forum_id, key[7:])
            total = world.counts[(cid, tid or "")]
            (after,) = con.execute("SELECT COUNT(*) FROM messages WHERE channel_id = ? AND thread_id IS ? AND seq > ?",
                                   (cid, tid, seq)).fetchone()
            if (e.get("total_messages"), e.get("unread_count"), e.get("last_read")) != (total, after, mid):
                problems.append(f"unreads_get {key}: {e} expected total {total}, unread {after}, last_read {mid}")
        pings = await _ask(u0, "pings_get", limit=50)
        if pings["total"] != world.pings_u0 or len(pings["messages"]) != 50:
            problems.append(f"pings_get total {pings['total']} (expected {world.pings_u0}), page {len(pings['messages'])}")
        pinned = await _ask(u0, "messages_pinned", channel="general")
        if len(pinned["messages"]) != 50:
            problems.append(f"messages_pinned: {len(pinned['messages'])} (expected 50)")
        page = await _ask(u0, "thread_messages", thread_id=thread_id, limit=100)
        if len(page["messages"]) != 100:
            problems.append(f"thread_messages: {len(page['messages'])} (expected 100)")
        channels = (await _ask(u0, "channels_get"))["val"]
        forum = next((c for c in channels if c.get("name") == "forum"), {})
        if len(forum.get("threads", ())) != world.threads:
            problems.append(f"forum threads: {len(forum.get('threads', ()))} (expected {world.threads})")
        searched = {}
        for q in (world.corpus.topics[0], world.corpus.rare[0]):
            found = (await _ask(u0, "messages_search", channel="general", query=q))["results"]
            # every message of general holding the query, by a plain scan (no index, no trigger table)
            (n,) = con.execute("SELECT COUNT(*) FROM messages NOT INDEXED WHERE channel_id = ? AND thread_id IS NULL"
                               " AND instr(lower(content), ?) > 0", (world.general, q)).fetchone()
            searched[q] = n
            if len(found) != min(30, n) or any(q not in m["content"].lower() for m in found):
                problems.append(f"messages_search {q!r}: {len(found)} results, {n} matches stored")
    finally:
        con.close()
    if problems:
        raise RuntimeError("inconsistent data: " + "; ".join(problems[:5]))
    return {"unread_entries": len(unreads), "pings_total": pings["total"], "search_matches": searched}


class Site:
    """One size: its server, its world and its two clients."""

    def __init__(self, size: int, threads: int) -> None:
        self.size = size
        self.srv = Server(argon2=CHEAP_ARGON2)
        self.world = World(self.srv.data_dir, threads)
        self.u0: WS | None = None
        self.u1: WS | None = None
        self.poll_id = ""
        self.prefill_secs = 0.0

    async def connect(self) -> None:
        self.srv.start()
        self.u0 = await common.connect_login(HOST, self.srv.port, "u0")
        self.u1 = await common.connect_login(HOST, self.srv.port, "u1")

    def close(self) -> None:
        for ws in (self.u0, self.u1):
            if ws is not None:
                ws.close()
        self.u0 = self.u1 = None
        self.srv.stop()

    async def build(self) -> None:
        """The world, the working set, then the history; the server is left stopped."""
        self.world.create()
        await self.connect()
        self.poll_id = await seed(self.world, self.u0, self.u1)
        self.close()
        self.prefill_secs = self.world.grow(self.size)


async def measure(sites: list[Site], reps: int) -> dict[str, dict[int, list[int]]]:
    """Each operation in turn, each size in turn (in a random order each time): the machine's noise
    (other work on it comes and goes) falls on every operation and every size alike."""
    lat: dict[str, dict[int, list[int]]] = {k: {s.size: [] for s in sites}
                                            for k in (*OPS, "message_new_plain", "message_new_mentions")}
    c = sites[0].world.corpus
    requests = {
        "messages_search": lambda s, i: {"channel": "general", "query": c.topics[i % 10]},
        "messages_search_rare": lambda s, i: {"channel": "general", "query": c.rare[i % 10]},
        "thread_messages": lambda s, i: {"thread_id": s.world.thread_ids[0], "limit": 100},
        "messages_pinned": lambda s, i: {"channel": "general"},
        "unreads_get": lambda s, i: {},
        "pings_get": lambda s, i: {"limit": 50},
        "poll_vote": lambda s, i: {"poll_id": s.poll_id, "option_id": str(i % 2)},
    }
    # the sizes in a new random order for each request: something on the machine that recurs at a
    # steady period would otherwise fall on the same place of the fixed sequence, so on one size
    shuffled = random.Random(7)

    def in_turn() -> list[Site]:
        order = list(sites)
        shuffled.shuffle(order)
        return order

    for i in range(reps):
        for op in OPS:
            cmd = "messages_search" if op.startswith("messages_search") else op
            for s in in_turn():
                dt, _ = await common.timed(s.u0, cmd, requests[op](s, i))
                lat[op][s.size].append(dt)
    for s in sites:
        s.u0.drain()
        s.u1.drain()
    rng = random.Random(5)
    for i in range(reps):
        text = c.sentence(rng)
        for kind in ("plain", "mentions"):
            content = f"@USR:local_u0 @&user {text}" if kind == "mentions" else f"nobody is mentioned {text}"
            for s in in_turn():
                dt, _ = await common.timed(s.u1, "message_new", {"channel": "general", "content": content})
                lat["message_new_" + kind][s.size].append(dt)
        if i % 50 == 0:
            for s in sites:
                s.u0.drain()
    for s in sites:
        s.world.counts[(s.world.general, "")] += 2 * reps
        s.world.pings_u0 += reps
        s.u0.drain()
    return lat


async def rich(args: Any) -> dict[str, Any]:
    sizes = sorted(set(args.sizes))
    sites = [Site(size, args.threads) for size in sizes]
    checks: dict[str, Any] = {}
    try:
        for s in sites:
            await s.build()
        for s in sites:
            await s.connect()
            marks = await mark(s.world, s.u0)
            s.u0.drain()
            checks[str(s.size)] = await verify(s.world, s.u0, marks, s.world.thread_ids[0])
        lat = await measure(sites, args.reps)
    finally:
        for s in sites:
            try:
                s.close()
            finally:
                s.srv.cleanup()
    ops = {k: {str(size): {"p50_ms": common.ms(v, .5), "p99_ms": common.ms(v, .99), "n": len(v)}
               for size, v in per.items()} for k, per in lat.items()}
    first, last = str(sizes[0]), str(sizes[-1])
    ratio = {k: (round(v[last]["p50_ms"] / v[first]["p50_ms"], 2) if v[first]["p50_ms"] else None)
             for k, v in ops.items()}
    mentions = {str(s): round(ops["message_new_mentions"][str(s)]["p50_ms"] / ops["message_new_plain"][str(s)]["p50_ms"], 2)
                for s in sizes}
    return {"scenario": "rich", "sizes": sizes, "reps": args.reps, "ops": ops,
            "ratio_largest_vs_empty": ratio, "mentions_vs_plain": mentions, "checks": checks,
            "prefill_secs": {str(s.size): round(s.prefill_secs, 1) for s in sites if s.size},
            "world": {"text_channels": N_CHANNELS, "threads": args.threads, "users": N_USERS,
                      "prefilled_polls": {str(s.size): s.world.polls for s in sites}},
            "how": "one server per size, requests interleaved over the sizes; rows INSERTed straight into "
                   "each stopped server's SQLite file, 50k per transaction"}
