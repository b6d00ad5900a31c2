"""The size and nesting depth of a JSON value, as the shell will encode it, without encoding it
(the core may not import `json`).

The shell encodes with compact separators and without ASCII escaping (`server/hub.py encode`), so
a value's size is its UTF-8 bytes plus quotes, separators and the escapes JSON requires. The walk
is iterative: a value nested far deeper than Python's recursion limit is measured (and refused)
like any other, where `json.dumps` would raise `RecursionError` in the middle of a reply.
"""

from __future__ import annotations

import math
import re
from typing import Any

# characters JSON escapes: `"` and `\` take 2 bytes, \b \f \n \r \t 2, other controls 6 (\u00XX)
_ESCAPED = re.compile(r'["\\\x00-\x1f]')
_SHORT = frozenset('"\\\b\f\n\r\t')


class Unstorable(Exception):
    """The value cannot be stored: too deep, too large, or not JSON (NaN, infinity, other types)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def str_size(text: str) -> int:
    """Bytes of `text` as a JSON string, quotes included."""
    size = len(text.encode("utf-8", "surrogatepass")) + 2
    if _ESCAPED.search(text) is not None:
        for ch in _ESCAPED.findall(text):
            size += 1 if ch in _SHORT else 5
    return size


def json_size(value: Any, *, max_depth: int, limit: int | None = None) -> int:
    """Bytes of `value` encoded as compact UTF-8 JSON.

    Raises `Unstorable("depth")` when arrays/objects nest more than `max_depth` levels (a top-level
    object is level 1), `Unstorable("size")` as soon as the size passes `limit`, and
    `Unstorable("type")` for what JSON cannot carry (NaN, infinities, non-string keys, other types).
    Tuples count as arrays (records keep lists as tuples)."""
    total = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        v, depth = pop()
        if isinstance(v, str):
            total += str_size(v)
        elif v is None or v is True:
            total += 4
        elif v is False:
            total += 5
        elif isinstance(v, int):
            total += len(str(v))
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise Unstorable("type")
            total += len(repr(v))
        elif isinstance(v, dict):
            if depth > max_depth:
                raise Unstorable("depth")
            n = len(v)
            total += 2 + 2 * n - (1 if n else 0)  # braces, one colon each, commas between
            for k, item in v.items():
                if not isinstance(k, str):
                    raise Unstorable("type")
                total += str_size(k)
                push((item, depth + 1))
        elif isinstance(v, (list, tuple)):
            if depth > max_depth:
                raise Unstorable("depth")
            n = len(v)
            total += 2 + (n - 1 if n else 0)
            for item in v:
                push((item, depth + 1))
        else:
            raise Unstorable("type")
        if limit is not None and total > limit:
            raise Unstorable("size")
    return total
