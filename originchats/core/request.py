"""The decoded request and typed field accessors.

The original server validates fields inside each handler, with its own error text per field and a
fixed order of checks that clients observe. So decoding stops at "a JSON object with a string `cmd`"
and each handler pulls its fields through these accessors, which raise `ProtocolError` with the
documented text, or with a clear one where the original crashed and sent nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from . import texts
from .errors import ProtocolError



@attrs.frozen
class Request:
    """A decoded frame (protocol/codec.py): its `cmd`, the whole object as sent, and its
    `listener` (a string the caller's replies echo, or None)."""

    cmd: str | None
    data: Mapping[str, Any]
    listener: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.data


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def wrong_type(key: str, expected: str, value: object) -> ProtocolError:
    return ProtocolError(texts.wrong_type(key, expected, type_name(value)))


def opt_str(req: Request, key: str) -> str | None:
    """A string field that may be missing or null; anything else is a clear error."""
    value = req.data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise wrong_type(key, "string", value)


def required_str(req: Request, key: str, missing: str) -> str:
    """A string field that must be there: falsy (absent, null, "", 0, false, [], {}) is the
    documented `missing` text, any other non-string a clear type error."""
    value = req.data.get(key)
    if not value:
        raise ProtocolError(missing)
    if not isinstance(value, str):
        raise wrong_type(key, "string", value)
    return value


def opt_int(req: Request, key: str) -> int | None:
    value = req.data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(key, "integer", value)
    return value


def opt_bool(req: Request, key: str) -> bool | None:
    value = req.data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise wrong_type(key, "boolean", value)


def opt_obj(req: Request, key: str) -> dict | None:
    value = req.data.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise wrong_type(key, "object", value)


def opt_list(req: Request, key: str) -> list | None:
    value = req.data.get(key)
    if value is None or isinstance(value, list):
        return value
    raise wrong_type(key, "array", value)
