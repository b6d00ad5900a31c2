"""Every name rule in one place: user names, channel names, role names, and the Unicode categories
no channel or role name may contain.

* **user names** (local accounts, `register` and `user_update` renames): 2-32 characters of ASCII
  letters, digits, `_` and `-` (no look-alike letters of other scripts). Local accounts are stored
  as `USR:local_<name>` in lower case (`model.CRACKED_PREFIX`).
* **channel names**: any text of 1-100 characters, not blank, without control characters or line
  and paragraph separators. A channel name is just a name (never a path).
* **role names**: the same as channel names, and not starting with `!` (a channel's `!role` entry
  denies that role).

Callers raise the error of their own command kind (`AuthError` in `register`, `ProtocolError`
elsewhere) with the texts in core/texts.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from . import texts
from .errors import ProtocolError
from .request import wrong_type

USERNAME_MIN, USERNAME_MAX = 2, 32
_USERNAME_CHARS = re.compile(r"[A-Za-z0-9_-]+")
MAX_CHANNEL_NAME = 100
MAX_ROLE_NAME = 100
#: Control characters, line and paragraph separators: they break every client's list layout.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


#: The author of the messages the server posts itself (the welcome message), as the original names
#: it (objects.md §3.2). It is no account: no Rotur answer and no rename may take it as id or name.
SYSTEM_AUTHOR = "originChats"


def is_system_name(value: str) -> bool:
    return value.casefold() == SYSTEM_AUTHOR.casefold()


def username_length_ok(name: str) -> bool:
    return USERNAME_MIN <= len(name) <= USERNAME_MAX


def username_chars_ok(name: str) -> bool:
    return _USERNAME_CHARS.fullmatch(name) is not None


def has_forbidden_chars(value: str) -> bool:
    return any(unicodedata.category(c) in FORBIDDEN_CATEGORIES for c in value)


def check_channel_name(value: Any) -> str:
    """A usable channel name, or the documented/clear error."""
    if value is None or value == "" or value is False:
        raise ProtocolError(texts.CHANNEL_NAME_REQUIRED)
    if not isinstance(value, str):
        raise wrong_type("name", "string", value)
    if not value.strip():
        raise ProtocolError(texts.CHANNEL_NAME_REQUIRED)
    if len(value) > MAX_CHANNEL_NAME:
        raise ProtocolError(texts.channel_name_too_long(MAX_CHANNEL_NAME))
    if has_forbidden_chars(value):
        raise ProtocolError(texts.CHANNEL_NAME_CHARACTERS)
    return value


def check_role_name(value: Any) -> str:
    if not isinstance(value, str):
        raise wrong_type("name", "string", value)
    if not value.strip():
        raise ProtocolError(texts.ROLE_NAME_REQUIRED)
    if len(value) > MAX_ROLE_NAME:
        raise ProtocolError(texts.role_name_too_long(MAX_ROLE_NAME))
    if value.startswith("!") or has_forbidden_chars(value):
        raise ProtocolError(texts.ROLE_NAME_CHARACTERS)
    return value
