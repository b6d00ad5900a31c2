"""Accepting an upload (extended/attachments.md §4, as fixed here), apart from HTTP: the router's
handler (server/attachments_http.py) reads the body into an `UploadForm` and answers what `accept`
returns. The checks, in the order of the status table:

 503 disabled; 401 no `validator_key`/`validator`; 401 a key that is not a live, logged-in socket of
 this server (the uploader is the user logged in there); the credentials: for a Rotur account
 Rotur's `validate` (asynchronous, through the `auth` gate: 502 unreachable, 503 busy, 401 refused
 or another account), for a cracked account the session token that socket's login answered with
 (`ready.validator`; a hash lookup); 401 the user is gone; 400 a missing field; 404 no such
 channel; 403 banned, timed out, or no `send` there; 429 the per-user throttle; 400 a bad
 `expires_in_days`; the media checks (type sniffed, declared type matching, images re-encoded);
 415 a type not allowed; 413 too large; 403 uploads disabled by `max_attachments_per_user = 0`;
 then the blob is placed and the record committed: 201 `{"attachment": info, "permanent": bool}`.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import attrs
import structlog
import trio

from ..core import attachments, sessions, texts
from ..core.attachments import Upload, UploadRefused
from ..core.authguard import address_key
from ..core.effects import Persist
from ..core.ops import RoturTier, RoturValidate
from ..core.request import Request
from ..store.writer import WriteFailed
from .. import media
from .blobs import BlobStore
from .hub import Hub

log = structlog.get_logger("originchats.attachments")
UPLOAD_REQUEST = Request(cmd="attachment_upload", data={})
UPLOAD_CONN = -1  # the steps of an upload answer nobody over a socket
NAME_MAX = 255  # characters of an upload's name (the original's WebSocket schema bound)


@attrs.frozen
class UploadedFile:
    """The decoded `file` of an upload, in a temp file the caller owns (httpio's `UploadedFile`)."""

    path: Path
    size: int
    sha256: str


async def accept(hub: Hub, blobs: BlobStore, fields: dict[str, Any], file: Any, peer: str = "") -> tuple[int, dict]:
    """(status, JSON body) for an upload whose body has been read: `fields` are its small fields,
    `file` (with `path`, `size`, `sha256`) the decoded file or None. The temp file is gone when this
    returns, whatever the outcome."""
    try:
        return await _accept(hub, blobs, fields, file, peer)
    except UploadRefused as refused:
        return refused.status, {"error": refused.text}
    finally:
        if file is not None:
            Path(file.path).unlink(missing_ok=True)


async def _accept(hub: Hub, blobs: BlobStore, fields: dict[str, Any], file: Any, peer: str) -> tuple[int, dict]:
    settings = hub.state.settings.files
    if not settings.enabled:
        raise UploadRefused(503, texts.ATTACHMENTS_DISABLED)
    key, validator = fields.get("validator_key"), fields.get("validator")
    if not isinstance(key, str) or not key or not isinstance(validator, str) or not validator:
        raise UploadRefused(401, texts.UPLOAD_CREDENTIALS_REQUIRED)
    user_id = await _authenticate(hub, key, validator, peer)
    name, mime, channel = fields.get("name"), fields.get("mime_type"), fields.get("channel")
    if file is None or not name or not mime or not channel:
        raise UploadRefused(400, texts.UPLOAD_MISSING_FIELDS)
    if not all(isinstance(v, str) for v in (name, mime, channel)):
        raise UploadRefused(400, texts.UPLOAD_BAD_FIELD)
    if len(name) > NAME_MAX:
        raise UploadRefused(400, texts.UPLOAD_NAME_TOO_LONG)
    state = hub.state
    user = state.users.get(user_id)
    if user is None:
        raise UploadRefused(401, texts.UPLOAD_USER_NOT_FOUND)
    attachments.may_upload(state, user, channel, hub.now())
    state, over = attachments.throttled(hub.state, user_id, hub.now())  # no await since hub.state was read
    if over:
        raise UploadRefused(429, texts.upload_throttled(settings.uploads_per_minute))
    hub.state = state
    days = _requested_days(fields.get("expires_in_days"))
    if file.size > settings.max_size:
        raise UploadRefused(413, texts.upload_too_large(settings.max_size))
    try:
        limits = hub.ops.files.limits if hub.ops.files is not None else media.DEFAULT_LIMITS
        prepared = await media.prepare_upload(Path(file.path), mime, settings, blobs.tmp_dir(), limits=limits)
    except media.MediaRefused as refused:
        raise UploadRefused(415, refused.text) from None
    try:
        return await _store(hub, blobs, user_id, channel, name, file, prepared, days)
    finally:
        if Path(prepared.path) != Path(file.path):
            Path(prepared.path).unlink(missing_ok=True)


async def _authenticate(hub: Hub, key: str, validator: str, peer: str) -> str:
    conn = attachments.uploader_conn(hub.state, key)
    if conn is None:
        raise UploadRefused(401, texts.UPLOAD_INVALID_CREDENTIALS)
    user = hub.state.users.get(conn.user_id)
    if user is None or user.deleted:
        raise UploadRefused(401, texts.UPLOAD_USER_NOT_FOUND)
    if user.cracked:
        if sessions.find(hub.state, validator, hub.now()) != user.id:
            raise UploadRefused(401, texts.UPLOAD_INVALID_CREDENTIALS)
        return user.id
    result = await hub.ops.run(RoturValidate(key=key, validator=validator, source=address_key(peer or conn.ip)))
    attachments.rotur_identity(result, user.id)
    return user.id


def _requested_days(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UploadRefused(400, texts.UPLOAD_BAD_EXPIRY)
    return float(value)


async def _permanent(hub: Hub, user_id: str) -> bool:
    """A Rotur account whose subscription is a permanent tier (looked up asynchronously, cached by
    the op runner); cracked accounts never are."""
    state = hub.state
    user = state.users.get(user_id)
    tiers = [t.lower() for t in state.settings.files.permanent_tiers]
    if user is None or user.cracked or not tiers or state.settings.auth_mode == "cracked-only":
        return False
    tier = await hub.ops.run(RoturTier(user.username))
    return isinstance(tier, str) and tier != "error" and tier in tiers


async def _store(hub: Hub, blobs: BlobStore, user_id: str, channel: str, name: str, file: Any,
                 prepared: Any, days: float | None) -> tuple[int, dict]:
    src = Path(prepared.path)
    sha = file.sha256 if src == Path(file.path) else await trio.to_thread.run_sync(_sha256, src)
    permanent = await _permanent(hub, user_id)
    upload = Upload(sha256=sha, name=name, mime_type=prepared.mime_type, size=prepared.size, width=prepared.width,
                    height=prepared.height, inline=prepared.inline)
    try:
        with blobs.pinned(sha):
            await blobs.place(src, sha)
            info = await _commit(hub, user_id, channel, upload, permanent, days)
    except BaseException:  # refused or failed after the blob was placed: its bytes go unless a record names them
        with trio.CancelScope(shield=True):
            await blobs.drop((sha,), hub.ops.reader)
        raise
    log.info("attachment_uploaded", id=info["id"], size=upload.size, mime_type=upload.mime_type)
    return 201, {"attachment": info, "permanent": permanent}


async def _commit(hub: Hub, user_id: str, channel: str, upload: Upload, permanent: bool,
                  days: float | None) -> dict:
    """The record, decided on the state of now and committed; the info object."""
    before = hub.state
    ctx = hub.context(UPLOAD_CONN)
    step, info = attachments.store_upload(before, ctx, user_id, channel, upload, permanent=permanent,
                                          requested_days=days)
    hub.state = step.state  # no await since `before` was read
    persist = step.effects[0]
    assert isinstance(persist, Persist)
    try:
        await hub.writer.submit(persist.writes, undo=hub.interpreter.undo(before, step.state))
    except WriteFailed:
        log.warning("attachment_not_saved")
        raise UploadRefused(500, texts.UPLOAD_FAILED) from None
    await hub.interpreter.run(persist.then, ctx, UPLOAD_REQUEST, None)  # the evicted blobs' bytes
    return info


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
