"""What the search index costs, measured on the store directly (no server, no sockets): the writer's
CPU per message, the index's bytes per message and the time of one search, on a database of
`--messages` messages (default 1M). Not part of `all`:

    .venv/bin/python -m bench.search_index [--messages N] [--runs 3] [--dir DIR]

The database: chat-like messages of 1-40 words (mean ~8) drawn, by their frequency, from the
English of Python's own documentation (`pydoc_data.topics`, so the same text on every machine);
~63% in `general`, ~4.5% in each of six other channels, ~0.25% in each of 40 threads of a forum.
It is built with plain INSERTs before the migrations that make the index (as an upgrade would
index an existing history), once per checkout and `--messages`, and kept in `--dir`.

* writes: µs of CPU (this process, single-threaded) per message through the writer's own group
  code (`store/writer.py` `_apply_batch`), on a copy of the database: new messages in groups of
  256 and one per commit, edits one per commit and in groups of 16, deletes one per commit; and
  on a fresh database with the `ceiling` bench's messages (`"<ns>:s<i>"` in `general`) in groups
  of 8 and one per commit. Each kind runs `--runs` times (medians).
* size: bytes of the index's tables and their indexes per message (SQLite's dbstat).
* search: `store/reads.py` `search` (limit 30, scan 5000) on a read-only connection, the best of 3
  for each of 40 queries after a warm-up pass: p50 and p90 in ms, per kind of query (one word; two
  words that occur together; two random words; 30-40 characters of a stored message; 30-40
  characters that occur nowhere) and per scope (`general`, one small channel, one thread).

Run it from another checkout to compare (it only uses what every version of the store has).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from originchats.core import ops
from originchats.core import writes as w
from originchats.core.model import Message
from originchats.store import reads, sql, writer
from originchats.store.db import open_db
from originchats.store.migrate import MIGRATIONS_DIR, apply_migrations

from .server import ROOT

CHANNELS = ["general"] * 14 + [f"ch{i}" for i in range(6)]


def vocabulary() -> tuple[list[str], list[int]]:
    from pydoc_data.topics import topics

    counts = Counter(word.lower() for text in topics.values() for word in re.findall(r"[A-Za-z]{2,}", text))
    ranked = counts.most_common()
    return [wd for wd, _ in ranked], [c for _, c in ranked]


WORDS, WEIGHTS = vocabulary()


def texts(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        words = rng.choices(WORDS, WEIGHTS, k=min(40, max(1, int(rng.expovariate(1 / 8)))))
        if rng.random() < 0.3:
            words[0] = words[0].capitalize()
        out.append(" ".join(words) + rng.choice(["", "", "", ".", "!", "?", " :)"]))
    return out


def rows(rng: random.Random, n: int) -> list[tuple[str, str, str | None, str]]:
    out = []
    for text in texts(rng, n):
        mid = uuid.UUID(int=rng.getrandbits(128)).hex
        if rng.random() < 0.1:
            out.append((mid, "forum", f"th{rng.randrange(40)}", text))
        else:
            out.append((mid, rng.choice(CHANNELS), None, text))
    return out


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def migrations_upto(folder: Path, last: int) -> Path:
    out = folder / f"upto{last}"
    out.mkdir(exist_ok=True)
    for path in Path(str(MIGRATIONS_DIR)).glob("*.sql"):
        if int(path.name[:4]) <= last:
            shutil.copy(path, out)
    return out


def build(path: Path, n: int) -> float:
    """The history with plain INSERTs before migration 0005 (no index yet), then every later
    migration. Returns the seconds those migrations took (building the index)."""
    remove(path)
    tmp = Path(tempfile.mkdtemp())
    con = open_db(path, synchronous="NORMAL")
    try:
        apply_migrations(con, migrations_upto(tmp, 4))
        con.execute("PRAGMA cache_size=-262144")
        rng, done = random.Random(7), 0
        while done < n:
            k = min(50_000, n - done)
            con.execute("BEGIN")
            con.executemany("INSERT INTO messages(id, channel_id, thread_id, user_id, content, timestamp)"
                            " VALUES (?, ?, ?, 'USR:local_u0', ?, 0)", rows(rng, k))
            con.execute("COMMIT")
            done += k
        t0 = time.perf_counter()
        apply_migrations(con)
        secs = time.perf_counter() - t0
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
        shutil.rmtree(tmp)
    return secs


def index_bytes(path: Path) -> dict[str, Any]:
    con = sqlite3.connect(path)
    try:
        n = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        index = con.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat"
                            " WHERE name LIKE 'messages\\_fts%' ESCAPE '\\' OR name LIKE 'search\\_%' ESCAPE '\\'"
                            " OR name LIKE 'sqlite_autoindex_search%'").fetchone()[0]
        whole = con.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0]
    finally:
        con.close()
    return {"messages": n, "index_bytes_per_message": round(index / n, 1), "db_bytes_per_message": round(whole / n, 1)}


# ---- writes -----------------------------------------------------------------------------------------


def cpu_per_write(path: Path, facts: list[Any], group: int) -> float:
    """µs of CPU per fact, committed `group` facts (entries) at a time by the writer's group code."""
    con = open_db(path, synchronous="NORMAL")
    try:
        t0 = time.process_time()
        for k in range(0, len(facts), group):
            entries = [writer._Entry([f], done=None) for f in facts[k:k + group]]
            writer._apply_batch(con, entries)
            failed = [e.error for e in entries if e.error is not None]
            assert not failed, failed[0]
        return (time.process_time() - t0) / len(facts) * 1e6
    finally:
        con.close()


def created(rng: random.Random, n: int) -> list[w.MessageCreated]:
    return [w.MessageCreated(Message(id=mid, channel_id=cid, thread_id=tid, user_id="USR:local_u0", content=text,
                                     timestamp=1.0)) for mid, cid, tid, text in rows(rng, n)]


def ceiling_like(n: int, first: int) -> list[w.MessageCreated]:
    t = time.monotonic_ns()
    return [w.MessageCreated(Message(id=f"{first + i:032x}", channel_id="general", user_id="USR:local_u0",
                                     content=f"{t + i * 1000}:s{i % 16}", timestamp=1.0)) for i in range(n)]


def write_run(base: Path, work: Path) -> dict[str, float]:
    remove(work)
    shutil.copy(base, work)
    out = {"new_groups_of_256": cpu_per_write(work, created(random.Random(11), 256 * 40), 256),
           "new_one_per_commit": cpu_per_write(work, created(random.Random(12), 2000), 1)}
    con = sqlite3.connect(work)
    step = max(1, con.execute("SELECT MAX(seq) FROM messages").fetchone()[0] // 3000)
    ids = [r[0] for r in con.execute("SELECT id FROM messages WHERE seq % ? = 1 LIMIT 3000", (step,))]
    con.close()
    new = texts(random.Random(13), len(ids))
    third = len(ids) // 3
    out["edit_one_per_commit"] = cpu_per_write(work, [w.MessageEdited(i, t, None) for i, t in zip(ids[:third], new)], 1)
    out["edit_groups_of_16"] = cpu_per_write(
        work, [w.MessageEdited(i, t, None) for i, t in zip(ids[third:2 * third], new[third:])], 16)
    out["delete_one_per_commit"] = cpu_per_write(work, [w.MessageDeleted(i) for i in ids[2 * third:]], 1)
    remove(work)
    con = open_db(work, synchronous="NORMAL")
    apply_migrations(con)
    con.close()
    out["ceiling_msgs_groups_of_8"] = cpu_per_write(work, ceiling_like(20_000, 0), 8)
    out["ceiling_msgs_one_per_commit"] = cpu_per_write(work, ceiling_like(3000, 10**6), 1)
    remove(work)
    return out


# ---- searches ---------------------------------------------------------------------------------------


def queries(path: Path) -> dict[str, list[str]]:
    rng = random.Random(3)
    sample = texts(rng, 20_000)
    words = [wd for wd in WORDS[20:1500] if len(wd) >= 4]
    pairs: list[str] = []
    while len(pairs) < 40:
        ws = rng.choice(sample).rstrip(".!?:) ").split(" ")
        if len(ws) >= 2:
            i = rng.randrange(len(ws) - 1)
            pairs.append(" ".join(ws[i:i + 2]).lower())
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    step = max(1, con.execute("SELECT MAX(seq) FROM messages").fetchone()[0] // 5000)
    stored = [t for (t,) in con.execute("SELECT content FROM messages WHERE channel_id = 'general' AND seq % ? = 1",
                                        (step,)) if len(t) >= 45]
    con.close()
    absent = [t for t in sample if len(t) >= 45]

    def piece(t: str) -> str:
        i = rng.randrange(len(t) - 40)
        return t[i:i + rng.randrange(30, 41)]

    return {"one_word": rng.sample(words, 40), "two_words": pairs,
            "two_random_words": [f"{rng.choice(words)} {rng.choice(words)}" for _ in range(40)],
            "long_stored": [piece(t) for t in rng.sample(stored, 40)],
            "long_absent": [piece(t) for t in rng.sample(absent, 40)]}


def search_times(con: sqlite3.Connection, qs: list[str], channel: str, thread: str | None) -> dict[str, float]:
    times, hits = [], []
    for q in qs:
        op = ops.Search(channel, q, 30, 5000, thread_id=thread)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            found = reads.search(con, op)
            best = min(best, time.perf_counter() - t0)
        times.append(best * 1000)
        hits.append(len(found))
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p90_ms": round(times[int(len(times) * 0.9)], 2),
            "mean_results": round(statistics.mean(hits), 1)}


def searches(path: Path) -> dict[str, dict[str, Any]]:
    qs = queries(path)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    out: dict[str, dict[str, Any]] = {}
    try:
        scopes = (("general", "general", None), ("channel", "ch0", None), ("thread", "forum", "th7"))
        for scope, channel, thread in scopes:
            for kind, q in qs.items():
                for query in q:  # warm the page cache
                    reads.search(con, ops.Search(channel, query, 30, 5000, thread_id=thread))
                out[f"{kind} in {scope}"] = search_times(con, q, channel, thread)
    finally:
        con.close()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.search_index", description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "oc-search-index")
    ap.add_argument("--no-search", action="store_true")
    args = ap.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    tag = re.sub(r"\W", "_", str(ROOT))
    base, work = args.dir / f"{tag}-{args.messages}.sqlite3", args.dir / f"{tag}-work.sqlite3"
    report: dict[str, Any] = {"checkout": str(ROOT), "messages": args.messages, "sqlite": sqlite3.sqlite_version}
    if not base.exists():
        report["index_build_secs"] = round(build(base, args.messages), 1)
    report.update(index_bytes(base))
    runs = [write_run(base, work) for _ in range(args.runs)]
    report["write_us_per_message"] = {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}
    report["write_runs"] = [{k: round(v, 1) for k, v in r.items()} for r in runs]
    if not args.no_search:
        report["search"] = searches(base)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
