"""Exceptions a handler raises to answer the caller with a documented error packet, and the effects
that carry such an answer (a refusal the shell can count without reading the packet).

Texts come from the catalogue (texts/); tests/test_texts.py rejects an inline one.
"""

from __future__ import annotations

from . import packets
from .effects import Reply, Send


class ProtocolError(Exception):
    """Answer `{"cmd":"error","src":<cmd>,"val":val}`; with `nosrc=True` the `src` key is left out.

    The dispatcher fills `src` with the request's `cmd`, as the original does for almost every error.
    """

    def __init__(self, val: str, *, nosrc: bool = False) -> None:
        super().__init__(val)
        self.val = val
        self.nosrc = nosrc

    def answer(self, cmd: str | None) -> Reply:
        """The caller's error reply to a request `cmd`."""
        return error_reply(self.val, None if self.nosrc else cmd)


class AuthError(Exception):
    """Answer `{"cmd":"auth_error","val":val}` (auth commands and the pre-auth gate)."""

    def __init__(self, val: str) -> None:
        super().__init__(val)
        self.val = val

    def answer(self, conn_id: int) -> Send:
        return auth_error_send(conn_id, self.val)


def error_reply(val: str, src: str | None) -> Reply:
    """An `error` reply to the caller (with its `listener`): a refusal."""
    return Reply(packets.error(val, src), rejected=val)


def auth_error_send(conn_id: int, val: str) -> Send:
    """An `auth_error` to the connection: a refusal, never with a `listener` (auth.md)."""
    return Send((conn_id,), packets.auth_error(val), rejected=val)
