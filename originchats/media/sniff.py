"""What a file is, from its first bytes, and whether that agrees with what the client declared.

Library choice: `filetype` (magic numbers only, pure Python, no dependencies, reads at most the
first 261 bytes). Tried against `puremagic` and Pillow on real samples (PNG, JPEG, GIF, WebP, MP4,
WebM, MP3 with and without an ID3 tag, WAV, Ogg, PDF, SVG, HTML, text, a PNG renamed .pdf):

* `filetype` named every binary format right, and names nothing for SVG, HTML and text. That is
  the answer wanted here: what it cannot name is "unknown", and unknown is never served inline.
* `puremagic` missed an MP3 that starts with an ID3 tag (the common case), called Ogg
  `application/ogg`, and also guesses at text formats (SVG, HTML), which invites trusting a
  guess about markup; its current major version needs a newer Python than ours.
* Pillow alone recognises images only, so video, audio and PDF would be unknown.

Pillow still has the last word on images: a file that sniffs as an image must also decode as one
(media/images.py).
"""

from __future__ import annotations

import filetype

from .errors import MediaRefused

SNIFF_BYTES = 261  # filetype never reads past this

# Other spellings clients send (or filetype reports) for one type: the canonical one is the value.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/apng": "image/png",
    "image/vnd.microsoft.icon": "image/x-icon",
    "image/x-ms-bmp": "image/bmp",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-aiff": "audio/aiff",
    "video/x-m4v": "video/mp4",
    "application/x-pdf": "application/pdf",
}

# Containers whose magic number does not say which of these it holds: a declared type in the same
# family as the sniffed one is taken (and served) as declared.
_FAMILIES = (
    frozenset({"audio/ogg", "video/ogg", "application/ogg", "audio/opus", "audio/vorbis"}),
    frozenset({"video/mp4", "audio/mp4", "video/quicktime", "video/3gpp", "audio/3gpp"}),
    frozenset({"video/webm", "audio/webm", "video/x-matroska", "audio/x-matroska"}),
)

# Every type filetype can name: a file declared as one of these must sniff as it.
_KNOWN = frozenset(canonical for t in filetype.types for canonical in (_ALIASES.get(t.mime, t.mime),))
_RECOGNISABLE = _KNOWN | frozenset().union(*_FAMILIES)

UNKNOWN = "application/octet-stream"


def canonical(mime: str) -> str:
    """Lower-case, parameters dropped (`; charset=...`), aliases resolved."""
    base = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The canonical type of content starting with `head`, or None when filetype cannot name it."""
    kind = filetype.guess(bytes(head[:SNIFF_BYTES]))
    return None if kind is None else canonical(kind.mime)


def _family(mime: str) -> frozenset[str] | None:
    return next((f for f in _FAMILIES if mime in f), None)


def reconcile(declared: str, sniffed: str | None) -> tuple[str, bool]:
    """(the type to serve, whether it was sniffed). Raises MediaRefused on a mismatch.

    A declared type we would have recognised must be what the bytes are (an HTML page declared
    image/png, a PNG declared application/pdf). Content we cannot name is served as
    application/octet-stream whatever was declared (SVG, HTML, text: never inline).
    """
    want = canonical(declared)
    if sniffed is not None:
        if want == sniffed:
            return sniffed, True
        family = _family(sniffed)
        if family is not None and want in family:
            return want, True
        raise MediaRefused(f"The file's content ({sniffed}) does not match its declared type ({want or 'none'})")
    if want in _RECOGNISABLE:
        raise MediaRefused(f"The file's content is not {want}, as declared")
    return UNKNOWN, False


def inline_type(mime: str) -> bool:
    """Whether a sniffed type may be shown in the browser: images, video, audio and PDF."""
    return mime.split("/", 1)[0] in ("image", "video", "audio") or mime == "application/pdf"
