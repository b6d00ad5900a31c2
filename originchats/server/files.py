"""The shell's side of custom emoji and server-asset images: the runners of core/ops.py
`PrepareImage` and `RemoveFile`, and the start-up sweep.

Write order (files.md §3): the image is decoded and re-encoded in a worker thread, written to a
temporary file in its folder, fsynced, renamed to its final name; only then does the core commit
the record that names it. A crash in between, or a failed commit, leaves a file no record names:
`sweep` deletes those at start. A file is deleted only after the commit that dropped its record
(`RemoveFile` runs in the `then` of that `Persist`); no two records ever share a file (each image
gets a fresh random name), so no deletion can take a file another record still uses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

import attrs
import structlog
import trio

from .. import datadir
from ..core import ops, texts
from ..core.emoji_records import ImageRefused, PreparedImage
from ..core.state import ServerState
from ..media import MediaLimits, MediaRefused, prepare_emoji
from ..media.prepare import prepare_emoji_blocking
from ..media.images import EXTENSIONS

log = structlog.get_logger("originchats.files")
_MIME = {ext: mime for mime, ext in EXTENSIONS.items()}
TEMP_SUFFIX = ".part"
CONFIGURED_DIR = "server-assets"  # <data dir>/server-assets/: the operator's icon and banner files


@attrs.define(eq=False)
class FileStore:
    data_dir: Path
    limits: MediaLimits = attrs.Factory(MediaLimits)

    def folder(self, purpose: str) -> Path:
        return datadir.files_path(self.data_dir, purpose)

    async def prepare_image(self, op: ops.PrepareImage) -> PreparedImage | ImageRefused:
        data = await trio.to_thread.run_sync(_decode, op.payload)
        if data is None:
            return ImageRefused("invalid base64", bad_base64=True)
        if len(data) > op.max_bytes:
            return ImageRefused(texts.image_too_large(op.max_bytes))
        try:
            image, ext, width, height = await prepare_emoji(data, op.allowed, max_side=op.max_side,
                                                            limits=self.limits)
        except MediaRefused as refused:
            return ImageRefused(refused.text)
        name = f"{op.file_stem}.{ext}"
        await trio.to_thread.run_sync(_write, self.folder(op.purpose), name, image)
        return PreparedImage(file_name=name, mime_type=_MIME[ext], width=width, height=height,
                                 sha256=hashlib.sha256(image).hexdigest())

    async def remove_file(self, op: ops.RemoveFile) -> None:
        if _safe_name(op.file_name):
            await trio.to_thread.run_sync(lambda: (self.folder(op.purpose) / op.file_name).unlink(missing_ok=True))

    def sweep(self, state: ServerState) -> int:
        """Delete what no record names (an interrupted write, a crash before a commit). Blocking:
        run at start, before the server accepts connections."""
        keep = {datadir.EMOJIS_DIR: {e.file_name for e in state.emojis.values()},
                datadir.ASSETS_DIR: {f for f, _ in state.server_assets.values()}}
        removed = 0
        for purpose, names in keep.items():
            folder = self.folder(purpose)
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name not in names and path.is_file():
                    path.unlink(missing_ok=True)
                    removed += 1
        if removed:
            log.info("files_swept", removed=removed)
        return removed

    def adopt_configured(self, state: ServerState) -> ServerState:
        """attachments.md §4 at start: an icon or banner whose value is a file name (no `://`) is
        looked up by its base name in `<data dir>/server-assets/`; if it is there and is an image,
        a clean copy is stored and served at `/server-assets/<name>`, and the value becomes that
        URL. Blocking: run at start, after `sweep` (the copy is made again at each start)."""
        assets, info, server = state.server_assets, dict(state.server_info), dict(state.settings.server)
        cfg = state.settings.assets
        for key in ("icon", "banner"):
            value = (info.get(key) or "").strip()
            if not value or "://" in value or value.startswith("data:"):
                continue
            source = Path(self.data_dir) / CONFIGURED_DIR / Path(value.replace("\\", "/")).name
            if not source.is_file() or source.stat().st_size > cfg.max_bytes:
                log.warning("server_asset_missing", asset=key, path=str(source))
                continue
            try:
                image, ext, _, _ = prepare_emoji_blocking(source.read_bytes(), ("png", "jpeg", "gif", "webp"),
                                                          cfg.max_side, self.limits)
            except MediaRefused as refused:
                log.warning("server_asset_refused", asset=key, path=str(source), reason=refused.text)
                continue
            name = f"configured-{key}.{ext}"
            _write(self.folder(datadir.ASSETS_DIR), name, image)
            assets = assets.set(key, (name, _MIME[ext]))
            url = f"{state.settings.public_base}/server-assets/{key}?v={hashlib.sha256(image).hexdigest()[:12]}"
            info[key] = server[key] = url
        if assets is state.server_assets:
            return state
        return attrs.evolve(state, server_assets=assets, server_info=info,
                            settings=attrs.evolve(state.settings, server=server))

    def path_of(self, purpose: str, file_name: str) -> Path | None:
        """The stored file `file_name` (a name some record holds), or None if it is not there."""
        if not _safe_name(file_name):
            return None
        path = self.folder(purpose) / file_name
        return path if path.is_file() else None


def _safe_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name and "\0" not in name


def _decode(payload: str) -> bytes | None:
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = folder / f".{secrets.token_hex(8)}{TEMP_SUFFIX}"
    try:
        with temp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, folder / name)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a crash once the folder is synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
