"""Where a message command acts: the channel, or the thread, that a request names.

Every command that takes `channel`/`thread_id` resolves them here. A truthy `thread_id` wins over
`channel` (core.md CTX). A thread id is looked up among the threads this server made: it is only
ever a key of `ServerState.threads`, never a file name, so `"../users"` is simply unknown
(extended/threads.md, flaw 1).

`resolve_target` answers only "which one": `Thread not found` / `Channel not found` /
`Channel or thread_id required`. `ctx_target` adds the rest of CTX for a thread: the locked and
archived refusals (except for reads and deletions, which work in any thread) and `view` on the
parent forum. A channel's own access rules (TEXT, `send`) stay with each command.
"""

from __future__ import annotations

import attrs

from . import texts
from .errors import ProtocolError
from .model import Action, Channel, Thread, User
from .permissions import channel_allows
from .state import ServerState


@attrs.frozen
class Target:
    """The channel a message command acts in and, for a thread, the thread (its parent is
    `channel`). Ops and packets take `channel.id` / `channel.name` and `thread_id`."""

    channel: Channel
    thread: Thread | None = None

    @property
    def thread_id(self) -> str | None:
        return self.thread.id if self.thread is not None else None


def find_thread(state: ServerState, thread_id: str | None) -> Target | None:
    """The thread with this id and its parent forum, or None."""
    thread = state.threads.get(thread_id) if thread_id else None
    if thread is None:
        return None
    parent = state.channel_by_id(thread.channel_id)
    return Target(parent, thread) if parent is not None else None


def resolve_target(state: ServerState, channel: str | None, thread_id: str | None) -> Target:
    """The channel or thread named by `channel` / `thread_id`, else the documented error."""
    if thread_id:
        target = find_thread(state, thread_id)
        if target is None:
            raise ProtocolError(texts.THREAD_NOT_FOUND)
        return target
    if channel:
        ch = state.channel(channel)
        if ch is None:
            raise ProtocolError(texts.CHANNEL_NOT_FOUND)
        return Target(ch)
    raise ProtocolError(texts.CHANNEL_OR_THREAD_REQUIRED)


def ctx_target(state: ServerState, user: User, channel: str | None, thread_id: str | None, *,
               closed_ok: bool = False) -> Target:
    """CTX: `resolve_target`, then for a thread `This thread is locked` / `This thread is archived`
    (unless `closed_ok`: reads and deletions) and `view` on its parent."""
    target = resolve_target(state, channel, thread_id)
    thread = target.thread
    if thread is not None:
        if not closed_ok:
            if thread.locked:
                raise ProtocolError(texts.THREAD_LOCKED)
            if thread.archived:
                raise ProtocolError(texts.THREAD_ARCHIVED)
        if not channel_allows(target.channel, Action.VIEW, user.roles):
            raise ProtocolError(texts.THREAD_VIEW_DENIED)
    return target
