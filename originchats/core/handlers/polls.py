"""Polls: poll_create, poll_vote, poll_end, poll_results, poll_get (extended/polls.md). The rules
on a poll (options, expiry, the results object) are in core/polls.py; the expiry timer's step and
the `poll_end` broadcast in core/poll_expiry.py.

Fixed relative to the original (docs/compatibility.md, "Polls"): voters stay hidden while a poll
is open, in every packet, and are usernames once it is closed; thread polls reach the thread's
channel; questions and options have length limits, option ids must differ, polls go only into
text channels, and poll_create takes a message rate-limit slot (poll_vote one of the broadcast
bucket); a vote is all or nothing, and can be taken back (`remove: true`); an expired poll is
ended and announced; deleting the poll's message deletes the poll.

A poll lives in SQLite, so every command but poll_create first reads it (`ReadPoll`); a vote or an
end is written only while the poll is still open at the command's time (the SQL checks it), and
the results each announces are read after its commit.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs

from .. import packets, texts
from ..budget import check_message
from ..context import Context
from ..effects import Fetch, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import Action, Message, Perm, User
from ..ops import ReadPoll
from ..permissions import channel_allows
from ..poll_expiry import end_broadcast
from ..poll_records import Poll, PollRead
from ..polls import (MAX_OPTIONS, MIN_OPTIONS, channel_name, closed, closed_error, embed, ended_at,
                     expiry, normalize_options, results, second_id)
from ..registry import command
from ..request import Request, opt_bool, opt_str, wrong_type
from ..state import ServerState
from ..targets import resolve_target
from ..views import channel_viewers, message_wire
from ..writes import MessageCreated, PollCreated, PollEnded, PollVoted
from .common import me, rate_check, require_perm
from .message_rules import limited

# ---- poll_create ------------------------------------------------------------------------------


@command("poll_create")
def handle_poll_create(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, Perm.SEND_MESSAGES)
    channel, thread_id = opt_str(req, "channel"), opt_str(req, "thread_id")
    if not channel and not thread_id:
        raise ProtocolError(texts.POLL_TARGET_REQUIRED)
    question = req.get("question")
    if not question:
        raise ProtocolError(texts.QUESTION_REQUIRED)
    if not isinstance(question, str):
        raise wrong_type("question", "string", question)
    limits = state.settings.polls
    if len(question) > limits.question_length:
        raise ProtocolError(texts.question_too_long(limits.question_length))
    raw = req.get("options")
    if raw and not isinstance(raw, list):
        raise wrong_type("options", "array", raw)
    if not raw or len(raw) < MIN_OPTIONS:
        raise ProtocolError(texts.POLL_TOO_FEW_OPTIONS)
    if len(raw) > MAX_OPTIONS:
        raise ProtocolError(texts.POLL_TOO_MANY_OPTIONS)
    options = normalize_options(raw, limits, state.settings.content)
    multi = bool(opt_bool(req, "allow_multiselect"))
    expires_at = expiry(req.get("expires_at"), req.get("duration_hours"), ctx.now)
    poll = Poll(id=second_id(ctx), message_id=ctx.new_id, channel_id="", thread_id=thread_id or None,
                question=question, options=options, allow_multiselect=multi, expires_at=expires_at,
                created_by=user.id, created_at=ctx.now)
    return limited(state, ctx, req, user, partial(_create_allowed, ctx=ctx, user=user, poll=poll, channel=channel))


def _create_allowed(state: ServerState, *, ctx: Context, user: User, poll: Poll, channel: str | None) -> Step:
    target = resolve_target(state, channel, poll.thread_id)
    ch = target.channel
    if not channel_allows(ch, Action.SEND, user.roles):
        raise ProtocolError(texts.SEND_DENIED_THREAD if target.thread is not None else texts.SEND_DENIED)
    if target.thread is None and ch.type != "text":
        raise ProtocolError(texts.CHANNEL_TYPE_CANNOT_SEND)
    if target.thread is not None:  # a poll is a message of the thread: closed threads take none
        if target.thread.locked:
            raise ProtocolError(texts.THREAD_LOCKED)
        if target.thread.archived:
            raise ProtocolError(texts.THREAD_ARCHIVED)
        state = state.with_thread(attrs.evolve(target.thread, last_message=ctx.now, last_message_id=poll.message_id))
    poll = attrs.evolve(poll, channel_id=ch.id)
    message = Message(id=poll.message_id, channel_id=ch.id, thread_id=poll.thread_id, user_id=user.id, content="",
                      timestamp=ctx.now, embeds=[embed(poll)])
    check_message(message, state.settings.content)
    if poll.expires_at is not None:
        alarm = state.poll_alarm
        state = attrs.evolve(state, poll_alarm=poll.expires_at if alarm is None else min(alarm, poll.expires_at))
    announce = packets.poll_message_new(message=message_wire(state, message), channel=ch.name,
                                        thread_id=poll.thread_id, poll_id=poll.id)
    reply = packets.poll_create(poll_id=poll.id, message_id=message.id, channel=ch.name, thread_id=poll.thread_id,
                                question=poll.question, options=[dict(o) for o in poll.options],
                                allow_multiselect=poll.allow_multiselect, expires_at=poll.expires_at)
    return Step(state, (Persist((MessageCreated(message), PollCreated(poll)),
                                (Send(channel_viewers(state, ch), announce), Reply(reply))),))



# ---- finding a poll ---------------------------------------------------------------------------


def _ref(req: Request) -> tuple[str | None, str | None]:
    """(poll id, message id): `poll_id` wins over `message_id`."""
    poll_id, message_id = opt_str(req, "poll_id"), opt_str(req, "message_id")
    if not poll_id and not message_id:
        raise ProtocolError(texts.POLL_REF_REQUIRED)
    return (poll_id, None) if poll_id else (None, message_id)


def _read(state: ServerState, ctx: Context, req: Request, then: Any) -> Step:
    poll_id, message_id = _ref(req)
    return Step(state, (Fetch(ReadPoll(poll_id, message_id, me(state, ctx).id, ctx.now), then),))


def _found(state: ServerState, read: PollRead | None) -> PollRead:
    """The poll as read, unless it is gone (its message deleted meanwhile, or its channel)."""
    if (read is None or read.poll.message_id in state.deleted_messages
            or state.channel_by_id(read.poll.channel_id) is None):
        raise ProtocolError(texts.POLL_NOT_FOUND)
    return read


def _require_view(state: ServerState, poll: Poll, user: User) -> None:
    """`view` on the poll's channel (for a thread poll: the thread's channel)."""
    if not channel_allows(state.channel_by_id(poll.channel_id), Action.VIEW, user.roles):
        raise ProtocolError(texts.POLL_VIEW_DENIED)


# ---- poll_vote --------------------------------------------------------------------------------


@command("poll_vote")
def handle_poll_vote(state: ServerState, ctx: Context, req: Request) -> Step:
    _ref(req)
    state, refusal = rate_check(state, ctx, me(state, ctx), broadcast=True)
    if refusal is not None:
        return Step(state, (refusal,))
    return _read(state, ctx, req, _vote_read)


def _option_ids(req: Request) -> list[Any]:
    value = req.get("option_ids") or req.get("option_id")
    if isinstance(value, str):
        value = [value]
    if not value or not isinstance(value, list):
        raise ProtocolError(texts.POLL_OPTIONS_REQUIRED)
    return value


def _vote_read(state: ServerState, ctx: Context, req: Request, read: PollRead | None) -> Step:
    poll = _found(state, read).poll
    sent = _option_ids(req)
    user = me(state, ctx)
    _require_view(state, poll, user)
    remove = bool(opt_bool(req, "remove"))
    known = {o["id"] for o in poll.options}
    refused = closed_error(poll, ctx.now)
    for option_id in sent:  # all or nothing: every option is checked before anything is stored
        if refused is not None:
            raise ProtocolError(refused)
        if not isinstance(option_id, str) or option_id not in known:
            raise ProtocolError(texts.invalid_option(option_id))
    chosen = tuple(dict.fromkeys(sent))
    exclusive = not remove and not poll.allow_multiselect
    if exclusive:
        chosen = chosen[-1:]  # single-select: the last one listed wins, as when applied one by one
    vote = PollVoted(poll_id=poll.id, user_id=user.id, option_ids=chosen, at=ctx.now, exclusive=exclusive,
                     remove=remove)
    reread = Fetch(ReadPoll(poll.id, None, user.id, ctx.now), partial(_voted, vote=vote, sent=sent))
    return Step(state, (Persist((vote,), (reread,)),))


def _voted(state: ServerState, ctx: Context, req: Request, read: PollRead | None, *, vote: PollVoted,
           sent: list[str]) -> Step:
    read = _found(state, read)
    poll = read.poll
    mine = set(read.user_votes)
    took = not mine & set(vote.option_ids) if vote.remove else set(vote.option_ids) <= mine
    refused = closed_error(poll, ctx.now)
    if not took and refused is not None:  # the poll ended or expired before the vote was stored
        raise ProtocolError(refused)
    user = me(state, ctx)
    shown = results(state, read, ctx.now)
    common = {"poll_id": poll.id, "message_id": poll.message_id, "channel": channel_name(state, poll),
              "thread_id": poll.thread_id, "results": shown}
    others = channel_viewers(state, state.channel_by_id(poll.channel_id), exclude=ctx.conn_id)
    return Step(state, (
        Send(others, packets.poll_vote_update(user=None, option_ids=[], **common)),
        Send((ctx.conn_id,), packets.poll_vote_update(user=user.username, option_ids=sent, **common)),
        Reply(packets.poll_vote(poll.id, sent, shown)),
    ))


# ---- poll_end ---------------------------------------------------------------------------------


@command("poll_end")
def handle_poll_end(state: ServerState, ctx: Context, req: Request) -> Step:
    return _read(state, ctx, req, _end_read)


def _end_read(state: ServerState, ctx: Context, req: Request, read: PollRead | None) -> Step:
    poll = _found(state, read).poll
    if closed(poll, ctx.now):
        raise ProtocolError(texts.POLL_ALREADY_ENDED)
    user = me(state, ctx)
    if poll.created_by != user.id:
        require_perm(state, user, Perm.MANAGE_MESSAGES)
    _require_view(state, poll, user)  # the original let a creator who lost access end it and see its voters
    reread = Fetch(ReadPoll(poll.id, None, user.id, ctx.now), _ended)
    return Step(state, (Persist((PollEnded(poll.id, ctx.now),), (reread,)),))


def _ended(state: ServerState, ctx: Context, req: Request, read: PollRead | None) -> Step:
    read = _found(state, read)
    poll = read.poll
    if not (poll.ended and poll.ended_at == ctx.now):  # someone else ended it first, or it expired
        raise ProtocolError(texts.POLL_ALREADY_ENDED)
    reply = packets.poll_end(poll.id, results(state, read, ctx.now))
    return Step(state, (end_broadcast(state, read, ctx.now), Reply(reply)))


# ---- poll_results, poll_get -------------------------------------------------------------------


@command("poll_results")
def handle_poll_results(state: ServerState, ctx: Context, req: Request) -> Step:
    return _read(state, ctx, req, _results_read)


def _results_read(state: ServerState, ctx: Context, req: Request, read: PollRead | None) -> Step:
    read = _found(state, read)
    _require_view(state, read.poll, me(state, ctx))
    shown = results(state, read, ctx.now, voted=True)
    return Step(state, (Reply(packets.poll_results(read.poll.id, read.poll.message_id, shown)),))


@command("poll_get")
def handle_poll_get(state: ServerState, ctx: Context, req: Request) -> Step:
    return _read(state, ctx, req, _get_read)


def _get_read(state: ServerState, ctx: Context, req: Request, read: PollRead | None) -> Step:
    read = _found(state, read)
    poll = read.poll
    _require_view(state, poll, me(state, ctx))
    return Step(state, (Reply(packets.poll_get({
        "id": poll.id, "message_id": poll.message_id, "channel": channel_name(state, poll),
        "thread_id": poll.thread_id, "question": poll.question, "options": [dict(o) for o in poll.options],
        "allow_multiselect": poll.allow_multiselect, "expires_at": poll.expires_at,
        "created_by": state.username_of(poll.created_by), "created_at": poll.created_at,
        "ended": closed(poll, ctx.now), "ended_at": ended_at(poll, ctx.now), "user_votes": list(read.user_votes),
    })),))
