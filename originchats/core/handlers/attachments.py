"""attachment_get and attachment_delete (extended/attachments.md §5). Uploading is HTTP only
(server/attachments_http.py); the rules are in core/attachments.py."""

from __future__ import annotations

from .. import packets, texts
from ..attachments import info, live, may_delete, removed
from ..audit import audit
from ..context import Context
from ..effects import Persist, Reply, Step
from ..errors import ProtocolError
from ..registry import command
from ..request import Request
from ..state import ServerState
from .common import me
from .operator import operator_target


def _attachment_id(req: Request) -> str:
    value = req.data.get("attachment_id")
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(texts.invalid_attachment_command(str(req.cmd)))
    return value.strip()


@command("attachment_get")
def handle_attachment_get(state: ServerState, ctx: Context, req: Request) -> Step:
    """Any member may look up any live attachment (as the original: the id is the secret)."""
    aid = _attachment_id(req)
    rec = live(state, aid, ctx.now)
    if rec is None:
        raise ProtocolError(texts.ATTACHMENT_NOT_FOUND_OR_EXPIRED)
    return Step(state, (Reply(packets.attachment_info(info(state.settings, rec))),))


@command("attachment_delete")
def handle_attachment_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    """The uploader, or a member whose roles grant `manage_messages` now (not a login-time copy of
    them); the latter's deletes of others' uploads are audit-logged. Messages that referenced it keep
    their info object (as the original), whose URL answers 404 from now on."""
    user = me(state, ctx)
    aid = _attachment_id(req)
    rec = live(state, aid, ctx.now)
    if rec is None:
        raise ProtocolError(texts.ATTACHMENT_NOT_FOUND)
    if not may_delete(state, user, rec):
        raise ProtocolError(texts.DELETE_OWN_ATTACHMENTS_ONLY)
    state, writes, then = removed(state, (aid,))
    if rec.uploader_id != user.id:
        writes = (*writes, audit(ctx, user.id, "message_moderation", "attachment_delete", target=aid,
                                 details={"uploader": rec.uploader_id}))
    return Step(state, (Persist(writes, (Reply(packets.attachment_deleted(aid)), *then)),))


# ---- the operator: `originchats admin files [--purge NAME]` --------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


@command("files", operator=True)
def operator_files(state: ServerState, ctx: Context, req: Request) -> Step:
    """Disk use per uploader (a record's bytes count for each record, even when its blob is shared;
    the total counts each blob once), largest first; with `purge`, that user's uploads go (records,
    their message references, and the bytes no other record names)."""
    if req.get("purge") is not None:
        user = operator_target(state, Request(cmd="files", data={"user": req.get("purge")}))
        ids = tuple(rec.id for rec in state.attachments.of_uploader(user.id))
        size = sum(rec.size for rec in state.attachments.of_uploader(user.id))
        if not ids:
            return Step(state, (Reply(packets.operator_ok(f"{user.username} has no uploads")),))
        state, writes, then = removed(state, ids)
        message = f"purged {_plural(len(ids), 'upload')} of {user.username} ({size} bytes)"
        return Step(state, (Persist(writes, (*then, Reply(packets.operator_ok(message)))),))
    per_user = []
    blobs: dict[str, int] = {}
    for uid in state.attachments.uploaders():
        recs = state.attachments.of_uploader(uid)
        expired = sum(1 for r in recs if not r.live(ctx.now))
        per_user.append((sum(r.size for r in recs), state.username_of(uid), len(recs), expired))
        for r in recs:
            blobs[r.sha256] = r.size
    per_user.sort(key=lambda row: (-row[0], row[1]))
    lines = [f"{name}  uploads={n}  bytes={size}" + (f"  expired={expired}" if expired else "")
             for size, name, n, expired in per_user]
    message = (f"{_plural(len(state.attachments), 'upload')} by {_plural(len(per_user), 'user')};"
               f" {_plural(len(blobs), 'file')}, {sum(blobs.values())} bytes on disk")
    return Step(state, (Reply(packets.operator_ok(message, lines)),))
