"""How records look on the wire (objects.md §1.5, §3.3) and who receives what (README §4)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from . import packets
from .effects import Send
from .model import Action, Channel, Message, Thread, User
from .permissions import channel_allows, channel_lists_viewer
from .polls import tallied
from .state import ServerState


def color_of(state: ServerState, user: User) -> str | None:
    """The color of the first role in the user's list (list order, not rank)."""
    if not user.roles:
        return None
    role = state.roles.get(user.roles[0])
    return role.color if role is not None else None


def status_obj(user: User) -> dict[str, str]:
    return {"status": user.status, "text": user.status_text}


def user_brief(state: ServerState, user: User) -> dict[str, Any]:
    """`user_join.user` / `user_connect.user`."""
    return {"username": user.username, "roles": list(user.roles), "color": color_of(state, user)}


def ready_user(user: User) -> dict[str, Any]:
    if user.cracked:
        return {"username": user.username, "nickname": user.nickname, "roles": list(user.roles),
                "status": status_obj(user), "pfp_url": user.pfp_url, "cracked": True}
    out: dict[str, Any] = {"roles": list(user.roles), "username": user.username, "status": status_obj(user)}
    if user.nickname is not None:
        out["nickname"] = user.nickname
    out["cracked"] = False
    return out


def message_wire(state: ServerState, m: Message) -> dict[str, Any]:
    """The "user format" of a stored message."""
    out: dict[str, Any] = {
        "user": state.username_of(m.user_id), "content": m.content,
        "timestamp": m.timestamp, "id": m.id,
    }
    if m.reply_to_id is not None:
        out["reply_to"] = {"id": m.reply_to_id, "user": state.username_of(m.reply_to_user or "")}
    if m.ping is not None:
        out["ping"] = m.ping
    if m.embeds:  # `[]` (an edit that cleared them) is sent as no embeds
        out["embeds"] = m.embeds if m.poll_tally is None else tallied(m.embeds, m.poll_tally)
    if m.attachments:
        out["attachments"] = m.attachments
    if m.edited:
        out["edited"] = True
    if m.reactions:
        out["reactions"] = {e: [state.username_of(u) for u in users] for e, users in m.reactions}
    if m.webhook is not None:
        out["webhook"] = m.webhook
    out["pinned"] = is_pinned(state, m)
    out["type"] = m.type or "message"
    out["interaction"] = m.interaction
    return out


def is_pinned(state: ServerState, m: Message) -> bool:
    """The message's pin as this server last decided it (a read may predate a pin or unpin that
    is decided but not committed yet, or committed after the read began)."""
    recent = state.recent_pins.get(m.id)
    return m.pinned if recent is None else recent[0]


def thread_wire(state: ServerState, thread: Thread) -> dict[str, Any]:
    """A thread as every thread packet and `channels_get` send it (extended/threads.md): user ids
    shown as usernames, the parent forum by name. The stored record keeps the ids (flaw 2)."""
    parent = state.channel_by_id(thread.channel_id)
    return {
        "id": thread.id, "name": thread.name, "parent_channel": parent.name if parent is not None else None,
        "created_by": state.username_of(thread.created_by), "created_at": thread.created_at,
        "locked": thread.locked, "archived": thread.archived,
        "participants": [state.username_of(uid) for uid in thread.participants],
        "last_message": thread.last_message, "last_message_id": thread.last_message_id,
    }


# ---- audiences -------------------------------------------------------------------------------


def all_authed(state: ServerState) -> tuple[int, ...]:
    """"ALL": every authenticated socket, the caller included."""
    return state.conns.authed_ids()


def others(state: ServerState, conn_id: int) -> tuple[int, ...]:
    """Global without channel: every other authenticated socket."""
    return _without(state.conns.authed_ids(), conn_id)


def channel_viewers(state: ServerState, channel: Channel | None, exclude: int | None = None) -> tuple[int, ...]:
    """Authenticated sockets whose user may `view` the channel, judged on the user's *current*
    roles (the original used a snapshot taken at login; see docs/compatibility.md).

    The audience is worked out once per version of the connection table, the user table and the
    channel (kept on the connection table: `ConnTable.memo`), so a run of messages to one channel
    pays for the scan once, not once per message."""
    conns, users = state.conns, state.users
    key = ("viewers", channel.id if channel is not None else None)
    hit = conns.recall(key)
    if hit is None or hit[0] is not channel or hit[1] is not users:
        hit = (channel, users, _viewers(state, channel))
        conns.remember(key, hit)
    return _without(hit[2], exclude)


def _viewers(state: ServerState, channel: Channel | None) -> tuple[int, ...]:
    out = []
    verdicts: dict[tuple[str, ...], bool] = {}
    users = state.users
    for c in state.conns.authed():
        user = users.get(c.user_id)
        if user is None:
            continue
        roles = user.roles
        ok = verdicts.get(roles)
        if ok is None:
            ok = verdicts[roles] = channel_allows(channel, Action.VIEW, roles)
        if ok:
            out.append(c.id)
    return tuple(out)


def _without(ids: tuple[int, ...], conn_id: int | None) -> tuple[int, ...]:
    """`ids` (ascending) without `conn_id`: a bisection and two slices, no Python loop."""
    if conn_id is None:
        return ids
    i = bisect_left(ids, conn_id)
    if i < len(ids) and ids[i] == conn_id:
        return ids[:i] + ids[i + 1:]
    return ids


# ---- channel lists ---------------------------------------------------------------------------


def visible_channels(state: ServerState, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    """What a user with `roles` sees in `channels_get`, as stored objects (no computed keys)."""
    return [ch.wire() for ch in state.channels if channel_lists_viewer(ch, roles)]


def channel_pushes(before: ServerState, after: ServerState) -> tuple[Send, ...]:
    """An unsolicited `channels_get` for every authenticated socket whose visible list differs
    between `before` and `after` (a channel change, or a change of its user's roles)."""
    lists_before: dict[tuple[str, ...], list] = {}
    lists_after: dict[tuple[str, ...], list] = {}
    groups: dict[tuple[str, ...], list[int]] = {}
    for conn in after.conns.authed():
        user = after.users.get(conn.user_id)
        if user is None:
            continue
        roles = user.roles
        if roles not in lists_after:
            lists_after[roles] = visible_channels(after, roles)
        old_user = before.users.get(conn.user_id)
        old_roles = old_user.roles if old_user is not None else ()
        if old_roles not in lists_before:
            lists_before[old_roles] = visible_channels(before, old_roles)
        if lists_before[old_roles] != lists_after[roles]:
            groups.setdefault(roles, []).append(conn.id)
    return tuple(Send(tuple(ids), packets.channels_get(lists_after[roles])) for roles, ids in groups.items())
