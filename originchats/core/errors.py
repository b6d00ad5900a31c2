"""Exceptions a handler raises to answer the caller with a documented error packet."""

from __future__ import annotations


class ProtocolError(Exception):
    """Answer `{"cmd":"error","src":<cmd>,"val":val}`; with `nosrc=True` the `src` key is left out.

    The dispatcher fills `src` with the request's `cmd`, as the original does for almost every error.
    """

    def __init__(self, val: str, *, nosrc: bool = False) -> None:
        super().__init__(val)
        self.val = val
        self.nosrc = nosrc


class AuthError(Exception):
    """Answer `{"cmd":"auth_error","val":val}` (auth commands and the pre-auth gate)."""

    def __init__(self, val: str) -> None:
        super().__init__(val)
        self.val = val
