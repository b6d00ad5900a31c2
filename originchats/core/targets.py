"""Where a message command acts: the channel, or (with threads) the thread, that a request names.

Every command that takes `channel`/`thread_id` resolves them here, so threads will touch this one
function: today no thread exists, so any thread id is unknown (`Thread not found`), checked before
the channel as core.md's CTX does.
"""

from __future__ import annotations

from . import texts
from .errors import ProtocolError
from .model import Channel
from .state import ServerState


def resolve_target(state: ServerState, channel: str | None, thread_id: str | None) -> Channel:
    """The channel named by `channel` / `thread_id`, else the documented error."""
    if thread_id:
        raise ProtocolError(texts.THREAD_NOT_FOUND)
    if channel:
        ch = state.channel(channel)
        if ch is None:
            raise ProtocolError(texts.CHANNEL_NOT_FOUND)
        return ch
    raise ProtocolError(texts.CHANNEL_OR_THREAD_REQUIRED)
