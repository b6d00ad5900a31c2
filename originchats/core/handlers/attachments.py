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
