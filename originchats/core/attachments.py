"""Attachments (extended/attachments.md), the pure part: the record, the info object the wire
shows, the expiry curve of §3, the checks of `message_new`'s `attachments` (§5), what an upload
stores (quota, throttle, expiry), and taking records away (delete, eviction, expiry).

An attachment is live while `now < expires_at`: an expired one is nonexistent to every command at
once, whether or not the cleanup timer (server/timers.py `attachment_cleanup`) has removed it yet;
the download route judges with the same clock.

Records and bytes: each upload is a record of its own (its uploader, name, expiry), naming a blob
by its SHA-256. Two uploads of the same bytes share the blob only. A record goes when its uploader
(or a member with `manage_messages`) deletes it, when it expires, when its uploader's quota evicts
it, or when the operator purges the uploader; never because a message that used it was deleted (the
message's references go with it; the record stays until one of the above). The bytes of a blob go
after the commit that removes the last record naming it (`DropBlobs`, run by the shell, which
keeps the blobs of uploads in flight).
"""

from __future__ import annotations

from typing import Any

import attrs

from . import texts
from .context import Context
from .effects import Fetch, Persist, Step
from .errors import ProtocolError
from .ops import BUSY, DropBlobs
from .permissions import channel_allows, has_perm
from .model import Action, Perm, User
from .request import Request
from .settings import AttachmentSettings, Settings
from .state import ServerState
from .tables import pmap
from .writes import AttachmentStored, AttachmentsRemoved

DAY = 86400.0
MIB = 1024 * 1024
#: the upload throttle's window (`attachments.uploads_per_minute`)
THROTTLE_WINDOW = 60.0


@attrs.frozen(kw_only=True)
class Attachment:
    id: str
    sha256: str
    name: str
    mime_type: str  # the sniffed type, the one served
    size: int
    uploader_id: str
    channel_id: str
    created_at: float
    expires_at: float
    permanent: bool = False
    width: int | None = None
    height: int | None = None
    inline: bool = False

    def live(self, now: float) -> bool:
        return now < self.expires_at


@attrs.frozen(kw_only=True)
class Upload:
    """What the shell learnt of an upload's bytes (originchats/media `Prepared`, plus the hash)."""

    sha256: str
    name: str
    mime_type: str
    size: int
    width: int | None = None
    height: int | None = None
    inline: bool = False


class UploadRefused(Exception):
    """An upload the core refuses: the HTTP status and the `{"error": text}` to answer."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


# ---- the wire ---------------------------------------------------------------------------------


def url_base(settings: Settings) -> str:
    """The http(s) base of attachment URLs from `server.url`: ws:// -> http://, wss:// -> https://,
    an http(s) URL as it is, without a trailing "/"; "" (relative URLs) when none is set."""
    url = str(settings.server.get("url") or "").strip().rstrip("/")
    if not url:
        return ""
    low = url.lower()
    for scheme, http in (("wss://", "https://"), ("ws://", "http://"), ("https://", "https://"),
                         ("http://", "http://")):
        if low.startswith(scheme):
            return http + url[len(scheme):]
    return "http://" + url


def info(settings: Settings, rec: Attachment) -> dict[str, Any]:
    """The attachment info object (§2), in its documented key order."""
    out: dict[str, Any] = {"id": rec.id, "name": rec.name, "mime_type": rec.mime_type, "size": rec.size,
                           "url": f"{url_base(settings)}/attachments/{rec.id}", "expires_at": rec.expires_at,
                           "permanent": rec.permanent}
    if rec.width is not None and rec.height is not None:
        out["width"] = rec.width
        out["height"] = rec.height
    return out


def live(state: ServerState, attachment_id: str, now: float) -> Attachment | None:
    rec = state.attachments.get(attachment_id)
    return rec if rec is not None and rec.live(now) else None


# ---- expiry (§3 rule 7) -----------------------------------------------------------------------


def size_days(size: int) -> float:
    """The size-dependent part of the curve (days), size in bytes."""
    mib = size / MIB
    if mib <= 5:
        return 49.0
    if mib >= 100:
        return 1.0
    if mib <= 25:
        return 7 + (25 - mib) * 2.1
    return 7 - (mib - 25) * 0.08


def lifetime_days(size: int, permanent: bool, requested: float | None, a: AttachmentSettings) -> float:
    """How long an upload lives: the tier's cap, or `requested` when smaller (0 or less: expired at once)."""
    cap = a.permanent_expiration_days if permanent else min(size_days(size), a.free_tier_max_expiration_days)
    if requested is not None and requested < cap:
        return requested
    return cap


def type_allowed(mime: str, allowed: list[str]) -> bool:
    """§3 rule 1: "*" allows all, "type/*" by prefix, anything else exactly; an empty list allows all."""
    if not allowed:
        return True
    mime = mime.lower()
    for entry in allowed:
        entry = entry.lower()
        if entry == "*" or entry == mime or (entry.endswith("/*") and mime.startswith(entry[:-1])):
            return True
    return False


# ---- removing records -------------------------------------------------------------------------


def removed(state: ServerState, ids: tuple[str, ...]) -> tuple[ServerState, tuple, tuple]:
    """The state without the records `ids`, the write that removes them (and their references),
    and the effect (for a `Persist`'s `then`) that drops the blobs no record names any more."""
    table = state.attachments
    shas: list[str] = []
    for aid in ids:
        rec = table.get(aid)
        if rec is None:
            continue
        table = table.delete(aid)
        if table.blob_records(rec.sha256) == 0 and rec.sha256 not in shas:
            shas.append(rec.sha256)
    if not ids:
        return state, (), ()
    state = state.replaced("attachments", table)
    then = (Fetch(DropBlobs(tuple(shas)), _blobs_dropped),) if shas else ()
    return state, (AttachmentsRemoved(tuple(ids)),), then


def _blobs_dropped(state: ServerState, ctx: Context, req: Request, result: object) -> Step:
    return Step(state)


def expire_due(state: ServerState, ctx: Context) -> Step:
    """The cleanup timer's step: remove every record expired at `ctx.now`, and their bytes."""
    due = tuple(rec.id for rec in state.attachments.values() if not rec.live(ctx.now))
    kept = {uid: times for uid, times in state.upload_times.items() if times and times[-1] > ctx.now - THROTTLE_WINDOW}
    if len(kept) != len(state.upload_times):
        state = state.replaced("upload_times", pmap(kept))
    if not due:
        return Step(state)
    state, writes, then = removed(state, due)
    return Step(state, (Persist(writes, then),))


def may_delete(state: ServerState, user: User, rec: Attachment) -> bool:
    """The uploader, or a member whose current roles grant `manage_messages` (or administrator)."""
    return rec.uploader_id == user.id or has_perm(state.roles, user, Perm.MANAGE_MESSAGES)


# ---- message_new (§5) -------------------------------------------------------------------------


def attached(state: ServerState, ctx: Context, user: User, raw: object) -> list[dict[str, Any]]:
    """The info objects a new message stores for its `attachments`, checked in the documented order
    (disabled, not an array, not an object, no id, not found or expired, not one's own), then this
    server's count limit."""
    a = state.settings.files
    if not a.enabled:
        raise ProtocolError(texts.ATTACHMENTS_DISABLED)
    if not isinstance(raw, list):
        raise ProtocolError(texts.ATTACHMENTS_NOT_A_LIST)
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise ProtocolError(texts.ATTACHMENT_NOT_AN_OBJECT)
        aid = item.get("id")
        if not isinstance(aid, str) or not aid.strip():
            raise ProtocolError(texts.ATTACHMENT_ID_REQUIRED)
        aid = aid.strip()
        rec = live(state, aid, ctx.now)
        if rec is None:
            raise ProtocolError(texts.attachment_not_found_or_expired(aid))
        if rec.uploader_id != user.id:
            raise ProtocolError(texts.ATTACH_OWN_ONLY)
        out.append(info(state.settings, rec))
    if len(out) > a.max_per_message:
        raise ProtocolError(texts.too_many_attachments(a.max_per_message))
    return out


# ---- uploads (§3, §4) -------------------------------------------------------------------------


def may_upload(state: ServerState, user: User, channel_name: str, now: float) -> None:
    """The member and channel checks of an upload, in the order of the §4 table (as fixed here):
    banned, timed out, the channel, `send` there; `UploadRefused` otherwise."""
    if user.deleted:
        raise UploadRefused(401, texts.UPLOAD_USER_NOT_FOUND)
    if user.banned:
        raise UploadRefused(403, texts.UPLOAD_BANNED)
    bucket = state.rate_limits.get(user.id)
    if bucket is not None and bucket.timeout_until > now:
        raise UploadRefused(403, texts.UPLOAD_TIMED_OUT)
    ch = state.channel(channel_name)
    if ch is None:
        raise UploadRefused(404, texts.UPLOAD_CHANNEL_NOT_FOUND)
    if not channel_allows(ch, Action.SEND, user.roles):
        raise UploadRefused(403, texts.UPLOAD_SEND_DENIED)


def throttled(state: ServerState, user_id: str, now: float) -> tuple[ServerState, bool]:
    """Take one upload slot of the user's sliding minute: (new state, False), or (state, True) when
    `uploads_per_minute` are used up."""
    limit = state.settings.files.uploads_per_minute
    if limit <= 0:
        return state, False
    times = tuple(t for t in state.upload_times.get(user_id, ()) if t > now - THROTTLE_WINDOW)
    if len(times) >= limit:
        return state, True
    return state.replaced("upload_times", state.upload_times.set(user_id, (*times, now))), False


def store_upload(state: ServerState, ctx: Context, user_id: str, channel_name: str, upload: Upload, *,
                 permanent: bool, requested_days: float | None) -> tuple[Step, dict[str, Any]]:
    """The record of an accepted upload whose blob is in place: the step (the new state, and a
    `Persist` with the record, after the quota's evictions) and the info object to answer with.
    Raises `UploadRefused` for what the checks before it could not know (the user or channel went
    meanwhile, the type, the size, the quota)."""
    a = state.settings.files
    if not a.enabled:
        raise UploadRefused(503, texts.ATTACHMENTS_DISABLED)
    user = state.users.get(user_id)
    if user is None:
        raise UploadRefused(401, texts.UPLOAD_USER_NOT_FOUND)
    may_upload(state, user, channel_name, ctx.now)
    if not type_allowed(upload.mime_type, a.allowed_types):
        raise UploadRefused(415, texts.upload_type_not_allowed(upload.mime_type))
    if upload.size > a.max_size:
        raise UploadRefused(413, texts.upload_too_large(a.max_size))
    if a.max_attachments_per_user == 0:
        raise UploadRefused(403, texts.UPLOADS_DISABLED)
    ch = state.channel(channel_name)
    assert ch is not None  # may_upload
    evict: tuple[str, ...] = ()
    if a.max_attachments_per_user > 0:
        mine = [r for r in state.attachments.of_uploader(user_id) if r.live(ctx.now)]
        over = len(mine) - a.max_attachments_per_user + 1
        if over > 0:  # the user's oldest go; never another user's
            evict = tuple(r.id for r in mine[:over])
    state, removal, then = removed(state, evict)
    days = lifetime_days(upload.size, permanent, requested_days, a)
    rec = Attachment(id=ctx.new_id, sha256=upload.sha256, name=upload.name, mime_type=upload.mime_type,
                     size=upload.size, uploader_id=user_id, channel_id=ch.id, created_at=ctx.now,
                     expires_at=ctx.now + max(days, 0.0) * DAY, permanent=permanent, width=upload.width,
                     height=upload.height, inline=upload.inline)
    state = state.replaced("attachments", state.attachments.set(rec.id, rec))
    return Step(state, (Persist((*removal, AttachmentStored(rec)), then),)), info(state.settings, rec)


# ---- upload authentication (§4, as fixed here) -----------------------------------------------


def uploader_conn(state: ServerState, validator_key: str) -> Any:
    """The logged-in connection of this server that was given `validator_key` in its handshake, or
    None (a key this server did not issue, or of a socket that closed or has not logged in). The key
    index is built once per version of the connections table."""
    def build() -> dict[str, int]:
        return {c.validator_key: c.id for c in state.conns.values()}
    conn_id = state.conns.memo("by_validator_key", build).get(validator_key)
    conn = state.conns.get(conn_id) if conn_id is not None else None
    return conn if conn is not None and conn.authed else None


def rotur_identity(result: object, user_id: str) -> None:
    """A Rotur `validate` answer for an upload by `user_id`: `UploadRefused` unless it names them."""
    if result is BUSY:
        raise UploadRefused(503, texts.AUTH_BUSY)
    if result == "error":
        raise UploadRefused(502, texts.UPLOAD_VALIDATION_FAILED)
    if not isinstance(result, dict) or result.get("valid") is not True:
        raise UploadRefused(401, texts.UPLOAD_INVALID_CREDENTIALS)
    uid = result.get("id")
    if not isinstance(uid, str) or not uid:
        raise UploadRefused(401, texts.UPLOAD_NO_USER_ID)
    if uid != user_id:  # a validator of another account than the socket's
        raise UploadRefused(401, texts.UPLOAD_INVALID_CREDENTIALS)
