"""Voice signalling (extended/voice.md): voice_join, voice_leave, voice_mute, voice_unmute,
voice_state, and the `voice_user_*` events. The server carries no audio: it keeps who is in which
voice channel with which peer id, and tells the right people.

The spec's flaws are fixed:
1. peer ids go only to the connections in the same voice channel (`voice_user_joined`/`updated`
   carry `peer_id` for them; other viewers get the same packet without it);
2. no internal user id is ever sent (participants are named by username);
3. a seat belongs to a connection, not a user: two devices of one user are two seats, and a
   closing connection leaves only its own seat (`left_on_close`, run by dispatch.disconnect),
   and a seat whose holder may no longer be there (channel deleted, `view` or `connect` lost,
   account banned or deleted) goes at once (core/voice_seats.py `reconcile`);
4. `connect` is needed to join, `speak` to be unmuted (without it one joins muted and stays so);
5. the state is in memory: after a restart no connection of before exists, so nobody is listed.
The ICE (STUN/TURN) servers of `[voice]` come in `voice_join`'s reply (`ice_servers`).
"""

from __future__ import annotations

from typing import Any

import attrs

from .. import packets, texts
from ..context import Context
from ..effects import Reply, Send, Step
from ..errors import ProtocolError
from ..model import Action, Channel, Perm, User
from ..permissions import channel_allows, has_perm
from ..push_records import VoiceSeat
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..views import channel_viewers
from ..voice_seats import left_audience
from .common import me


def _seats(state: ServerState, channel_id: str) -> list[tuple[int, VoiceSeat]]:
    return [(cid, seat) for cid, seat in state.voice.items() if seat.channel_id == channel_id]


def _who(state: ServerState, conn_id: int, seat: VoiceSeat, peer: bool) -> dict[str, Any]:
    conn = state.conns.get(conn_id)
    name = conn.username if conn is not None and conn.username else ""
    out: dict[str, Any] = {"username": name, "muted": seat.muted}
    if peer:
        out["peer_id"] = seat.peer_id
    return out


def voice_state_wire(state: ServerState, ch: Channel) -> list[dict[str, Any]]:
    """`channels_get`'s `voice_state` of a voice channel: who is in, without peer ids."""
    return [_who(state, cid, seat, False) for cid, seat in _seats(state, ch.id)]


def _announce(state: ServerState, ch: Channel, conn_id: int, seat: VoiceSeat, event: str) -> tuple[Send, ...]:
    """`voice_user_joined`/`updated` for `conn_id`'s seat: with the peer id to the channel's
    participants (the actor included), without it to the channel's other viewers."""
    inside = tuple(cid for cid, _ in _seats(state, ch.id))
    outside = tuple(cid for cid in channel_viewers(state, ch) if cid not in set(inside))
    build = packets.voice_user_joined if event == "joined" else packets.voice_user_updated
    out = [Send(inside, build(ch.name, _who(state, conn_id, seat, True)))]
    if outside:
        out.append(Send(outside, build(ch.name, _who(state, conn_id, seat, False))))
    return tuple(out)


def _leave(state: ServerState, conn_id: int, username: str,
           include_self: bool = True) -> tuple[ServerState, tuple[Send, ...], Channel | None]:
    """Take `conn_id` out of its voice channel: `voice_user_left` to the channel's viewers and
    the participants (the leaver included while it is connected)."""
    seat = state.voice.get(conn_id)
    if seat is None:
        return state, (), None
    ch = state.channel_by_id(seat.channel_id)
    audience = left_audience(state, seat.channel_id, ch)
    state = attrs.evolve(state, voice=state.voice.delete(conn_id))
    if ch is None:
        return state, (), None
    if include_self:
        audience.add(conn_id)
    else:
        audience.discard(conn_id)
    return state, (Send(tuple(sorted(audience)), packets.voice_user_left(ch.name, username)),), ch


def left_on_close(state: ServerState, conn_id: int, username: str) -> tuple[ServerState, tuple[Send, ...]]:
    """A connection is closing (dispatch.disconnect, before it is forgotten): its seat goes, and
    the channel's viewers and participants are told; the closing socket itself is not."""
    state, sends, _ = _leave(state, conn_id, username, include_self=False)
    return state, sends


def _voice_channel(state: ServerState, user: User, name: object) -> Channel:
    ch = state.channel(name)
    if ch is None or not channel_allows(ch, Action.VIEW, user.roles):
        raise ProtocolError(texts.VOICE_ACCESS_DENIED)
    if ch.type != "voice":
        raise ProtocolError(texts.NOT_A_VOICE_CHANNEL)
    return ch


@command("voice_join")
def handle_voice_join(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    vs = state.settings.voice
    peer_id, name = req.data.get("peer_id"), req.data.get("channel")
    if not peer_id:
        raise ProtocolError(texts.PEER_ID_REQUIRED)
    if not isinstance(peer_id, str) or len(peer_id) > vs.peer_id_max_length:
        raise ProtocolError(texts.peer_id_invalid(vs.peer_id_max_length))
    if not name or not isinstance(name, str):
        raise ProtocolError(texts.CHANNEL_NAME_REQUIRED)
    ch = _voice_channel(state, user, name)
    if not has_perm(state.roles, user, Perm.CONNECT):
        raise ProtocolError(texts.VOICE_CONNECT_DENIED)
    others = [(cid, seat) for cid, seat in _seats(state, ch.id) if cid != ctx.conn_id]
    if len(others) >= vs.max_participants:
        raise ProtocolError(texts.voice_full(vs.max_participants))
    username = state.conn(ctx.conn_id).username or user.username
    state, left, _ = _leave(state, ctx.conn_id, username)
    seat = VoiceSeat(ch.id, peer_id, muted=not has_perm(state.roles, user, Perm.SPEAK))
    state = attrs.evolve(state, voice=state.voice.set(ctx.conn_id, seat))
    joined = _announce(state, ch, ctx.conn_id, seat, "joined")
    participants = [_who(state, cid, s, True) for cid, s in others]
    reply = Reply(packets.voice_join(ch.name, participants, [dict(s) for s in vs.ice_servers]))
    return Step(state, (*left, *joined, reply))


def _my_seat(state: ServerState, ctx: Context) -> tuple[VoiceSeat, Channel]:
    seat = state.voice.get(ctx.conn_id)
    if seat is None:
        raise ProtocolError(texts.NOT_IN_VOICE)
    ch = state.channel_by_id(seat.channel_id)
    if ch is None:  # the channel was deleted meanwhile
        raise ProtocolError(texts.NOT_IN_VOICE)
    return seat, ch


@command("voice_leave")
def handle_voice_leave(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    seat, ch = _my_seat(state, ctx)
    state, left, _ = _leave(state, ctx.conn_id, state.conn(ctx.conn_id).username or user.username)
    return Step(state, (*left, Reply(packets.voice_leave(ch.name))))


def _set_muted(state: ServerState, ctx: Context, req: Request, muted: bool) -> Step:
    user = me(state, ctx)
    seat, ch = _my_seat(state, ctx)
    if not muted and not has_perm(state.roles, user, Perm.SPEAK):
        raise ProtocolError(texts.VOICE_SPEAK_DENIED)
    seat = attrs.evolve(seat, muted=muted)
    state = attrs.evolve(state, voice=state.voice.set(ctx.conn_id, seat))
    updated = _announce(state, ch, ctx.conn_id, seat, "updated")
    return Step(state, (*updated, Reply(packets.voice_mute(str(req.cmd), ch.name, muted))))


@command("voice_mute")
def handle_voice_mute(state: ServerState, ctx: Context, req: Request) -> Step:
    return _set_muted(state, ctx, req, True)


@command("voice_unmute")
def handle_voice_unmute(state: ServerState, ctx: Context, req: Request) -> Step:
    return _set_muted(state, ctx, req, False)


@command("voice_state")
def handle_voice_state(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    name = req.data.get("channel")
    if not name or not isinstance(name, str):
        raise ProtocolError(texts.CHANNEL_NAME_REQUIRED)
    ch = _voice_channel(state, user, name)
    mine = state.voice.get(ctx.conn_id)
    inside = mine is not None and mine.channel_id == ch.id
    return Step(state, (Reply(packets.voice_state(ch.name, [_who(state, cid, s, inside)
                                                            for cid, s in _seats(state, ch.id)])),))
