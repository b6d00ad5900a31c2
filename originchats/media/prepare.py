"""The media package's async entry points: what the shell calls for an upload, an emoji, an asset.

The Pillow work runs in worker threads (`trio.to_thread.run_sync`), at most `MediaLimits.threads`
at once per process (a `CapacityLimiter`, one per trio run), never on the trio thread.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Any, Iterable

import attrs
import trio

from .errors import MediaRefused
from .images import EXTENSIONS, ImageRules, encode
from .sniff import SNIFF_BYTES, inline_type, reconcile, sniff


@attrs.frozen
class MediaLimits:
    """The `[media]` section: decoding limits shared by attachments, emoji and server assets."""

    max_pixels: int = 40_000_000
    max_animation_pixels: int = 100_000_000
    threads: int = 2


DEFAULT_LIMITS = MediaLimits()


@attrs.frozen
class Prepared:
    path: Path            # the bytes to store (`src` itself when nothing was re-encoded)
    mime_type: str        # the sniffed type, the one to serve
    size: int
    width: int | None
    height: int | None
    inline: bool          # image/video/audio/pdf of a sniffed type


_LIMITER: trio.lowlevel.RunVar = trio.lowlevel.RunVar("media_limiter")


def _limiter(limits: MediaLimits) -> trio.CapacityLimiter:
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = trio.CapacityLimiter(max(1, limits.threads))
        _LIMITER.set(limiter)
        return limiter


def _rules(compression: Any, limits: MediaLimits) -> ImageRules:
    if compression.enabled:
        return ImageRules(compression.max_width, compression.max_height, compression.jpeg_quality,
                          compression.webp_quality, compression.png_compression,
                          limits.max_pixels, limits.max_animation_pixels)
    # compression off: never resized, but still re-encoded (metadata stripped) at high quality
    return ImageRules(0, 0, 95, 95, compression.png_compression, limits.max_pixels, limits.max_animation_pixels)


def _prepare_upload_sync(src: Path, declared_mime: str, rules: ImageRules, out_dir: Path) -> Prepared:
    with src.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    mime, sniffed = reconcile(declared_mime, sniff(head))
    if not mime.startswith("image/"):
        return Prepared(src, mime, src.stat().st_size, None, None, sniffed and inline_type(mime))
    out = out_dir / f"media-{secrets.token_hex(8)}.tmp"
    try:
        with src.open("rb") as f, out.open("wb") as dst:
            done = encode(f, rules, dst)
            dst.flush()
            os.fsync(dst.fileno())
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return Prepared(out, done.mime_type, out.stat().st_size, done.width, done.height, True)


async def prepare_upload(src: Path, declared_mime: str, settings: Any, out_dir: Path, *,
                         limits: MediaLimits = DEFAULT_LIMITS) -> Prepared:
    """Check an uploaded file against its declared type and make it safe to serve.

    `settings` is the attachments settings: anything with a `compression` attribute shaped like
    `CompressionSettings`. Images are re-encoded into a new file in `out_dir` (the caller owns it,
    and still owns `src`); other types are returned as `src` itself. Raises MediaRefused with a
    client-facing sentence for a type mismatch or an image that does not decode.
    """
    rules = _rules(getattr(settings, "compression", settings), limits)
    return await trio.to_thread.run_sync(_prepare_upload_sync, src, declared_mime, rules, out_dir,
                                         limiter=_limiter(limits))


def normalise_exts(allowed: Iterable[str]) -> frozenset[str]:
    """Lower-case extensions without leading dots; `jpg` and `jpeg` name the same thing."""
    exts = {e.strip().lower().lstrip(".") for e in allowed if e.strip()}
    if exts & {"jpg", "jpeg"}:
        exts |= {"jpg", "jpeg"}
    return frozenset(exts)


def _prepare_emoji_sync(data: bytes, exts: frozenset[str], rules: ImageRules) -> tuple[bytes, str, int, int]:
    sniffed = sniff(data[:SNIFF_BYTES])
    ext = EXTENSIONS.get(sniffed or "")
    if ext is None:
        raise MediaRefused("The image must be one of: " + ", ".join(sorted(exts)))
    if ext not in exts:
        raise MediaRefused(f"Image type {ext} is not allowed (allowed: {', '.join(sorted(exts))})")
    out = io.BytesIO()
    done = encode(io.BytesIO(data), rules, out)
    return out.getvalue(), EXTENSIONS[done.mime_type], done.width, done.height


def _emoji_rules(max_side: int, limits: MediaLimits) -> ImageRules:
    return ImageRules(max_side, max_side, 90, 90, 6, limits.max_pixels, limits.max_animation_pixels)


async def prepare_emoji(data: bytes, allowed_exts: Iterable[str], *, max_side: int = 256,
                        limits: MediaLimits = DEFAULT_LIMITS) -> tuple[bytes, str, int, int]:
    """(clean image bytes, extension, width, height) of a small image: an emoji or a server asset.

    The detected format must be in `allowed_exts` (png, jpeg/jpg, gif, webp); the image is shrunk
    to fit `max_side` x `max_side`, animation kept. Raises MediaRefused.
    """
    return await trio.to_thread.run_sync(prepare_emoji_blocking, bytes(data), allowed_exts, max_side, limits,
                                         limiter=_limiter(limits))


def prepare_emoji_blocking(data: bytes, allowed_exts: Iterable[str], max_side: int = 256,
                           limits: MediaLimits = DEFAULT_LIMITS) -> tuple[bytes, str, int, int]:
    """`prepare_emoji` in the calling thread: for start-up work, before the server serves anyone."""
    return _prepare_emoji_sync(bytes(data), normalise_exts(allowed_exts), _emoji_rules(max_side, limits))
