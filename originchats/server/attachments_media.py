"""Stand-in for originchats/media's `prepare_upload` until that branch lands (docs/brief: files.md
§2): the file as it is, with the declared type, never served inline. The merge replaces the one
call in server/attachments_upload.py with the real one (which sniffs, re-encodes and refuses)."""

from __future__ import annotations

from pathlib import Path

import attrs

from ..core.settings import AttachmentSettings


class MediaRefused(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@attrs.frozen
class Prepared:
    path: Path
    mime_type: str
    size: int
    width: int | None
    height: int | None
    inline: bool


async def prepare_upload(src: Path, declared_mime: str, settings: AttachmentSettings, out_dir: Path) -> Prepared:
    return Prepared(path=src, mime_type=declared_mime, size=src.stat().st_size, width=None, height=None, inline=False)
