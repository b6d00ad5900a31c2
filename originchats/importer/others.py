"""The last groups: webhooks, push subscriptions, read markers (unreads) and the audit log."""

from __future__ import annotations

from ..core import writes as w
from .job import Job
from .records import audit_record, push_record, webhook_record
from .source import read_document


def import_webhooks(job: Job) -> dict[str, int]:
    path, n = job.root / "webhooks.json", 0
    for key, d in read_document(job.report, path, dict, required=False).items():
        hook = webhook_record(job.report, path, key, d, job.ids)
        if hook is None:
            continue
        if job.merge and job.kept("webhooks", hook.id, "webhooks"):
            continue
        job.write(w.WebhookSaved(hook))
        n += 1
    return {"webhooks": n}


def import_push(job: Job) -> dict[str, int]:
    path, n = job.root / "push_subscriptions.json", 0
    for owner, subs in read_document(job.report, path, dict, required=False).items():
        if not isinstance(subs, list):
            job.report.problem(path, "subscriptions not a list: skipped", where=owner)
            continue
        for i, d in enumerate(subs):
            sub = push_record(job.report, path, owner, i, d, job.ids)
            if sub is not None:
                job.write(w.PushSubscribed(sub))
                n += 1
    return {"push_subscriptions": n}


def import_unreads(job: Job) -> dict[str, int]:
    """Each user's last-read message per channel (by name) or thread (`thread/<id>`)."""
    rep, path, n = job.report, job.root / "unreads.json", 0
    for owner, marks in read_document(rep, path, dict, required=False).items():
        uid = job.ids.account(owner)
        if uid is None or not isinstance(marks, dict):
            rep.problem(path, "read markers of an unknown account: skipped", where=owner)
            continue
        for key, mid in marks.items():
            where = f"{owner} {key}"
            tid = key[len("thread/"):] if key.startswith("thread/") else None
            cid = job.ids.threads.get(tid) if tid is not None else job.ids.channels.get(key)
            if cid is None:
                rep.problem(path, "read marker of an unknown channel or thread: skipped", where=where)
                continue
            if not isinstance(mid, str) or not job.one(
                    "SELECT 1 FROM messages WHERE id = ? AND channel_id = ? AND thread_id IS ?", mid, cid, tid):
                rep.problem(path, "read marker on a message that is not there: skipped", where=where)
                continue
            job.write(w.ReadMarked(uid, cid, tid, mid, forward_only=job.merge))
            n += 1
    return {"read_markers": n}


def import_audit(job: Job) -> dict[str, int]:
    path, n = job.root / "modlog.json", 0
    for i, d in enumerate(read_document(job.report, path, list, required=False)):
        entry = audit_record(job.report, path, i, d)
        if entry is None:
            continue
        if job.kept("audit_log", entry.id, "audit entries"):
            continue
        job.write(entry)
        n += 1
    return {"audit_entries": n}
