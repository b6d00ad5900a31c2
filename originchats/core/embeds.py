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
follow pydantic 2's layout and wording (`2 validation errors for Embed\\n<field>\\n  <message>...`,
every error of the failing embed, the model's own rules without a location), without the input
echo and the documentation link each line had; clients only rely on the `Embed <i>: ` prefix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
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


class _Report:
    """The errors found in one embed, in the order pydantic reports them: the schema's fields in
    order, each nested object depth first. Each is `(location, message)`; the location of the
    embed as a whole is empty."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def add(self, loc: str, msg: str) -> None:
        self.errors.append((loc, msg))


def _known(obj: dict, keys: tuple[str, ...]) -> dict:
    """`obj` with only the schema's `keys`, in the order sent."""
    return {k: v for k, v in obj.items() if k in keys}


def _str(r: _Report, obj: dict, key: str, loc: str, limit: int, *, required: bool = False,
         min_length: int = 0) -> int:
    """Check a string field (absent or null: fine unless required); returns its length (0 when
    absent or wrong: the total is checked only when nothing is wrong)."""
    if key not in obj:
        if required:
            r.add(loc, texts.EMBED_FIELD_REQUIRED)
        return 0
    value = obj[key]
    if value is None and not required:
        return 0
    if not isinstance(value, str):
        r.add(loc, texts.EMBED_NOT_A_STRING)
    elif len(value) < min_length:
        r.add(loc, texts.EMBED_STRING_TOO_SHORT)
    elif len(value) > limit:
        r.add(loc, texts.embed_string_too_long(limit))
    else:
        return len(value)
    return 0


def _int(r: _Report, obj: dict, key: str, loc: str, *, low: int = -INT_MAX, high: int = INT_MAX) -> None:
    """An optional integer, lax: booleans, integral floats and integer strings pass."""
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, int):  # booleans included, as pydantic's lax mode takes them
        number = int(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return r.add(loc, texts.EMBED_NOT_FINITE)
        if not value.is_integer():
            return r.add(loc, texts.EMBED_INTEGER_FRACTION)
        number = int(value)
    elif isinstance(value, str):
        if len(value) > LAX_TEXT_MAX or not _INT_TEXT.match(value):
            return r.add(loc, texts.EMBED_INTEGER_PARSING)
        number = int(value)
    else:
        return r.add(loc, texts.EMBED_NOT_AN_INTEGER)
    if number < low:
        r.add(loc, texts.embed_at_least(low) if low > -INT_MAX else texts.embed_integer_range(INT_MAX))
    elif number > high:
        r.add(loc, texts.embed_at_most(high) if high < INT_MAX else texts.embed_integer_range(INT_MAX))


def _bool(r: _Report, obj: dict, key: str, loc: str) -> None:
    """A boolean with a default (so null is wrong), lax: 0/1 and common spellings pass."""
    if key not in obj:
        return
    value = obj[key]
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if value not in (0, 1):
            r.add(loc, texts.EMBED_BOOLEAN_PARSING)
    elif isinstance(value, float):
        if value not in (0.0, 1.0):
            r.add(loc, texts.EMBED_BOOLEAN_PARSING if value.is_integer() else texts.EMBED_NOT_A_BOOLEAN)
    elif isinstance(value, str):
        if len(value) > LAX_TEXT_MAX or value.lower() not in _BOOL_WORDS:
            r.add(loc, texts.EMBED_BOOLEAN_PARSING)
    else:
        r.add(loc, texts.EMBED_NOT_A_BOOLEAN)


def _number(r: _Report, obj: dict, key: str, loc: str) -> None:
    """An optional number, lax: booleans and numeric strings pass; it must be finite (pydantic
    took infinity and NaN) and within ±INT_MAX."""
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, (int, float)):
        number = float(value) if not isinstance(value, int) else value
    elif isinstance(value, str):
        try:
            if len(value) > LAX_TEXT_MAX:
                raise ValueError(value)
            number = float(value)
        except ValueError:
            return r.add(loc, texts.EMBED_NUMBER_PARSING)
    else:
        return r.add(loc, texts.EMBED_NOT_A_NUMBER)
    if isinstance(number, float) and not math.isfinite(number):
        r.add(loc, texts.EMBED_NOT_FINITE)
    elif abs(number) > INT_MAX:
        r.add(loc, texts.embed_integer_range(INT_MAX))


def _obj(r: _Report, value: Any, loc: str, model: str) -> dict | None:
    if not isinstance(value, dict):
        r.add(loc, texts.embed_not_an_object(model))
        return None
    return value


def _items(r: _Report, obj: dict, key: str, loc: str, least: int, most: int,
           check: Callable[[Any, str], Any]) -> list | None:
    """A list field: too long is reported alone; otherwise each item is checked (`check(item,
    loc)` returns its stored form, None when wrong), then too short."""
    if key not in obj:
        r.add(loc, texts.EMBED_FIELD_REQUIRED)
        return None
    items = obj[key]
    if not isinstance(items, list):
        r.add(loc, texts.EMBED_NOT_A_LIST)
        return None
    if len(items) > most:
        r.add(loc, texts.embed_list_too_long(most, len(items)))
        return None
    before = len(r.errors)
    kept = [check(item, f"{loc}.{i}") for i, item in enumerate(items)]
    if len(r.errors) == before and len(items) < least:
        r.add(loc, texts.embed_list_too_short(least, len(items)))
    return kept


def _media(r: _Report, embed: dict, key: str, model: str, limits: ContentLimits) -> None:
    if embed.get(key) is None:
        return
    media = _obj(r, embed[key], key, model)
    if media is None:
        return
    _str(r, media, "url", f"{key}.url", limits.url_length, required=True)
    for dim in ("width", "height"):
        _int(r, media, dim, f"{key}.{dim}")
    embed[key] = _known(media, MEDIA_KEYS)


def _poll(r: _Report, embed: dict, limits: ContentLimits) -> int:
    poll = _obj(r, embed["poll"], "poll", "PollData")
    if poll is None:
        return 0
    total = _str(r, poll, "question", "poll.question", 300, required=True)

    def option(value: Any, loc: str) -> Any:
        nonlocal total
        opt = _obj(r, value, loc, "PollOption")
        if opt is None:
            return None
        _str(r, opt, "id", f"{loc}.id", 50, required=True, min_length=1)
        total += _str(r, opt, "text", f"{loc}.text", 100, required=True)
        _str(r, opt, "emoji", f"{loc}.emoji", limits.emoji_length)
        return _known(opt, OPTION_KEYS)

    options = _items(r, poll, "options", "poll.options", 2, 10, option)
    _bool(r, poll, "allow_multiselect", "poll.allow_multiselect")
    _number(r, poll, "expires_at", "poll.expires_at")
    embed["poll"] = {**_known(poll, POLL_KEYS), "options": options}
    return total


def _check(r: _Report, value: Any, limits: ContentLimits) -> dict | None:
    """The stored form of one embed (schema keys only), or None with the errors in `r`."""
    if not isinstance(value, dict):
        r.add("", texts.embed_not_an_object("Embed"))
        return None
    embed = _known(value, EMBED_KEYS)
    etype = embed.get("type", "rich")
    if not isinstance(etype, str) or etype not in TYPES:
        r.add("type", texts.embed_type(TYPES))
    total = _str(r, embed, "title", "title", 256)
    total += _str(r, embed, "description", "description", 4096)
    _str(r, embed, "url", "url", limits.url_length)
    _int(r, embed, "color", "color", low=0, high=0xFFFFFF)
    _str(r, embed, "timestamp", "timestamp", TIMESTAMP_MAX)
    if embed.get("author") is not None:
        author = _obj(r, embed["author"], "author", "EmbedAuthor")
        if author is not None:
            total += _str(r, author, "name", "author.name", 256, required=True)
            _str(r, author, "url", "author.url", limits.url_length)
            _str(r, author, "icon_url", "author.icon_url", limits.url_length)
            embed["author"] = _known(author, AUTHOR_KEYS)
    if embed.get("footer") is not None:
        footer = _obj(r, embed["footer"], "footer", "EmbedFooter")
        if footer is not None:
            total += _str(r, footer, "text", "footer.text", 2048, required=True)
            _str(r, footer, "icon_url", "footer.icon_url", limits.url_length)
            embed["footer"] = _known(footer, FOOTER_KEYS)
    _media(r, embed, "image", "EmbedImage", limits)
    _media(r, embed, "thumbnail", "EmbedThumbnail", limits)
    if embed.get("fields") is not None:

        def field(value: Any, loc: str) -> Any:
            nonlocal total
            f = _obj(r, value, loc, "EmbedField")
            if f is None:
                return None
            total += _str(r, f, "name", f"{loc}.name", 256, required=True)
            total += _str(r, f, "value", f"{loc}.value", 1024, required=True)
            _bool(r, f, "inline", f"{loc}.inline")
            return _known(f, FIELD_KEYS)

        embed["fields"] = _items(r, embed, "fields", "fields", 0, 25, field)
    if embed.get("poll") is not None:
        total += _poll(r, embed, limits)
    if r.errors:
        return None
    # the model's own rules run only on a valid embed, and report the first that fails
    if etype == "poll" and embed.get("poll") is None:
        r.add("", texts.EMBED_POLL_DATA)
    elif etype == "link" and not embed.get("url"):
        r.add("", texts.EMBED_LINK_URL)
    elif etype == "image" and embed.get("image") is None:
        r.add("", texts.EMBED_IMAGE)
    elif total > MAX_TOTAL:
        r.add("", texts.EMBED_TOTAL)
    return None if r.errors else embed


def normalize_embeds(embeds: Any, limits: ContentLimits) -> tuple[list[dict] | None, str | None]:
    """The `message_new` / `message_edit` embed check: `(stored embeds, None)` when valid, else
    `(None, error text)` for the first embed that fails."""
    if not isinstance(embeds, list):
        return None, texts.EMBEDS_NOT_A_LIST
    if len(embeds) > MAX_EMBEDS:
        return None, texts.TOO_MANY_EMBEDS
    out = []
    for i, embed in enumerate(embeds):
        report = _Report()
        stored = _check(report, embed, limits)
        if stored is None:
            return None, texts.embed_invalid(i, report.errors)
        out.append(stored)
    return out, None
