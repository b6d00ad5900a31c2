"""Decoding and re-encoding images with Pillow. Blocking: runs in a worker thread (media/prepare.py).

Every image is decoded in full before anything is stored, so a file that claims to be an image
but does not decode is refused, never kept raw. The output is always a fresh encoding: EXIF (GPS
included), XMP, comments and text chunks are never copied (only the ICC colour profile is kept);
the EXIF orientation is applied to the pixels first.

Decompression bombs: the pixel count is checked from the header before any pixel is decoded
(`max_pixels`, and `max_animation_pixels` for all frames together), and Pillow's own guard is on
with the same cap, its warning turned into an error.
"""

from __future__ import annotations

import warnings
from typing import BinaryIO

import attrs
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from .errors import MediaRefused
from .gif import strip_gif

warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

# Formats Pillow decodes that are kept in their own format; the other decodable ones become PNG.
_KEEP = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
_TO_PNG = {"BMP", "TIFF", "ICO", "DIB"}
EXTENSIONS = {"image/jpeg": "jpeg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError,
                  TypeError, Image.DecompressionBombError, Image.DecompressionBombWarning)


@attrs.frozen
class ImageRules:
    """How one image is re-encoded. `max_width`/`max_height` 0: never resized."""

    max_width: int
    max_height: int
    jpeg_quality: int
    webp_quality: int
    png_compression: int
    max_pixels: int
    max_animation_pixels: int


@attrs.frozen
class Encoded:
    mime_type: str
    width: int
    height: int
    frames: int


def _target(size: tuple[int, int], rules: ImageRules) -> tuple[int, int]:
    width, height = size
    if not rules.max_width or not rules.max_height:
        return size
    if width <= rules.max_width and height <= rules.max_height:
        return size
    scale = min(rules.max_width / width, rules.max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _flatten(im: Image.Image) -> Image.Image:
    """An image JPEG can hold: transparency flattened onto white."""
    if im.mode in ("RGB", "L", "CMYK"):
        return im
    rgba = im.convert("RGBA")
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return white


def _save_static(im: Image.Image, fmt: str, rules: ImageRules, dst: BinaryIO) -> None:
    icc = im.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc and fmt in ("JPEG", "PNG", "WEBP") else {}
    if fmt == "JPEG":
        _flatten(im).save(dst, "JPEG", quality=rules.jpeg_quality, optimize=True, **extra)
    elif fmt == "WEBP":
        if im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
        im.save(dst, "WEBP", quality=rules.webp_quality, **extra)
    elif fmt == "GIF":
        transparency = im.info.get("transparency")
        kwargs = {"transparency": transparency} if transparency is not None else {}
        im.save(dst, "GIF", **kwargs)
    else:
        if im.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            im = im.convert("RGBA")
        kwargs = {}
        if im.mode == "P" and im.info.get("transparency") is not None:
            kwargs["transparency"] = im.info["transparency"]
        im.save(dst, "PNG", compress_level=rules.png_compression, **kwargs, **extra)


def _save_animated(im: Image.Image, fmt: str, size: tuple[int, int], rules: ImageRules,
                   dst: BinaryIO) -> int:
    """Re-encode every frame (resized to `size`) with its duration; returns the frame count."""
    frames, durations = [], []
    for frame in ImageSequence.Iterator(im):
        durations.append(int(frame.info.get("duration", 100) or 0))
        rgba = frame.convert("RGBA")
        frames.append(rgba if rgba.size == size else rgba.resize(size, Image.Resampling.LANCZOS))
    kwargs: dict = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if "loop" in im.info:
        kwargs["loop"] = im.info["loop"]
    if fmt == "GIF":
        kwargs["disposal"] = 2
        kwargs["optimize"] = False
    elif fmt == "WEBP":
        kwargs["quality"] = rules.webp_quality
        kwargs.setdefault("loop", 0)
    else:
        fmt = "PNG"
        kwargs["compress_level"] = rules.png_compression
    frames[0].save(dst, fmt, **kwargs)
    return len(frames)


def encode(src: BinaryIO, rules: ImageRules, dst: BinaryIO) -> Encoded:
    """Decode the image in `src` and write its clean re-encoding to `dst`. Raises MediaRefused."""
    Image.MAX_IMAGE_PIXELS = rules.max_pixels
    try:
        im = Image.open(src)
    except _DECODE_ERRORS as exc:
        raise MediaRefused(_refusal(exc, rules)) from None
    with im:
        fmt = im.format or ""
        if fmt not in _KEEP and fmt not in _TO_PNG:
            raise MediaRefused(f"Unsupported image format ({fmt or 'unknown'}); use PNG, JPEG, GIF or WebP")
        width, height = im.size
        if width * height > rules.max_pixels:
            raise MediaRefused(f"Image too large: {width}x{height} pixels (max {rules.max_pixels} pixels)")
        try:
            count = getattr(im, "n_frames", 1)
            if count > 1:
                return _animated(im, src, fmt, count, rules, dst)
            im.load()
            upright = _upright(im)
            size = _target(upright.size, rules)
            if size != upright.size:
                upright = upright.resize(size, Image.Resampling.LANCZOS)
            out = fmt if fmt in _KEEP else "PNG"
            _save_static(upright, out, rules, dst)
            return Encoded(_KEEP[out], size[0], size[1], 1)
        except MediaRefused:
            raise
        except _DECODE_ERRORS as exc:
            raise MediaRefused(_refusal(exc, rules)) from None


def _animated(im: Image.Image, src: BinaryIO, fmt: str, count: int, rules: ImageRules,
              dst: BinaryIO) -> Encoded:
    width, height = im.size
    if width * height * count > rules.max_animation_pixels:
        raise MediaRefused(f"Animated image too large: {count} frames of {width}x{height} pixels "
                           f"(max {rules.max_animation_pixels} pixels in all)")
    size = _target(im.size, rules)
    if fmt == "GIF" and size == im.size:
        for index in range(count):  # every frame must decode before the file is kept
            im.seek(index)
            im.load()
        src.seek(0)
        if strip_gif(src, dst) != count:
            raise MediaRefused("The GIF's frames could not be read")
        return Encoded("image/gif", width, height, count)
    out = fmt if fmt in ("GIF", "WEBP") else "PNG"
    frames = _save_animated(im, out, size, rules, dst)
    return Encoded(_KEEP[out], size[0], size[1], frames)


def _upright(im: Image.Image) -> Image.Image:
    """The pixels turned as the EXIF orientation says; unreadable EXIF is ignored (it is dropped
    from the output anyway), the image kept as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, OSError):
        return im


def _refusal(exc: BaseException, rules: ImageRules) -> str:
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"Image too large (max {rules.max_pixels} pixels)"
    return "The file could not be decoded as an image"
