"""Texts about the request itself: frames that are not requests, unknown commands, fields of the
wrong type, what is too large to store, and the embed reports."""

from __future__ import annotations

# ---- frames that are not requests (protocol/codec.py) and the dispatcher ----------------------

INVALID_JSON = "Invalid JSON"
NOT_AN_OBJECT = "Invalid message format: expected a JSON object"
CMD_NOT_A_STRING = "Invalid field 'cmd': expected string"
FAILED_TO_SAVE = "Failed to save changes"
#: a cluster's gateway that cannot reach the core (Redis or the core away): the command was not run
SERVER_UNAVAILABLE = "Server unavailable, try again"


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

# ---- embeds (core/embeds.py): `Embed <i>: ` and a report in pydantic 2's layout and wording ----

EMBEDS_NOT_A_LIST = "Embeds must be an array"
TOO_MANY_EMBEDS = "Cannot have more than 10 embeds"
EMBED_FIELD_REQUIRED = "Field required"
EMBED_NOT_A_STRING = "Input should be a valid string"
EMBED_NOT_AN_INTEGER = "Input should be a valid integer"
EMBED_INTEGER_PARSING = "Input should be a valid integer, unable to parse string as an integer"
EMBED_INTEGER_FRACTION = "Input should be a valid integer, got a number with a fractional part"
EMBED_NOT_A_LIST = "Input should be a valid list"
EMBED_NOT_A_BOOLEAN = "Input should be a valid boolean"
EMBED_BOOLEAN_PARSING = "Input should be a valid boolean, unable to interpret input"
EMBED_NOT_A_NUMBER = "Input should be a valid number"
EMBED_NUMBER_PARSING = "Input should be a valid number, unable to parse string as a number"
EMBED_NOT_FINITE = "Input should be a finite number"
EMBED_STRING_TOO_SHORT = "String should have at least 1 character"
EMBED_POLL_DATA = "Value error, Poll embeds must have 'poll' data"
EMBED_LINK_URL = "Value error, Link embeds must have 'url'"
EMBED_IMAGE = "Value error, Image embeds must have 'image'"
EMBED_TOTAL = "Value error, Embed total characters cannot exceed 6000"


def embed_invalid(index: int, errors: list[tuple[str, str]]) -> str:
    """`Embed <i>: ` and the report: a count line, then each error's location (a line of its own,
    left out for the embed as a whole) and its message, indented."""
    count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} for Embed"
    lines = [count]
    for loc, detail in errors:
        if loc:
            lines.append(loc)
        lines.append(f"  {detail}")
    return f"Embed {index}: " + "\n".join(lines)


def embed_string_too_long(limit: int) -> str:
    return f"String should have at most {limit} characters"


def embed_integer_range(bound: int) -> str:
    return f"Input should be between -{bound} and {bound}"


def embed_at_least(bound: int) -> str:
    return f"Input should be greater than or equal to {bound}"


def embed_at_most(bound: int) -> str:
    return f"Input should be less than or equal to {bound}"


def embed_list_too_short(least: int, got: int) -> str:
    return f"List should have at least {least} items after validation, not {got}"


def embed_list_too_long(most: int, got: int) -> str:
    return f"List should have at most {most} items after validation, not {got}"


def embed_not_an_object(model: str) -> str:
    return f"Input should be a valid dictionary or instance of {model}"


def embed_type(types: tuple[str, ...]) -> str:
    quoted = [f"'{t}'" for t in types]
    return "Input should be " + ", ".join(quoted[:-1]) + " or " + quoted[-1]
