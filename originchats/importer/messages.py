"""Threads, messages (channels and threads together) and polls.

Messages are streamed: every channel's and thread's file is read a line at a time, and the files are
merged by timestamp (a file's own order is always kept), so the store's append order (`seq`) is the
order the original server wrote them in across channels. They are written in batches with
executemany, through the same statement and parameters as the writer's `MessageCreated`
(store/sql.py `MESSAGE_INSERT`, `message_params`), with who each one pings worked out as the server
does when a message is posted (core/mention_targets.py)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import attrs

from ..core import writes as w
from ..core.embeds import normalize_embeds
from ..core.mention_targets import ROLE_MENTION, mentioned_users, ping_targets
from ..core.model import Channel, Message
from ..core.poll_records import Poll
from ..core.settings import Settings
from ..core.state import ServerState
from ..store import load
from ..store.attachments import reference
from ..store.sql import MESSAGE_INSERT, REACTION_INSERT, message_params
from .job import Job
from .records import message_record, poll_record, thread_record
from .source import read_document, read_lines

BATCH = 5000  # messages per executemany
_INSERT = MESSAGE_INSERT.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)  # merge, resume: kept as stored


def import_threads(job: Job) -> dict[str, int]:
    n = 0
    folder = job.root / "threads"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        thread = thread_record(job.report, path, read_document(job.report, path, dict), job.ids)
        if thread is None:
            continue
        if job.merge and job.kept("threads", thread.id, "threads"):
            continue
        job.write(w.ThreadSaved(thread))
        n += 1
    return {"threads": n}


def read_polls(job: Job) -> list[Poll]:
    path = job.root / "polls.json"
    found = (poll_record(job.report, path, key, d, job.ids)
             for key, d in read_document(job.report, path, dict, required=False).items())
    return [p for p in found if p is not None]


def _sources(job: Job) -> list[tuple[Path, str, str | None]]:
    """(file, channel id, thread id) of every message file the import reads; the files of channels
    and threads it does not know are reported."""
    rep, out = job.report, []
    for folder_name, suffix, known, what in (("channels", ".json", job.ids.channels, "channel"),
                                              ("threadMessages", ".jsonl", job.ids.threads, "thread")):
        folder = job.root / folder_name
        for key, cid in known.items():  # channel name -> id, or thread id -> its forum's id
            path = folder / f"{key}{suffix}"
            if path.is_file():
                out.append((path, cid, key if what == "thread" else None))
            else:
                rep.problem(path, f"missing file: the {what} has no messages")
        for path in sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []:
            if path.stem not in known:
                whose = "channels.json" if what == "channel" else "threads/"
                rep.problem(path, f"messages of a {what} {whose} does not have: skipped")
    return out


def _stream(job: Job, index: int, path: Path) -> Iterator[tuple[float, int, int, dict, int]]:
    for line, d, size in read_lines(job.report, path):
        ts = d.get("timestamp")
        yield (ts if isinstance(ts, (int, float)) and not isinstance(ts, bool) else 0.0), index, line, d, size


def import_messages(job: Job, polls: list[Poll]) -> dict[str, int]:
    sources = _sources(job)
    state = load.load_state(job.con, Settings())
    by_message = {p.message_id: p for p in polls}
    channels = {c.id: c for c in state.channels}
    total = sum(p.stat().st_size for p, _, _ in sources)
    job.progress.start("messages", total, unit="B")
    streams = [_stream(job, i, path) for i, (path, _, _) in enumerate(sources)]
    rows: list[dict] = []
    reactions: list[dict] = []
    with_files: list[Message] = []
    counts = {"messages": 0, "reactions": 0}
    read = 0
    before = job.one("SELECT COUNT(*) FROM messages")

    def flush() -> None:
        nonlocal rows, reactions, with_files, read
        job.con.executemany(_INSERT, rows)
        job.con.executemany(REACTION_INSERT, reactions)
        for m in with_files:
            reference(job.con, m.id, m.attachments)
        counts["messages"] += len(rows)
        counts["reactions"] += len(reactions)
        job.progress.advance(read)
        rows, reactions, with_files, read = [], [], [], 0

    # heapq.merge keeps one pending line per file: memory stays flat however long the history is
    for _, index, line, d, size in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        path, cid, tid = sources[index]
        read += size
        got = message_record(job.report, path, line, d, cid, tid, job.ids, by_message.get(d.get("id")))
        if got is None:
            continue
        message, reacts = got
        if message.embeds is not None and message.id not in by_message:
            message = _checked_embeds(job, path, line, message)
        ch = channels[cid]
        rows.append(message_params(w.MessageCreated(message, _targets(state, ch, message))))
        reactions.extend({"m": message.id, "e": e, "u": u} for e, u in reacts)
        if message.attachments:
            with_files.append(message)
        if len(rows) >= BATCH:
            flush()
    flush()
    added = job.one("SELECT COUNT(*) FROM messages") - before
    job.progress.close(f"{added} messages")
    if added < counts["messages"]:  # INSERT OR IGNORE: the id was there already
        what = "messages already in the store (kept)" if job.merge else "messages with an id seen before (first kept)"
        job.report.count(what, counts["messages"] - added)
    counts["messages"] = added
    return counts


def _checked_embeds(job: Job, path: Path, line: int, m: Message) -> Message:
    """Embeds cut to the schema `message_new` applies (core/embeds.py); ones that fail it are dropped."""
    embeds, error = normalize_embeds(m.embeds, job.limits)
    if embeds is None:
        job.report.problem(path, f"embeds removed: {error}", line=line)
    elif embeds != m.embeds:
        job.report.problem(path, "embeds cut to the schema (unknown keys dropped)", line=line)
    return attrs.evolve(m, embeds=embeds or None)


def _targets(state: ServerState, ch: Channel, m: Message) -> tuple[str, ...]:
    """Who the message pings, as `message_new` works it out, minus the sender's right to mention a
    role (the original let every mention through; it is history now)."""
    content = m.content
    reply = m.reply_to_user if m.reply_to_id is not None and m.ping is not False else None
    if "@" not in content and reply is None:
        return ()
    users = mentioned_users(state, content)
    roles = list(dict.fromkeys(ROLE_MENTION.findall(content)))
    return ping_targets(state, ch, users, roles, reply)


def import_polls(job: Job, polls: list[Poll]) -> dict[str, int]:
    rep, path = job.report, job.root / "poll_votes.json"
    votes = read_document(rep, path, dict, required=False)
    counts = {"polls": 0, "votes": 0}
    for poll in polls:
        if job.kept("polls", poll.id, "polls"):
            continue
        if not job.one("SELECT 1 FROM messages WHERE id = ?", poll.message_id):
            rep.problem(job.root / "polls.json", "the poll's message is not there: kept without it", where=poll.id)
        job.write(w.PollCreated(poll))
        counts["polls"] += 1
        options = {o["id"] for o in poll.options}
        for i, v in enumerate(votes.get(poll.id) or []):
            if not isinstance(v, dict) or v.get("option_id") not in options or not isinstance(v.get("user_id"), str):
                rep.problem(path, "vote without a user or for an unknown option: skipped", where=f"{poll.id} #{i}")
                continue
            # stored as the original recorded it (an ended poll keeps its votes): the write of
            # `PollVoted` would refuse a vote on a closed poll
            job.con.execute("INSERT OR IGNORE INTO poll_votes(poll_id, option_id, user_id, voted_at)"
                            " VALUES (?, ?, ?, ?)", (poll.id, v["option_id"], job.ids.user(v["user_id"]),
                                                     float(v.get("voted_at") or poll.created_at)))
            counts["votes"] += 1
    for key in votes:
        if key not in {p.id for p in polls}:
            rep.problem(path, "votes of an unknown poll: skipped", where=key)
    return counts
