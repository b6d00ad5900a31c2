"""Custom emoji records and the rules on their names and images (extended/emojis.md, its flaws
fixed: ids are never reused, the image is checked before anything is stored)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
# data:image/<subtype>;base64,<payload>: the prefix is checked here, the payload's base64 and the
# image itself by the shell (core/ops.py PrepareImage)
DATA_URI = re.compile(r"data:image/[A-Za-z0-9.+-]{1,64};base64,", re.ASCII)


@attrs.frozen
class Emoji:
    id: int
    name: str
    file_name: str  # made by the server: `<20 random hex>.<ext>`, a new one for each image
    width: int
    height: int
    created_by: str | None = None
    created_at: float = 0.0


def clean_name(value: str) -> str | None:
    """The trimmed name if it follows the rule, else None."""
    name = value.strip()
    return name if NAME.fullmatch(name) else None


def find_by_name(emojis: Mapping[int, Emoji], name: str) -> Emoji | None:
    """Case-insensitive (a few hundred emoji at most: a walk)."""
    wanted = name.strip().casefold()
    return next((e for e in emojis.values() if e.name.casefold() == wanted), None)


def payload_of(data_uri: str) -> str | None:
    """The base64 part of `data:image/<subtype>;base64,<payload>`, or None for anything else."""
    match = DATA_URI.match(data_uri)
    return data_uri[match.end():] if match is not None else None


def decoded_size(payload: str) -> int:
    """The bytes `payload` decodes to (at most), without decoding it."""
    return len(payload) * 3 // 4


def parse_id(value: object) -> int | None:
    """An emoji id as clients send it: an integer or a decimal string ("0"); None: not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", value):
        return int(value)
    return None


def wire_map(emojis: Mapping[int, Emoji]) -> dict[str, dict[str, str]]:
    """`emoji_get_all`'s object, keyed by id (as a string), in id order."""
    return {str(e.id): {"name": e.name, "fileName": e.file_name} for e in sorted(emojis.values(), key=lambda e: e.id)}


# ---- the results of core/ops.py PrepareImage ----------------------------------------------------


@attrs.frozen
class PreparedImage:
    file_name: str
    mime_type: str
    width: int
    height: int
    sha256: str


@attrs.frozen
class ImageRefused:
    """`bad_base64`: the payload is not strict base64 (a malformed request); otherwise the image
    itself was refused, for the reason `text`."""

    text: str
    bad_base64: bool = False
