"""`GET /emojis/{file-or-id}` (extended/emojis.md) and `GET /server-assets/icon|banner`
(attachments.md §4), served from the data directory with server/httpio.py `send_file` (streamed,
HEAD, Range, ETag; nosniff and a sandbox CSP on every answer).

Only files a current record names are served: the path segment is looked up in the state (an
emoji's file name or its id; the icon's or banner's stored file), never joined to a directory as it
came. Emoji names (`/emojis/smile`) are not accepted, as in the original.
"""

from __future__ import annotations

from ..core.emoji_records import Emoji
from ..core.state import ServerState
from ..datadir import ASSETS_DIR, EMOJIS_DIR
from .httpio import Exchange

_TEXT = b"text/plain; charset=utf-8"
_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
# an emoji by file name: each image has its own name, so the answer never changes
BY_FILE_CACHE = b"public, max-age=3600"
# by id: the image may be replaced, so clients check (ETag, 304) before using their copy
BY_ID_CACHE = b"no-cache"


def find_emoji(state: ServerState, key: str) -> tuple[Emoji, bool] | None:
    """(the emoji, whether `key` named its file) for a file name or a decimal id, else None."""
    key = key.strip()
    if not key or key.startswith(".") or "/" in key:
        return None
    for emoji in state.emojis.values():
        if emoji.file_name == key:
            return emoji, True
    if key.isascii() and key.isdigit() and len(key) <= 18:
        emoji = state.emojis.get(int(key))
        if emoji is not None:
            return emoji, False
    return None


async def emoji(ex: Exchange, rest: str) -> None:
    found = find_emoji(ex.hub.state, rest)
    files = ex.hub.ops.files
    path = None
    if found is not None and files is not None:
        path = files.path_of(EMOJIS_DIR, found[0].file_name)
    if found is None or path is None:
        await ex.send_bytes(404, b"Emoji not found", _TEXT)
        return
    emoji_, by_file = found
    content_type = _TYPES.get(emoji_.file_name.rpartition(".")[2], "application/octet-stream")
    await ex.send_file(path, content_type=content_type, inline=content_type.startswith("image/"),
                       cache_control=BY_FILE_CACHE if by_file else BY_ID_CACHE)


async def server_asset(ex: Exchange, rest: str) -> None:
    stored = ex.hub.state.server_assets.get(rest) if rest in ("icon", "banner") else None
    files = ex.hub.ops.files
    path = files.path_of(ASSETS_DIR, stored[0]) if stored is not None and files is not None else None
    if stored is None or path is None:
        await ex.send_bytes(404, b"Server asset not found", _TEXT)
        return
    # the advertised URL carries ?v=<hash of the image>: a new image is a new URL
    await ex.send_file(path, content_type=stored[1], inline=True, cache_control=b"public, max-age=3600")
