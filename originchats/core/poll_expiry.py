"""The expiry of polls: the step the expiry timer (server/timers.py `poll_expiry`) runs when the
state's `poll_alarm` has passed, and the `poll_end` broadcast it shares with the `poll_end`
command (handlers/polls.py).

The step reads the open polls whose `expires_at` has passed (`ops.DuePolls`), ends them in storage
at their own `expires_at` (`PollsExpired`), announces each to the viewers of its channel after the
commit, and sets the alarm to the next expiry. A poll created while the read ran may have lowered
the alarm meanwhile: that lower alarm is kept, so the timer looks again.
"""

from __future__ import annotations

from functools import partial

import attrs

from . import packets
from .context import Context
from .effects import Fetch, Persist, Send, Step
from .ops import DuePolls
from .poll_records import PollRead
from .polls import channel_name, results
from .request import Request
from .state import ServerState
from .views import channel_viewers
from .writes import PollsExpired

#: Polls ended by one step; more due than this: the alarm stays due and the timer runs again.
EXPIRE_BATCH = 100


def end_broadcast(state: ServerState, read: PollRead, now: float) -> Send:
    """`poll_end` with the poll's results to every viewer of its channel (the caller included)."""
    poll = read.poll
    packet = packets.poll_end_broadcast(poll_id=poll.id, message_id=poll.message_id,
                                        channel=channel_name(state, poll), thread_id=poll.thread_id,
                                        results=results(state, read, now))
    return Send(channel_viewers(state, state.channel_by_id(poll.channel_id)), packet)


def expire_due(state: ServerState, ctx: Context) -> Step:
    return Step(state, (Fetch(DuePolls(ctx.now, EXPIRE_BATCH), partial(_due_read, fired=state.poll_alarm)),))


def _due_read(state: ServerState, ctx: Context, req: Request, result: tuple, *, fired: float | None) -> Step:
    due, following = result
    alarm = following
    current = state.poll_alarm
    if current is not None and current != fired:  # a poll created meanwhile lowered it
        alarm = current if alarm is None else min(alarm, current)
    if len(due) >= EXPIRE_BATCH:
        alarm = ctx.now
    state = attrs.evolve(state, poll_alarm=alarm)
    if not due:
        return Step(state)
    then = tuple(end_broadcast(state, read, ctx.now) for read in due
                 if state.channel_by_id(read.poll.channel_id) is not None
                 and read.poll.message_id not in state.deleted_messages)
    return Step(state, (Persist((PollsExpired(tuple(r.poll.id for r in due), ctx.now),), then),))
