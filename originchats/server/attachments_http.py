"""`POST /attachments/upload` and `GET|HEAD /attachments/{id}` (extended/attachments.md §4, as
fixed here; the route table is server/http.py).

The upload: a JSON `Content-Type` (415), attachments enabled (503), then the body is read as it
streams in (server/httpio.py `read_upload`: 413 as soon as it passes the bound, without reading
the rest; 400 for a truncated body, bad JSON or bad base64), its `file` decoded into a temp file
under `files/tmp/`; server/attachments_upload.py `accept` does the rest (authentication, the
member and channel checks, the throttle, media, the blob and its record).

The download: a live record (expired = gone, judged by the hub's clock like the commands), its
blob streamed by `send_file` with its sniffed type, inline only when media said so (image, video,
audio, PDF), otherwise as `Content-Disposition: attachment` under the upload's name; `nosniff`
and a sandbox CSP always.
"""

from __future__ import annotations

from ..core import attachments, texts
from ..core.authguard import address_key
from . import attachments_upload
from .httpio import Exchange, HttpError

#: base64 is 4/3 of the file; a JSON encoder escaping "/" adds up to 1/32 more; the other fields
#: are bounded by httpio (`upload_fields_bytes`); this slack covers them and the data-URI prefix.
BODY_SLACK = 128 * 1024


def body_limit(max_size: int) -> int:
    return max_size * 4 // 3 + max_size // 32 + BODY_SLACK


async def upload(ex: Exchange, rest: str) -> None:
    content_type = ex.headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type != b"application/json":
        raise HttpError(415, texts.UPLOAD_NOT_JSON, close=not ex.body_done())
    settings = ex.hub.state.settings.files
    blobs = ex.hub.ops.blobs
    if not settings.enabled or blobs is None:
        raise HttpError(503, texts.ATTACHMENTS_DISABLED, close=not ex.body_done())
    with blobs.reading(address_key(ex.peer), settings.uploads_in_progress, settings.uploads_in_progress_per_ip) as ok:
        if not ok:
            raise HttpError(503, texts.UPLOADS_BUSY, close=not ex.body_done())
        form = await ex.read_upload(body_limit=body_limit(settings.max_size), file_limit=settings.max_size,
                                    tmp_dir=blobs.tmp_dir())
        status, body = await attachments_upload.accept(ex.hub, blobs, form.fields, form.file, ex.peer)
    await ex.send_json(status, body)


async def download(ex: Exchange, rest: str) -> None:
    state = ex.hub.state
    blobs = ex.hub.ops.blobs
    if not state.settings.files.enabled or blobs is None:
        raise HttpError(503, texts.ATTACHMENTS_DISABLED)
    rec = attachments.live(state, rest, ex.hub.now())
    if rec is None:
        raise HttpError(404, texts.ATTACHMENT_NOT_FOUND_OR_EXPIRED)
    path = blobs.path(rec.sha256)
    try:
        await ex.send_file(path, content_type=rec.mime_type, inline=rec.inline, etag=rec.sha256,
                           last_modified=rec.created_at, download_name=rec.name)
    except HttpError as exc:
        if exc.status == 404 and not ex.responded:
            raise HttpError(404, texts.ATTACHMENT_FILE_NOT_FOUND) from None
        raise
