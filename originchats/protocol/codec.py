"""The one place JSON meets the protocol: text frame -> `Request`, packet -> text, and `listener`.

Decoding stops at "a JSON object with a string (or no) `cmd`": the handlers check their own fields
through the typed accessors of core/request.py, in the order the original server checked them. A
frame that is not even that raises `Undecodable`, which carries the error text the caller gets
(from the catalogue, core/texts/) and the reason the shell logs.

Encoding is compact (`,` and `:` without spaces), keeps non-ASCII characters as they are, and keeps
the packet's key order, since clients see all three. `listener`, when the request had one, is the
last key of the caller's reply; the caller's copy of a broadcast reuses the broadcast's text, with
`listener` spliced in, so a packet is encoded once whatever the number of receivers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..core import texts
from ..core.packets import SLOT, Spliced
from ..core.request import Request

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # what json.dumps builds per call
encode_json = _ENCODER.encode

# JSON may spell a lone UTF-16 surrogate (`"\ud800"`): Python decodes it into a str that cannot be
# encoded as UTF-8, stored in SQLite or sent to anyone. Only texts with such an escape are checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class Undecodable(Exception):
    """A frame that is not a request: answer `{"cmd":"error","val":val}` (with `listener` when the
    frame had a usable one) and log `reason` with `fields`."""

    def __init__(self, val: str, reason: str, *, listener: str | None = None, **fields: Any) -> None:
        super().__init__(val)
        self.val = val
        self.reason = reason
        self.listener = listener
        self.fields = fields


def decode(text: str) -> Request:
    """One text frame -> the `Request`, or `Undecodable`."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        raise Undecodable(texts.INVALID_JSON, "invalid_json", size=len(text)) from None
    if _SURROGATE_ESCAPE.search(text) is not None and _has_lone_surrogate(raw):
        raise Undecodable(texts.INVALID_JSON, "lone_surrogate", size=len(text))
    if not isinstance(raw, dict):
        raise Undecodable(texts.NOT_AN_OBJECT, "not_an_object")
    listener = raw.get("listener")
    listener = listener if isinstance(listener, str) else None
    cmd = raw.get("cmd")
    if cmd is not None and not isinstance(cmd, str):
        raise Undecodable(texts.CMD_NOT_A_STRING, "cmd_not_a_string", listener=listener)
    return Request(cmd=cmd, data=raw, listener=listener)


def operator_request(data: Mapping[str, Any]) -> Request:
    """An operator command from the admin socket (already parsed there): no `listener`."""
    cmd = data.get("cmd")
    return Request(cmd=cmd if isinstance(cmd, str) else None, data=data)


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def encode(packet: Mapping[str, Any]) -> str:
    """A packet as the wire carries it (one text frame)."""
    if type(packet) is Spliced:
        return _encode_spliced(packet)
    return encode_json(packet)


_last_split: tuple[object, str, str] | None = None  # (template, text before the slot, text after)


def _encode_spliced(packet: Spliced) -> str:
    """Byte for byte `encode_json(packet)`: the template's text (encoded once per template object)
    with the packet's value in place of the slot."""
    global _last_split
    split = _last_split
    if split is None or split[0] is not packet.template:
        text = encode_json(packet.template)
        slot = encode_json(SLOT)
        if text.count(slot) != 1:  # never for the core's templates; but never send a wrong packet
            return encode_json(packet)
        before, after = text.split(slot)
        split = _last_split = (packet.template, before, after)
    return f"{split[1]}{encode_json(packet.value)}{split[2]}"


def encode_reply(packet: Mapping[str, Any], listener: str | None) -> str:
    """The caller's reply: the packet with `listener` added as its last key, when there is one."""
    if listener is None:
        return encode_json(packet)
    return encode_json({**packet, "listener": listener})


def reply_from(text: str, packet: Mapping[str, Any], listener: str | None) -> str:
    """The caller's copy of a broadcast whose encoding is `text`: the same text with `listener`
    spliced in as the last key, byte for byte what `encode_reply(packet, listener)` gives."""
    if listener is None:
        return text
    if "listener" in packet:  # replaced in place, not appended: encode it again
        return encode_reply(packet, listener)
    return f"{text[:-1]},\"listener\":{encode_json(listener)}}}"
