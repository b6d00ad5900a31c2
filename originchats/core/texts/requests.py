"""Texts about the request itself: frames that are not requests, unknown commands, fields of the
wrong type, what is too large to store, and the embed reports."""

from __future__ import annotations

# ---- frames that are not requests (protocol/codec.py) and the dispatcher ----------------------

INVALID_JSON = "Invalid JSON"
NOT_AN_OBJECT = "Invalid message format: expected a JSON object"
CMD_NOT_A_STRING = "Invalid field 'cmd': expected string"
FAILED_TO_SAVE = "Failed to save changes"


def unknown_command(cmd: str | None) -> str:
    return f"Unknown command: {cmd}"


def wrong_type(field: str, expected: str, got: str) -> str:
    """A request field of the wrong JSON type (core/request.py names `got`)."""
    return f"Invalid field '{field}': expected {expected}, got {got}"


def expected_string_array(field: str) -> str:
    return f"Invalid field '{field}': expected array of strings"

# ---- stored sizes (core/budget.py) ------------------------------------------------------------


def message_too_large(limit: int) -> str:
    return f"Message too large. Maximum size is {limit} bytes (content, embeds and reactions together)"


def nested_too_deeply(field: str, depth: int) -> str:
    return f"Invalid field '{field}': nested too deeply (at most {depth} levels)"


def field_too_large(field: str, limit: int) -> str:
    return f"Invalid field '{field}': too large (at most {limit} bytes)"


def not_storable(field: str) -> str:
    return (f"Invalid field '{field}': only JSON strings, finite numbers, booleans, null, arrays and objects "
            "can be stored")


def record_too_large(what: str, limit: int) -> str:
    return f"{what} too large (at most {limit} bytes stored)"

# ---- embeds (core/embeds.py): `Embed <i>: ` and a report in pydantic's layout -----------------

EMBEDS_NOT_A_LIST = "Embeds must be an array"
TOO_MANY_EMBEDS = "Cannot have more than 10 embeds"
EMBED_FIELD_REQUIRED = "Field required"
EMBED_NOT_A_STRING = "Input should be a valid string"
EMBED_NOT_AN_INTEGER = "Input should be a valid integer"
EMBED_NOT_AN_OBJECT = "Input should be a valid dictionary or object"
EMBED_NOT_A_LIST = "Input should be a valid list"
EMBED_NOT_A_BOOLEAN = "Input should be a valid boolean"
EMBED_NOT_A_NUMBER = "Input should be a valid number"
EMBED_NOT_FINITE = "Input should be a finite number"
EMBED_POLL_OPTIONS = "List should have between 2 and 10 items"
EMBED_OPTION_ID = "String should have between 1 and 50 characters"
EMBED_COLOR_RANGE = "Input should be between 0 and 16777215"
EMBED_TOO_MANY_FIELDS = "List should have at most 25 items"
EMBED_POLL_DATA = "Value error, Poll embeds must have 'poll' data"
EMBED_LINK_URL = "Value error, Link embeds must have 'url'"
EMBED_IMAGE = "Value error, Image embeds must have 'image'"
EMBED_TOTAL = "Value error, Embed total characters cannot exceed 6000"


def embed_invalid(index: int, loc: str, detail: str) -> str:
    return f"Embed {index}: 1 validation error for Embed\n{loc}\n  {detail}"


def embed_string_too_long(limit: int) -> str:
    return f"String should have at most {limit} characters"


def embed_integer_range(bound: int) -> str:
    return f"Input should be between -{bound} and {bound}"


def embed_type(types: tuple[str, ...]) -> str:
    return "Input should be " + ", ".join(f"'{t}'" for t in types)
