"""import: `originchats import` of an original server's db/ folder holding M generated messages.

The folder is the fixture (../shared/fixtures/original-db) with M more messages appended to five of
its channels in the original's own file format (one JSON object a line, no newline after the last;
one line in a hundred padded with the spaces the original appends). The messages are copies of the
fixture's (their replies, reactions, mentions, embeds and edits) with new ids and timestamps.
Generation is not timed. The import runs as its own process (`python -m originchats import`,
pinned to CPU 0 like the server of the other scenarios); reported: its wall time, its peak RSS
(the child's ru_maxrss), the messages per second, and whether the store holds every message.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .server import ROOT, SERVER_CPU, can_pin

FIXTURE = ROOT.parent / "shared" / "fixtures" / "original-db"
CHANNELS = ("general", "random", "dev", "announcements", "vip-lounge")
PADDING = " " * 512


def generate(db: Path, messages: int) -> int:
    """Append `messages` messages to the channels of the fixture copy at `db`; returns the total."""
    templates = []
    for name in CHANNELS:
        for line in (db / "channels" / f"{name}.json").read_text(encoding="utf-8").splitlines():
            if line.strip():
                templates.append(json.loads(line))
    files = {name: (db / "channels" / f"{name}.json").open("a", encoding="utf-8") for name in CHANNELS}
    last: dict[str, str] = {}
    t0 = 1795978700.0
    rng = random.Random(11)  # random version-4 ids, as the original makes them (not in index order)
    try:
        for i in range(messages):
            name = CHANNELS[i % len(CHANNELS)]
            m = dict(templates[i % len(templates)])
            m["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            m["timestamp"] = t0 + i * 0.01
            m.pop("pinned", None)
            m.pop("attachments", None)  # the fixture's one attachment stays on its own message
            if "reply_to" in m and name in last:
                m["reply_to"] = {**m["reply_to"], "id": last[name]}
            m.pop("type", None)
            line = json.dumps(m, ensure_ascii=False, separators=(",", ":"))
            files[name].write("\n" + line + (PADDING if i % 100 == 99 else ""))
            last[name] = m["id"]
    finally:
        for f in files.values():
            f.close()
    return messages


async def importbench(args: Any) -> dict[str, Any]:
    return await asyncio.to_thread(_run, args)


def _run(args: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        db = work / "db"
        shutil.copytree(FIXTURE, db)
        t = time.monotonic()
        generate(db, args.messages)
        gen_s = time.monotonic() - t
        subprocess.run([sys.executable, "-m", "originchats", "init", str(work / "srv")], check=True,
                       capture_output=True, cwd=str(ROOT))
        cmd = [sys.executable, "-m", "originchats", "import", str(db), "--config", str(work / "srv" / "config.toml"),
               "--source-config", str(FIXTURE.parent / "original-config.json")]
        if can_pin():
            cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
        seconds = time.monotonic() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
        store = work / "srv" / "data" / "originchats.sqlite3"
        con = sqlite3.connect(store)
        try:
            stored = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        finally:
            con.close()
        expected = args.messages + 302
        return {"scenario": "import", "messages": expected, "seconds": round(seconds, 2),
                "messages_per_s": round(expected / seconds), "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
                "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
                "source_mb": round(sum(p.stat().st_size for p in db.rglob("*") if p.is_file()) / 2**20, 1),
                "store_mb": round(store.stat().st_size / 2**20, 1), "generate_s": round(gen_s, 1),
                "all_stored": stored == expected, "pinned_import": can_pin()}
