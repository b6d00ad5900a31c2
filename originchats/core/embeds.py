"""Embed validation (objects.md §3.6). Returns the error text of the first problem, or None."""

from __future__ import annotations

from typing import Any

TYPES = ("rich", "poll", "link", "image", "video", "article")
MAX_EMBEDS = 10


def _str(obj: dict, key: str, limit: int | None = None, *, where: str = "") -> str | None:
    if key not in obj or obj[key] is None:
        return None
    value = obj[key]
    if not isinstance(value, str):
        return f"{where}{key} must be a string"
    if limit is not None and len(value) > limit:
        return f"{where}{key} must be at most {limit} characters"
    return None


def _media(obj: dict, key: str) -> str | None:
    if key not in obj or obj[key] is None:
        return None
    media = obj[key]
    if not isinstance(media, dict) or not isinstance(media.get("url"), str):
        return f"{key} must be an object with a url"
    for dim in ("width", "height"):
        v = media.get(dim)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            return f"{key}.{dim} must be an integer"
    return None


def validate_embed(embed: Any) -> str | None:
    if not isinstance(embed, dict):
        return "embed must be an object"
    etype = embed.get("type", "rich")
    if etype not in TYPES:
        return f"type must be one of {', '.join(TYPES)}"
    total = 0
    for key, limit in (("title", 256), ("description", 4096), ("url", 2048), ("timestamp", 64)):
        err = _str(embed, key, limit)
        if err:
            return err
        if key in ("title", "description") and isinstance(embed.get(key), str):
            total += len(embed[key])
    color = embed.get("color")
    if color is not None and (isinstance(color, bool) or not isinstance(color, int) or not 0 <= color <= 0xFFFFFF):
        return "color must be an integer between 0 and 16777215"
    author = embed.get("author")
    if author is not None:
        if not isinstance(author, dict) or not isinstance(author.get("name"), str):
            return "author must be an object with a name"
        if len(author["name"]) > 256:
            return "author.name must be at most 256 characters"
        total += len(author["name"])
    footer = embed.get("footer")
    if footer is not None:
        if not isinstance(footer, dict) or not isinstance(footer.get("text"), str):
            return "footer must be an object with a text"
        if len(footer["text"]) > 2048:
            return "footer.text must be at most 2048 characters"
        total += len(footer["text"])
    for key in ("image", "thumbnail"):
        err = _media(embed, key)
        if err:
            return err
    fields = embed.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            return "fields must be an array"
        if len(fields) > 25:
            return "fields must have at most 25 entries"
        for i, f in enumerate(fields):
            if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not isinstance(f.get("value"), str):
                return f"fields[{i}] must have a string name and value"
            if len(f["name"]) > 256 or len(f["value"]) > 1024:
                return f"fields[{i}] is too long"
            if "inline" in f and not isinstance(f["inline"], bool):
                return f"fields[{i}].inline must be a boolean"
            total += len(f["name"]) + len(f["value"])
    if total > 6000:
        return "total embed text must be at most 6000 characters"
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
