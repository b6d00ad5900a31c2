"""Forum threads: thread_create, thread_get, thread_messages, thread_update, thread_delete,
thread_join, thread_leave (extended/threads.md). Messages inside a thread go through the message
commands with `thread_id` (core/targets.py, handlers/messages.py, history.py, reactions.py).

Fixed relative to the original (docs/compatibility.md, "Threads"):

* Thread ids are made by the server and only looked up among its threads, never used as file names
  (flaw 1: `"../users"` read, broadcast or deleted arbitrary JSON files). Any other id is
  `Thread not found`.
* Records keep user ids; the wire form is built for each packet (flaw 2: `channels_get` rewrote
  the records with usernames, after which the creator could no longer manage the thread).
* `thread_update`, `thread_join` and `thread_leave` go to the viewers of the parent forum (and
  the caller), not to everyone (flaw 3); so does the `thread_update` that announces a thread
  revived by a new message (flaw 4).
* Deleting a thread deletes its messages and their reactions in the same transaction, and every
  feature's rows that hang on those messages (flaw 6).
* `channels_get` lists a forum's threads from an index kept in memory (flaw 8).
* Thread names are at most `limits.thread_name_length` characters, a thread has at most
  `limits.thread_participants` participants, and all threads together take at most
  `limits.thread_list_bytes` of a `channels_get`. The commands that change a thread spend the
  broadcast bucket (each is sent to every viewer of the forum). Wrong field types get an error
  instead of a crash.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs

from .. import packets, texts
from ..context import Context
from ..effects import Fetch, Persist, Reply, Step
from ..errors import ProtocolError
from ..model import Action, Message, Perm, Thread, User
from ..ops import History, HistoryBefore
from ..permissions import channel_allows, has_perm
from ..registry import command
from ..request import Request, opt_int, required_str, wrong_type
from ..state import ServerState
from ..targets import Target, find_thread
from ..threadsize import name_bytes
from ..views import thread_wire
from ..writes import ThreadDeleted, ThreadSaved
from .common import me, rate_check, require_roles
from .message_rules import HISTORY_CAP, MAX_OFFSET, global_packet, visible

DEFAULT_PAGE = 100  # thread_messages without a limit (or with 0/null)

# ---- shared checks ----------------------------------------------------------------------------


def thread_access(state: ServerState, req: Request, user: User, *, view: bool) -> Target:
    """TACCESS (conventions.md §7): the thread, then the caller's roles, then (when `view`) `view`
    on the parent forum. Locked and archived threads pass."""
    target = find_thread(state, required_str(req, "thread_id", texts.THREAD_ID_REQUIRED))
    if target is None:
        raise ProtocolError(texts.THREAD_NOT_FOUND)
    require_roles(user)
    if view and not channel_allows(target.channel, Action.VIEW, user.roles):
        raise ProtocolError(texts.THREAD_VIEW_DENIED)
    return target


def may_modify(state: ServerState, user: User, thread: Thread) -> bool:
    """The creator, or a holder of `manage_threads` (owners and administrators hold it)."""
    return thread.created_by == user.id or has_perm(state.roles, user, Perm.MANAGE_THREADS)


def thread_name(state: ServerState, value: Any) -> str:
    """A name as stored: trimmed, not empty, at most `limits.thread_name_length` characters."""
    if not isinstance(value, str):
        raise wrong_type("name", "string", value)
    name = value.strip()
    if not name:
        raise ProtocolError(texts.THREAD_NAME_EMPTY)
    limit = state.settings.content.thread_name_length
    if len(name) > limit:
        raise ProtocolError(texts.thread_name_too_long(limit))
    return name


def list_bytes(state: ServerState) -> int:
    """The most bytes the threads of every forum take in a `channels_get` (core/threadsize.py)."""
    total = state.threads.listing_bytes
    for channel_id, count in state.threads.per_channel():
        parent = state.channel_by_id(channel_id)
        if parent is not None:
            total += count * name_bytes(parent.name)
    return total


def with_room(state: ServerState, thread: Thread) -> ServerState:
    """The state with `thread` saved; refused when that grows the thread list past
    `limits.thread_list_bytes` (a change that shrinks it always passes)."""
    after = state.with_thread(thread)
    limit = state.settings.content.thread_list_bytes
    if after.threads.listing_bytes > state.threads.listing_bytes and list_bytes(after) > limit:
        raise ProtocolError(texts.thread_list_full(limit))
    return after


def _announce(state: ServerState, ctx: Context, before: ServerState, user: User, ch: Any, packet: dict[str, Any],
              writes: tuple) -> Step:
    """Spend a slot of the caller's broadcast bucket (on `before`, the state the checks ran on),
    then send `packet` to the forum's viewers and the caller, after `writes` are stored."""
    spent, refusal = rate_check(before, ctx, user, broadcast=True)
    if refusal is not None:
        return Step(spent, (refusal,))
    state = attrs.evolve(state, broadcast_limits=spent.broadcast_limits)
    sends = global_packet(state, ctx, ch, packet)
    if not writes:
        return Step(state, sends)
    return Step(state, (Persist(writes, sends),))


# ---- thread_create ----------------------------------------------------------------------------


@command("thread_create")
def handle_thread_create(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    channel, name = req.get("channel"), req.get("name")
    if not channel or not name:
        raise ProtocolError(texts.THREAD_FIELDS_REQUIRED)
    if not isinstance(channel, str):
        raise wrong_type("channel", "string", channel)
    if not isinstance(name, str):
        raise wrong_type("name", "string", name)
    require_roles(user)
    ch = state.channel(channel)
    if ch is None:
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    if ch.type != "forum":
        raise ProtocolError(texts.THREADS_FORUM_ONLY)
    if not channel_allows(ch, Action.CREATE_THREAD, user.roles):
        raise ProtocolError(texts.THREAD_CREATE_DENIED)
    thread = Thread(id=ctx.new_id, channel_id=ch.id, name=thread_name(state, name), created_by=user.id,
                    created_at=ctx.now, participants=(user.id,))
    after = with_room(state, thread)
    packet = packets.thread_create(thread_wire(after, thread), ch.name)
    return _announce(after, ctx, state, user, ch, packet, (ThreadSaved(thread),))


# ---- reading ----------------------------------------------------------------------------------


@command("thread_get")
def handle_thread_get(state: ServerState, ctx: Context, req: Request) -> Step:
    target = thread_access(state, req, me(state, ctx), view=True)
    return Step(state, (Reply(packets.thread_get(thread_wire(state, target.thread))),))  # type: ignore[arg-type]


def _page_size(req: Request) -> int:
    raw = req.get("limit")
    if raw is None or raw is False or (isinstance(raw, int) and not isinstance(raw, bool) and raw == 0):
        return DEFAULT_PAGE
    limit = opt_int(req, "limit") or 0
    return min(limit, HISTORY_CAP)


@command("thread_messages")
def handle_thread_messages(state: ServerState, ctx: Context, req: Request) -> Step:
    target = thread_access(state, req, me(state, ctx), view=True)
    ch, tid = target.channel, target.thread_id or ""
    start = req.get("start")
    if start is not None and (isinstance(start, bool) or not isinstance(start, (int, str))):
        raise wrong_type("start", "integer or string", start)
    limit = _page_size(req)
    reply = partial(_page_read, thread_id=tid)
    if isinstance(start, str):  # a message id: the page ends just before it
        if limit < 0:
            return reply(state, ctx, req, [])
        return Step(state, (Fetch(HistoryBefore(ch.id, start, limit, tid), reply),))
    skip = max(start or 0, 0)
    if limit < 0 or skip > MAX_OFFSET:
        return reply(state, ctx, req, [])
    return Step(state, (Fetch(History(ch.id, skip, limit, tid), reply),))


def _page_read(state: ServerState, ctx: Context, req: Request, messages: list[Message], *, thread_id: str) -> Step:
    return Step(state, (Reply(packets.thread_messages(thread_id, visible(state, messages))),))


# ---- changing a thread ------------------------------------------------------------------------


def _modifiable_thread(state: ServerState, ctx: Context, req: Request) -> tuple[User, Target, Thread]:
    """The caller, the target and its thread, for a change that only the thread's creator or a
    holder of `manage_threads` may make (thread_update, thread_delete)."""
    user = me(state, ctx)
    target = thread_access(state, req, user, view=False)
    thread = target.thread
    assert thread is not None  # thread_access found it
    if not may_modify(state, user, thread):
        raise ProtocolError(texts.THREAD_MODIFY_DENIED)
    return user, target, thread


@command("thread_update")
def handle_thread_update(state: ServerState, ctx: Context, req: Request) -> Step:
    user, target, thread = _modifiable_thread(state, ctx, req)
    changes: dict[str, Any] = {}
    if req.get("name") is not None:
        changes["name"] = thread_name(state, req.get("name"))
    if req.has("locked") and has_perm(state.roles, user, Perm.MANAGE_THREADS):  # creators cannot lock
        changes["locked"] = bool(req.get("locked"))
    if req.has("archived"):
        changes["archived"] = bool(req.get("archived"))
    updated = attrs.evolve(thread, **changes)
    if updated == thread:  # nothing changed: still answered and announced, nothing stored
        return _announce(state, ctx, state, user, target.channel, packets.thread_update(thread_wire(state, thread)), ())
    after = with_room(state, updated)
    packet = packets.thread_update(thread_wire(after, updated))
    return _announce(after, ctx, state, user, target.channel, packet, (ThreadSaved(updated),))


@command("thread_delete")
def handle_thread_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    user, target, thread = _modifiable_thread(state, ctx, req)
    # gone from memory at once: reads of its messages still in flight find nothing (message_rules.not_deleted)
    after = state.without_thread(thread.id)
    packet = packets.thread_delete(thread.id, target.channel.name)
    return _announce(after, ctx, state, user, target.channel, packet, (ThreadDeleted(target.channel.id, thread.id),))


@command("thread_join")
def handle_thread_join(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    target = thread_access(state, req, user, view=True)
    thread = target.thread
    assert thread is not None
    if thread.locked:
        raise ProtocolError(texts.THREAD_LOCKED)
    writes: tuple = ()
    after = state
    if user.id not in thread.participants:  # joining twice changes nothing, and is still announced
        limit = state.settings.content.thread_participants
        if len(thread.participants) >= limit:
            raise ProtocolError(texts.thread_participants_full(limit))
        thread = attrs.evolve(thread, participants=(*thread.participants, user.id))
        after = with_room(state, thread)
        writes = (ThreadSaved(thread),)
    packet = packets.thread_join(thread_wire(after, thread), thread.id, user.username)
    return _announce(after, ctx, state, user, target.channel, packet, writes)


@command("thread_leave")
def handle_thread_leave(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    target = thread_access(state, req, user, view=False)
    thread = target.thread
    assert thread is not None
    writes: tuple = ()
    after = state
    # the creator always stays listed; leaving a thread one is not in changes nothing
    if user.id != thread.created_by and user.id in thread.participants:
        thread = attrs.evolve(thread, participants=tuple(p for p in thread.participants if p != user.id))
        after = state.with_thread(thread)
        writes = (ThreadSaved(thread),)
    packet = packets.thread_leave(thread_wire(after, thread), thread.id, user.username)
    return _announce(after, ctx, state, user, target.channel, packet, writes)
