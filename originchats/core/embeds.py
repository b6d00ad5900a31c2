"""Embed validation (objects.md §3.6, extended/embeds.md). Returns the error text of the first
problem, or None.

The original validated with a pydantic model in "lax" mode: numeric strings pass where an integer
is expected, common spellings pass for booleans, but a number is not accepted as a string. The
validator only checks; valid embeds are stored exactly as sent (unknown keys included). Reports
follow pydantic's layout (`1 validation error for Embed\\n<field>\\n  <message>`); clients only rely
on the `Embed <i>: ` prefix.
"""

from __future__ import annotations

import re
from typing import Any

TYPES = ("rich", "poll", "link", "image", "video", "article")
MAX_EMBEDS = 10
MAX_TOTAL = 6000
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_BOOL_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"}


class _Invalid(Exception):
    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _lax_int(value: Any) -> int | None:
    """The integer a lax validator sees in `value`, or None when it is not one."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value):
        return int(value)
    return None


def _lax_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int) and value in (0, 1):
        return True
    return isinstance(value, str) and value.strip().lower() in _BOOL_WORDS


def _opt_str(obj: dict, key: str, loc: str, limit: int | None = None) -> int:
    """Check an optional string field; returns its length (0 when absent)."""
    value = obj.get(key)
    if value is None:
        return 0
    if not isinstance(value, str):
        raise _Invalid(loc, "Input should be a valid string")
    if limit is not None and len(value) > limit:
        raise _Invalid(loc, f"String should have at most {limit} characters")
    return len(value)


def _req_str(obj: dict, key: str, loc: str, limit: int | None = None) -> int:
    if obj.get(key) is None:
        raise _Invalid(loc, "Field required")
    return _opt_str(obj, key, loc, limit)


def _opt_int(obj: dict, key: str, loc: str) -> None:
    value = obj.get(key)
    if value is not None and _lax_int(value) is None:
        raise _Invalid(loc, "Input should be a valid integer")


def _obj(value: Any, loc: str) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(loc, "Input should be a valid dictionary or object")
    return value


def _media(embed: dict, key: str) -> None:
    if embed.get(key) is None:
        return
    media = _obj(embed[key], key)
    _req_str(media, "url", f"{key}.url")
    for dim in ("width", "height"):
        _opt_int(media, dim, f"{key}.{dim}")


def _poll(embed: dict) -> int:
    poll = _obj(embed["poll"], "poll")
    total = _req_str(poll, "question", "poll.question", 300)
    options = poll.get("options")
    if not isinstance(options, list):
        raise _Invalid("poll.options", "Input should be a valid list")
    if not 2 <= len(options) <= 10:
        raise _Invalid("poll.options", "List should have between 2 and 10 items")
    for i, option in enumerate(options):
        where = f"poll.options.{i}"
        option = _obj(option, where)
        oid = option.get("id")
        if not isinstance(oid, str) or not 1 <= len(oid) <= 50:
            raise _Invalid(f"{where}.id", "String should have between 1 and 50 characters")
        total += _req_str(option, "text", f"{where}.text", 100)
        _opt_str(option, "emoji", f"{where}.emoji")
    multi = poll.get("allow_multiselect")
    if multi is not None and not _lax_bool(multi):
        raise _Invalid("poll.allow_multiselect", "Input should be a valid boolean")
    expires = poll.get("expires_at")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, (int, float))):
        if not (isinstance(expires, str) and _lax_int(expires) is not None):
            raise _Invalid("poll.expires_at", "Input should be a valid number")
    return total


def _check(embed: Any) -> None:
    embed = _obj(embed, "embed")
    etype = embed.get("type", "rich")
    if etype is None:
        etype = "rich"
    if not isinstance(etype, str) or etype not in TYPES:
        raise _Invalid("type", "Input should be " + ", ".join(f"'{t}'" for t in TYPES))
    total = _opt_str(embed, "title", "title", 256)
    total += _opt_str(embed, "description", "description", 4096)
    _opt_str(embed, "url", "url")
    _opt_str(embed, "timestamp", "timestamp")
    color = embed.get("color")
    if color is not None:
        value = _lax_int(color)
        if value is None or isinstance(color, bool):
            raise _Invalid("color", "Input should be a valid integer")
        if not 0 <= value <= 0xFFFFFF:
            raise _Invalid("color", "Input should be between 0 and 16777215")
    if embed.get("author") is not None:
        author = _obj(embed["author"], "author")
        total += _req_str(author, "name", "author.name", 256)
        _opt_str(author, "url", "author.url")
        _opt_str(author, "icon_url", "author.icon_url")
    if embed.get("footer") is not None:
        footer = _obj(embed["footer"], "footer")
        total += _req_str(footer, "text", "footer.text", 2048)
        _opt_str(footer, "icon_url", "footer.icon_url")
    _media(embed, "image")
    _media(embed, "thumbnail")
    fields = embed.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            raise _Invalid("fields", "Input should be a valid list")
        if len(fields) > 25:
            raise _Invalid("fields", "List should have at most 25 items")
        for i, f in enumerate(fields):
            f = _obj(f, f"fields.{i}")
            total += _req_str(f, "name", f"fields.{i}.name", 256)
            total += _req_str(f, "value", f"fields.{i}.value", 1024)
            if f.get("inline") is not None and not _lax_bool(f["inline"]):
                raise _Invalid(f"fields.{i}.inline", "Input should be a valid boolean")
    if embed.get("poll") is not None:
        total += _poll(embed)
    if etype == "poll" and embed.get("poll") is None:
        raise _Invalid("embed", "Value error, Poll embeds must have 'poll' data")
    if etype == "link" and not embed.get("url"):
        raise _Invalid("embed", "Value error, Link embeds must have 'url'")
    if etype == "image" and embed.get("image") is None:
        raise _Invalid("embed", "Value error, Image embeds must have 'image'")
    if total > MAX_TOTAL:
        raise _Invalid("embed", "Value error, Embed total characters cannot exceed 6000")


def validate_embed(embed: Any) -> str | None:
    """The validator report for one embed, or None when it is valid."""
    try:
        _check(embed)
    except _Invalid as exc:
        return f"1 validation error for Embed\n{exc.loc}\n  {exc.msg}"
    return None


def validate_embeds(embeds: Any) -> str | None:
    """The `message_new` / `message_edit` embed check: the error text, or None when valid."""
    if not isinstance(embeds, list):
        return "Embeds must be an array"
    if len(embeds) > MAX_EMBEDS:
        return "Cannot have more than 10 embeds"
    for i, embed in enumerate(embeds):
        err = validate_embed(embed)
        if err:
            return f"Embed {i}: {err}"
    return None
