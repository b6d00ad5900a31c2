"""Embed validation (objects.md §3.6, extended/embeds.md) to a fixed schema.

`normalize_embeds` checks a list of embeds and returns what is stored: each embed, and each
object inside it (author, footer, image, thumbnail, fields, poll, poll options), keeps only the
keys of the schema, in the order sent; unknown keys are dropped (docs/compatibility.md,
Messages). Every stored string has a length limit (URLs `url_length`, emoji `emoji_length`,
`timestamp` TIMESTAMP_MAX, the rest as the protocol documents), numbers are finite and within
±(2**53 - 1), so nothing stored can nest or grow without bound; the whole message is then held
to its byte budget (core/budget.py).

The original validated with a pydantic model in "lax" mode: numeric strings pass where an integer
is expected, common spellings pass for booleans, but a number is not accepted as a string. Values
of known keys are stored in the type they were sent in (`"color": "12"` stays a string). Reports
follow pydantic's layout (`1 validation error for Embed\\n<field>\\n  <message>`); clients only
rely on the `Embed <i>: ` prefix.
"""

from __future__ import annotations

import math
import re
from typing import Any

from . import texts
from .settings import ContentLimits

TYPES = ("rich", "poll", "link", "image", "video", "article")
MAX_EMBEDS = 10
MAX_TOTAL = 6000
TIMESTAMP_MAX = 64  # characters of `timestamp` (free-form; ISO 8601 needs 35 at most)
LAX_TEXT_MAX = 32  # characters of a string standing for a number or a boolean ("12", " yes ")
INT_MAX = 2**53 - 1  # the largest integer every JSON reader (JavaScript included) holds exactly
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_BOOL_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"}

EMBED_KEYS = ("type", "title", "description", "url", "color", "timestamp", "author", "footer", "image",
              "thumbnail", "fields", "poll")
AUTHOR_KEYS = ("name", "url", "icon_url")
FOOTER_KEYS = ("text", "icon_url")
MEDIA_KEYS = ("url", "width", "height")
FIELD_KEYS = ("name", "value", "inline")
POLL_KEYS = ("question", "options", "allow_multiselect", "expires_at")
OPTION_KEYS = ("id", "text", "emoji")


class _Invalid(Exception):
    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _known(obj: dict, keys: tuple[str, ...]) -> dict:
    """`obj` with only the schema's `keys`, in the order sent."""
    return {k: v for k, v in obj.items() if k in keys}


def _lax_int(value: Any) -> int | None:
    """The integer a lax validator sees in `value`, or None when it is not one."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and len(value) <= LAX_TEXT_MAX and _INT_TEXT.match(value):
        return int(value)
    return None


def _lax_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int) and value in (0, 1):
        return True
    return isinstance(value, str) and len(value) <= LAX_TEXT_MAX and value.strip().lower() in _BOOL_WORDS


def _opt_str(obj: dict, key: str, loc: str, limit: int) -> int:
    """Check an optional string field; returns its length (0 when absent)."""
    value = obj.get(key)
    if value is None:
        return 0
    if not isinstance(value, str):
        raise _Invalid(loc, texts.EMBED_NOT_A_STRING)
    if len(value) > limit:
        raise _Invalid(loc, texts.embed_string_too_long(limit))
    return len(value)


def _req_str(obj: dict, key: str, loc: str, limit: int) -> int:
    if obj.get(key) is None:
        raise _Invalid(loc, texts.EMBED_FIELD_REQUIRED)
    return _opt_str(obj, key, loc, limit)


def _opt_int(obj: dict, key: str, loc: str) -> None:
    value = obj.get(key)
    if value is None:
        return
    number = _lax_int(value)
    if number is None:
        raise _Invalid(loc, texts.EMBED_NOT_AN_INTEGER)
    if abs(number) > INT_MAX:
        raise _Invalid(loc, texts.embed_integer_range(INT_MAX))


def _obj(value: Any, loc: str) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(loc, texts.EMBED_NOT_AN_OBJECT)
    return value


def _media(embed: dict, key: str, limits: ContentLimits) -> None:
    if embed.get(key) is None:
        return
    media = _obj(embed[key], key)
    _req_str(media, "url", f"{key}.url", limits.url_length)
    for dim in ("width", "height"):
        _opt_int(media, dim, f"{key}.{dim}")
    embed[key] = _known(media, MEDIA_KEYS)


def _poll(embed: dict, limits: ContentLimits) -> int:
    poll = _obj(embed["poll"], "poll")
    total = _req_str(poll, "question", "poll.question", 300)
    options = poll.get("options")
    if not isinstance(options, list):
        raise _Invalid("poll.options", texts.EMBED_NOT_A_LIST)
    if not 2 <= len(options) <= 10:
        raise _Invalid("poll.options", texts.EMBED_POLL_OPTIONS)
    kept = []
    for i, option in enumerate(options):
        where = f"poll.options.{i}"
        option = _obj(option, where)
        oid = option.get("id")
        if not isinstance(oid, str) or not 1 <= len(oid) <= 50:
            raise _Invalid(f"{where}.id", texts.EMBED_OPTION_ID)
        total += _req_str(option, "text", f"{where}.text", 100)
        _opt_str(option, "emoji", f"{where}.emoji", limits.emoji_length)
        kept.append(_known(option, OPTION_KEYS))
    multi = poll.get("allow_multiselect")
    if multi is not None and not _lax_bool(multi):
        raise _Invalid("poll.allow_multiselect", texts.EMBED_NOT_A_BOOLEAN)
    expires = poll.get("expires_at")
    if expires is not None:
        if isinstance(expires, str) and _lax_int(expires) is not None:
            pass
        elif isinstance(expires, bool) or not isinstance(expires, (int, float)):
            raise _Invalid("poll.expires_at", texts.EMBED_NOT_A_NUMBER)
        elif not math.isfinite(expires) or abs(expires) > INT_MAX:
            raise _Invalid("poll.expires_at", texts.EMBED_NOT_FINITE)
    embed["poll"] = {**_known(poll, POLL_KEYS), "options": kept}
    return total


def _check(embed: Any, limits: ContentLimits) -> dict:
    """The stored form of one embed (schema keys only), or `_Invalid`."""
    embed = _known(_obj(embed, "embed"), EMBED_KEYS)
    etype = embed.get("type", "rich")
    if etype is None:
        etype = "rich"
    if not isinstance(etype, str) or etype not in TYPES:
        raise _Invalid("type", texts.embed_type(TYPES))
    total = _opt_str(embed, "title", "title", 256)
    total += _opt_str(embed, "description", "description", 4096)
    _opt_str(embed, "url", "url", limits.url_length)
    _opt_str(embed, "timestamp", "timestamp", TIMESTAMP_MAX)
    color = embed.get("color")
    if color is not None:
        value = _lax_int(color)
        if value is None or isinstance(color, bool):
            raise _Invalid("color", texts.EMBED_NOT_AN_INTEGER)
        if not 0 <= value <= 0xFFFFFF:
            raise _Invalid("color", texts.EMBED_COLOR_RANGE)
    if embed.get("author") is not None:
        author = _obj(embed["author"], "author")
        total += _req_str(author, "name", "author.name", 256)
        _opt_str(author, "url", "author.url", limits.url_length)
        _opt_str(author, "icon_url", "author.icon_url", limits.url_length)
        embed["author"] = _known(author, AUTHOR_KEYS)
    if embed.get("footer") is not None:
        footer = _obj(embed["footer"], "footer")
        total += _req_str(footer, "text", "footer.text", 2048)
        _opt_str(footer, "icon_url", "footer.icon_url", limits.url_length)
        embed["footer"] = _known(footer, FOOTER_KEYS)
    _media(embed, "image", limits)
    _media(embed, "thumbnail", limits)
    fields = embed.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            raise _Invalid("fields", texts.EMBED_NOT_A_LIST)
        if len(fields) > 25:
            raise _Invalid("fields", texts.EMBED_TOO_MANY_FIELDS)
        kept = []
        for i, f in enumerate(fields):
            f = _obj(f, f"fields.{i}")
            total += _req_str(f, "name", f"fields.{i}.name", 256)
            total += _req_str(f, "value", f"fields.{i}.value", 1024)
            if f.get("inline") is not None and not _lax_bool(f["inline"]):
                raise _Invalid(f"fields.{i}.inline", texts.EMBED_NOT_A_BOOLEAN)
            kept.append(_known(f, FIELD_KEYS))
        embed["fields"] = kept
    if embed.get("poll") is not None:
        total += _poll(embed, limits)
    if etype == "poll" and embed.get("poll") is None:
        raise _Invalid("embed", texts.EMBED_POLL_DATA)
    if etype == "link" and not embed.get("url"):
        raise _Invalid("embed", texts.EMBED_LINK_URL)
    if etype == "image" and embed.get("image") is None:
        raise _Invalid("embed", texts.EMBED_IMAGE)
    if total > MAX_TOTAL:
        raise _Invalid("embed", texts.EMBED_TOTAL)
    return embed


def normalize_embeds(embeds: Any, limits: ContentLimits) -> tuple[list[dict] | None, str | None]:
    """The `message_new` / `message_edit` embed check: `(stored embeds, None)` when valid, else
    `(None, error text)`."""
    if not isinstance(embeds, list):
        return None, texts.EMBEDS_NOT_A_LIST
    if len(embeds) > MAX_EMBEDS:
        return None, texts.TOO_MANY_EMBEDS
    out = []
    for i, embed in enumerate(embeds):
        try:
            out.append(_check(embed, limits))
        except _Invalid as exc:
            return None, texts.embed_invalid(i, exc.loc, exc.msg)
    return out, None
