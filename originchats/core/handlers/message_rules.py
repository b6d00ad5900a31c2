"""What the message commands share: the CTX resolution and text-channel access, mentions, the
race guards against stale reads, the rate-limited step and the global packet.

History lives in SQLite, so handlers that need a stored message validate what they can, then
return a `Fetch`; the continuation re-checks against the state current when the read completes.
A new message, edit, delete or reaction is broadcast only in the `then` of its `Persist`, that is
after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


from .. import texts
from ..context import Context
from ..effects import Send, Step
from ..errors import ProtocolError
from ..model import Action, Channel, Message, Perm, Thread, User
from ..permissions import channel_allows, has_perm, is_owner
from ..request import Request, opt_str
from ..state import ServerState
from ..mention_targets import ROLE_MENTION, mentioned_users
from ..targets import Target, ctx_target
from ..views import channel_viewers, message_wire
from .common import rate_check

EVERYONE_ROLE = "user"  # the role every member holds: mentioning it needs `mention_everyone`
HISTORY_CAP = 200  # most messages one messages_get returns
AROUND_CAP = 200  # most messages on each side of messages_around
MAX_OFFSET = 2**62  # a `start` beyond any history (SQLite integers are 64-bit)
RECENT_SECONDS = 60.0  # how long decisions are remembered against stale reads (reads take ms)


# ---- shared checks ----------------------------------------------------------------------------


def ctx_channel(state: ServerState, req: Request, user: User, *, closed_ok: bool = False) -> Target:
    """CTX: the request's `thread_id`, then `channel`; for a thread, locked/archived (unless
    `closed_ok`) and `view` on its parent (core/targets.py)."""
    thread_id = opt_str(req, "thread_id")
    return ctx_target(state, user, opt_str(req, "channel"), thread_id, closed_ok=closed_ok)


def text_access(user: User, ch: Channel) -> None:
    """TEXT: viewable by the user and of type text; errors without `src`."""
    if ch.type != "text" or not channel_allows(ch, Action.VIEW, user.roles):
        raise ProtocolError(texts.CHANNEL_ACCESS_DENIED, nosrc=True)


def may_mention_role(state: ServerState, user: User, role_name: str) -> bool:
    role = state.roles.get(role_name)
    if role is not None and role_name == EVERYONE_ROLE and not has_perm(state.roles, user, Perm.MENTION_EVERYONE):
        return False  # the original let anyone ping every member
    if role is None or not isinstance(role.permissions, dict):
        return True
    rule = role.permissions.get("mention_roles", True)
    if rule is True:
        return True
    if is_owner(user):
        return True
    if rule is False or rule is None:
        return False
    allowed = [rule] if isinstance(rule, str) else list(rule) if isinstance(rule, list) else []
    return any(r in allowed for r in user.roles)


def mentions(state: ServerState, user: User, content: str) -> tuple[list[str], list[str]]:
    """(users, roles) mentioned; raises when the sender may not mention one of the roles."""
    users = mentioned_users(state, content)
    roles: list[str] = []
    for name in ROLE_MENTION.findall(content):
        if not may_mention_role(state, user, name):
            raise ProtocolError(texts.mention_denied(name))
        if name not in roles:
            roles.append(name)
    return users, roles


def recent(entries: Mapping[Any, Any], now: float, when: Callable[[Any], float]) -> dict[Any, Any]:
    """The entries decided within the last RECENT_SECONDS (older ones can no longer race a read:
    the database has been authoritative for them ever since)."""
    return {k: v for k, v in entries.items() if now - when(v) < RECENT_SECONDS}


def current_reactions(state: ServerState, m: Message) -> dict[str, list[str]]:
    """The message's reactions as read, with this server's recent decisions applied on top (a
    decision may not be committed yet, or committed after the read began; applying one twice
    changes nothing)."""
    out = {emoji: list(users) for emoji, users in m.reactions}
    for (mid, emoji, uid), (reacted, _) in state.recent_reactions.items():
        if mid != m.id:
            continue
        users = out.setdefault(emoji, [])
        if reacted and uid not in users:
            users.append(uid)
        elif not reacted and uid in users:
            users.remove(uid)
    return {emoji: users for emoji, users in out.items() if users}


def not_deleted(state: ServerState, m: Message | None) -> Message | None:
    """The message as read, unless it was deleted meanwhile, alone or with its thread."""
    if m is None or m.id in state.deleted_messages or (m.thread_id is not None and m.thread_id not in state.threads):
        return None
    return m


def open_thread(state: ServerState, m: Message) -> Thread | None:
    """The thread of a message just read (None for a channel message), refused if it was locked or
    archived while the message was read: edits and reactions need an open thread."""
    thread = state.threads.get(m.thread_id) if m.thread_id is not None else None
    if thread is not None:
        if thread.locked:
            raise ProtocolError(texts.THREAD_LOCKED)
        if thread.archived:
            raise ProtocolError(texts.THREAD_ARCHIVED)
    return thread


def visible(state: ServerState, messages: list[Message]) -> list[dict[str, Any]]:
    deleted, threads = state.deleted_messages, state.threads
    return [message_wire(state, m) for m in messages
            if m.id not in deleted and (m.thread_id is None or m.thread_id in threads)]


def limited(state: ServerState, ctx: Context, req: Request, user: User,
            then: Callable[[ServerState], Step], *, with_reason: bool = True) -> Step:
    """Consume one rate-limit slot, then run `then(state)`. The slot stays used when `then`
    refuses the request (README §9: an allowed action is recorded even if the command fails)."""
    state, refusal = rate_check(state, ctx, user, with_reason=with_reason)
    if refusal is not None:
        return Step(state, (refusal,))
    try:
        return then(state)
    except ProtocolError as exc:
        return Step(state, (exc.answer(req.cmd),))


def global_packet(state: ServerState, ctx: Context, ch: Channel, packet: dict[str, Any]) -> tuple:
    """Viewers of the channel other than the caller, then the caller (with its `listener`)."""
    return (Send(channel_viewers(state, ch, exclude=ctx.conn_id), packet, reply=True),)

