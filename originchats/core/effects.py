"""What a handler asks the shell to do. The shell runs a step's effects in order.

* `Reply(packet)`: to the caller; the shell adds the request's `listener`.
* `Send(conns, packet)`: the same packet to each connection in `conns` (encoded once). With
  `reply=True` the caller then gets it too, as its `Reply` (the shell reuses the text).
* `rejected` on a `Reply` (or a `Send` to the caller alone, for `auth_error`): this answer refuses
  the request, with that text. The shell counts and logs refusals (server/guard.py `Rejections`)
  without reading the packet; errors.py builds these effects, so a packet and its flag agree.
* `Persist(writes, then, failed, after)`: hand `writes` to the single writer, wait for the commit,
  then run `then`. A message becomes visible to others only through effects placed in `then`. If
  the commit fails, the step's state change is taken back (core/revert.py) and `failed` runs
  instead (empty: the caller gets `{"cmd":"error","src":<cmd>,"val":"Failed to save changes"}`).
  `after(state, ctx) -> Step`, when given, is a pure continuation run right after a successful
  commit, on the state of that moment (after `then`); its effects must be synchronous. A login
  uses it: the socket counts as logged in only once its account or session is stored.
* `Fetch(op, then)`: run `op` (a read, a password hash, an HTTP check — see `ops.py`) off the
  trio thread, then call `then(state, ctx, result)`, another pure function returning a `Step`.
  The continuation re-checks against the state current at that moment.
* `Close(conns, code, reason)`: close those connections (after anything queued for them).
* `ChannelsChanged(before, after)`: a committed change took the channel lists from `before` to
  `after`. The shell coalesces these per scheduler tick: once the tick's commits are done, each
  authenticated socket whose visible list differs between the tick's first `before` and its last
  `after` gets one `channels_get` push (`views.channel_pushes`), however many changes
  the tick saw. (`after`, not the state current then: that may hold changes not committed yet.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import attrs

from .ops import Op
from .state import ServerState
from .writes import Write


@attrs.frozen
class Reply:
    packet: dict[str, Any]
    rejected: str | None = None
    limited: bool = False  # a rate limiter refused the request (the `rate_limit` answer; /metrics counts it)


@attrs.frozen
class Send:
    conns: tuple[int, ...]
    packet: dict[str, Any]
    reply: bool = False
    rejected: str | None = None


@attrs.frozen
class Persist:
    writes: tuple[Write, ...]
    then: tuple[Effect, ...] = ()
    failed: tuple[Effect, ...] = ()
    after: Callable[..., Step] | None = None


@attrs.frozen
class Fetch:
    op: Op
    then: Callable[..., Step]


@attrs.frozen
class Close:
    conns: tuple[int, ...]
    code: int = 1000
    reason: str = ""


@attrs.frozen
class ChannelsChanged:
    before: ServerState
    after: ServerState


@attrs.frozen
class PushNotify:
    """A new message that may push (extended/push.md): who it pushes is `core/push.py`
    `push_items(state, this)`, which the shell works out after the broadcast, when the server is
    idle (server/push.py), with the state of that moment (who is offline then). Placed in a
    `Persist`'s `then` after the broadcast: nothing is pushed before the commit, and neither the
    choice of recipients nor a push service delays chat."""
    channel_id: str  # the channel (a thread's forum)
    message: Any  # core/model.py `Message`
    users: tuple[str, ...]  # the names it mentions
    roles: tuple[str, ...]  # the roles it mentions
    reply_user_id: str | None  # the replied-to author, when the reply pings


Effect = Union[Reply, Send, Persist, Fetch, Close, ChannelsChanged, PushNotify]


@attrs.frozen
class Step:
    state: ServerState
    effects: tuple[Effect, ...] = ()
