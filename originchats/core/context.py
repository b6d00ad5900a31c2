"""What the shell hands to a handler besides state and request: who asks, when, and fresh ids."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class Context:
    conn_id: int
    now: float  # Unix seconds, read by the shell
    new_id: str  # a fresh UUID v4 string made by the shell, for whatever this command creates
    new_token: str = ""  # a fresh url-safe secret (session tokens, validator keys)
