"""Who may keep a voice seat (extended/voice.md), and the one place that drops the seats that lost it.

A seat (core/push_records.py `VoiceSeat`, one per connection) stays only while all of this holds:
the connection is logged in; its account exists, is not deleted and not banned; the seat's channel
exists and is still a voice channel; the account may `view` that channel and has `connect`. These
are the checks of `voice_join`, so a seat is never kept where it could not be taken. A channel is
named by id in the seat, so a rename keeps everyone in the call (the events carry the new name).
A timeout (`user_timeout`, `/mute`) does not end a seat: it only holds back messages (core.md).

`reconcile(before, step)` runs after every command (core/dispatch.py `run_guarded` and `operator`,
so continuations and the admin socket too). It does nothing unless the step changed the channels,
the roles or the users while somebody sits in a voice channel. Each dropped seat then gets the
`voice_user_left` a `voice_leave` gives, to the same people: the channel's viewers (before and
after the change: both saw the seat) and its participants, the leaver included. The sends run after
the step's commit (first in its last `Persist`'s `then`), so a change that fails to save, and is taken back with
the seats (core/revert.py), has told nobody.
"""

from __future__ import annotations

import attrs

from . import packets
from .effects import Effect, Persist, Send, Step
from .model import Action, Channel, Perm
from .permissions import channel_allows, has_perm
from .push_records import VoiceSeat
from .state import ServerState
from .views import channel_viewers


def seat_allowed(state: ServerState, conn_id: int, seat: VoiceSeat) -> bool:
    """May `conn_id` keep `seat` in `state`? (See the module docstring.)"""
    conn = state.conns.get(conn_id)
    if conn is None or conn.user_id is None:
        return False
    user = state.users.get(conn.user_id)
    if user is None or user.deleted or user.banned:
        return False
    ch = state.channel_by_id(seat.channel_id)
    return (ch is not None and ch.type == "voice" and channel_allows(ch, Action.VIEW, user.roles)
            and has_perm(state.roles, user, Perm.CONNECT))


def participants(state: ServerState, channel_id: str) -> tuple[int, ...]:
    return tuple(cid for cid, seat in state.voice.items() if seat.channel_id == channel_id)


def left_audience(state: ServerState, channel_id: str, *channels: Channel | None) -> set[int]:
    """Who hears of a leave from `channel_id`: the viewers of each of `channels` (its versions)
    and the channel's participants, judged on `state` before the seat goes."""
    audience: set[int] = set(participants(state, channel_id))
    for ch in channels:
        if ch is not None:
            audience.update(channel_viewers(state, ch))
    return audience


def _username(state: ServerState, conn_id: int) -> str:
    conn = state.conns.get(conn_id)
    if conn is None:
        return ""
    user = state.users.get(conn.user_id or "")
    return conn.username or (user.username if user is not None else "")


def reconcile(before: ServerState, step: Step) -> Step:
    """`step` without the seats its change of access ended, and with their `voice_user_left`."""
    after = step.state
    if not after.voice or (before.channels is after.channels and before.roles is after.roles
                           and before.users is after.users):
        return step
    gone = [(cid, seat) for cid, seat in after.voice.items() if not seat_allowed(after, cid, seat)]
    if not gone:
        return step
    channel_ids = list(dict.fromkeys(seat.channel_id for _, seat in gone))
    audiences = {}
    for channel_id in channel_ids:
        old, new = before.channel_by_id(channel_id), after.channel_by_id(channel_id)
        audience = left_audience(after, channel_id, new) | left_audience(before, channel_id, old)
        audiences[channel_id] = audience
    voice = after.voice
    for cid, _ in gone:
        voice = voice.delete(cid)
    state = attrs.evolve(after, voice=voice)
    sends: list[Send] = []
    for cid, seat in gone:
        ch = after.channel_by_id(seat.channel_id) or before.channel_by_id(seat.channel_id)
        if ch is None:  # made and removed within the step: nobody saw it
            continue
        to = tuple(sorted(c for c in audiences[seat.channel_id] if c in state.conns))
        if to:
            sends.append(Send(to, packets.voice_user_left(ch.name, _username(after, cid))))
    return Step(state, _placed(step.effects, tuple(sends)))


def _placed(effects: tuple[Effect, ...], sends: tuple[Send, ...]) -> tuple[Effect, ...]:
    """`effects` with `sends` first in the last `Persist`'s `then` (first of all when nothing is
    saved): the seats go, then the command answers (a banned leaver hears before its `disconnect`)."""
    last = max((i for i, e in enumerate(effects) if isinstance(e, Persist)), default=None)
    if last is None:
        return (*sends, *effects)
    persist = effects[last]
    assert isinstance(persist, Persist)
    return (*effects[:last], attrs.evolve(persist, then=(*sends, *persist.then)), *effects[last + 1:])
