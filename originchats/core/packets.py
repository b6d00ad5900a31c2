"""Every packet the server sends, one builder each, named after its wire `cmd`.

A builder returns the packet as the codec encodes it: a dict whose key order is the order clients
see on the wire (so keep it when you edit one). Values are already in wire form: the record views
(`message_wire`, `user_brief`, `Channel.wire()`...) live in views.py and model.py. A packet with two
shapes has two builders (`user_leave` to everyone, `user_leave_reply` to the caller) or one
argument that picks the shape, as documented on it. Nothing else in the core writes a packet dict.

Error packets take their text from the catalogue (texts/); errors.py turns them into effects.
"""

from __future__ import annotations

from typing import Any

from . import texts

Packet = dict[str, Any]
Json = Any  # a value already in wire form

#: What `Spliced.template` holds where the packet's own string goes.
SLOT = "\x00slot\x00"


class Spliced(dict):  # type: ignore[type-arg]
    """A packet that is a shared `template` with one string of its own (`value`) in place of
    `SLOT`. It is the whole packet as a dict (equal to it, readable as any packet), and tells the
    codec that the rest is the same as for every packet built from the same template object: the
    codec encodes the template once and splices each value in (protocol/codec.py)."""

    __slots__ = ("template", "value")

    def __init__(self, content: Packet, template: Packet, value: str) -> None:
        super().__init__(content)
        self.template = template
        self.value = value

# ---- errors and refusals ----------------------------------------------------------------------


def error(val: str, src: str | None) -> Packet:
    """`src` is the request's cmd; None leaves the key out (README §7.1)."""
    if src is None:
        return {"cmd": "error", "val": val}
    return {"cmd": "error", "src": src, "val": val}


def auth_error(val: str) -> Packet:
    return {"cmd": "auth_error", "val": val}


def rate_limit(length_ms: int, reason: str | None = None) -> Packet:
    """Without `reason` for `message_edit` (README §9)."""
    if reason is None:
        return {"cmd": "rate_limit", "length": length_ms}
    return {"cmd": "rate_limit", "reason": reason, "length": length_ms}


def disconnect(reason: str) -> Packet:
    return {"cmd": "disconnect", "reason": reason}


# ---- connection and session -------------------------------------------------------------------


def handshake(*, server: Json, limits: Json, attachments: Json, version: str, validator_key: str,
              capabilities: list[str], permissions: list[str], auth_mode: str) -> Packet:
    return {"cmd": "handshake", "val": {
        "server": server, "limits": limits, "attachments": attachments, "version": version,
        "validator_key": validator_key, "capabilities": capabilities, "permissions": permissions,
        "auth_mode": auth_mode,
    }}


def handshake_for(template: Packet, validator_key: str) -> Spliced:
    """The handshake of one socket from `template` (a `handshake` with `validator_key=SLOT`)."""
    val = dict(template["val"])  # same key order; only the key differs
    val["validator_key"] = validator_key
    return Spliced({"cmd": "handshake", "val": val}, template, validator_key)


def ping() -> Packet:
    """The heartbeat (server/timers.py)."""
    return {"cmd": "ping"}


def pong() -> Packet:
    return {"cmd": "pong", "val": "pong"}


def auth_success() -> Packet:
    return {"cmd": "auth_success", "val": "Authentication successful"}


def ready(user: Json, validator: str) -> Packet:
    return {"cmd": "ready", "user": user, "validator": validator}


def logout(val: str) -> Packet:
    return {"cmd": "logout", "val": val}


def password_change() -> Packet:
    return {"cmd": "password_change", "val": texts.PASSWORD_CHANGED}


def server_info(*, name: str, icon: str, banner: str) -> Packet:
    return {"cmd": "server_info", "name": name, "icon": icon, "banner": banner}


def rate_limit_status(user: str | None, status: Json) -> Packet:
    return {"cmd": "rate_limit_status", "user": user, "status": status}


# ---- presence and users -----------------------------------------------------------------------


def user_join(user: Json) -> Packet:
    return {"cmd": "user_join", "user": user}


def user_connect(user: Json) -> Packet:
    return {"cmd": "user_connect", "user": user}


def user_disconnect(username: str) -> Packet:
    return {"cmd": "user_disconnect", "username": username}


def users_list(users: list[Json]) -> Packet:
    return {"cmd": "users_list", "users": users}


def users_online(users: list[Json]) -> Packet:
    return {"cmd": "users_online", "users": users}


def status_set(status: Json) -> Packet:
    """To the user's own sockets when they go invisible."""
    return {"cmd": "status_set", "status": status, "global": True}


def status_get(username: str, status: Json) -> Packet:
    """The broadcast of a status change (the reply to `status_get` is `status`)."""
    return {"cmd": "status_get", "username": username, "status": status, "global": True}


def status(username: str, status: Json) -> Packet:
    return {"cmd": "status", "username": username, "status": status}


def pfp_set(val: str) -> Packet:
    return {"cmd": "pfp_set", "val": val}


def pfp_get(val: str | None, username: str) -> Packet:
    return {"cmd": "pfp_get", "val": val, "username": username}


def nickname_update(user_id: str, username: str, nickname: str) -> Packet:
    return {"cmd": "nickname_update", "user": user_id, "username": username, "nickname": nickname}


def nickname_remove(user_id: str, username: str) -> Packet:
    return {"cmd": "nickname_remove", "user": user_id, "username": username}


def user_updated(user_id: str, username: str, nickname: str | None) -> Packet:
    return {"cmd": "user_updated", "user_id": user_id, "username": username, "nickname": nickname}


def user_update(user: str, nickname: str | None) -> Packet:
    return {"cmd": "user_update", "user": user, "nickname": nickname}


# ---- moderation -------------------------------------------------------------------------------


def user_ban(user: str, banned: bool) -> Packet:
    return {"cmd": "user_ban", "user": user, "banned": banned}


def user_unban(user: str, unbanned: bool) -> Packet:
    return {"cmd": "user_unban", "user": user, "unbanned": unbanned}


def users_banned_list(users: list[str]) -> Packet:
    return {"cmd": "users_banned_list", "users": users}


def user_timeout(user: Json, timeout: int) -> Packet:
    return {"cmd": "user_timeout", "user": user, "timeout": timeout}


def rate_limit_reset(user: str) -> Packet:
    return {"cmd": "rate_limit_reset", "user": user, "val": f"Rate limit reset for user {user}"}


def user_leave(username: str) -> Packet:
    """To everyone: the account is gone."""
    return {"cmd": "user_leave", "username": username}


def user_leave_reply(user: str, *, kicked: bool) -> Packet:
    """To the caller: it left (deleted its own account), or it kicked `user`."""
    return {"cmd": "user_leave", "user": user, "val": "User kicked" if kicked else "User left server"}


def user_delete(user: str) -> Packet:
    return {"cmd": "user_delete", "user": user, "deleted": True}


def server_update(*, name: str, icon: str, banner: str) -> Packet:
    return {"cmd": "server_update", "name": name, "icon": icon, "banner": banner}


def plugins_list() -> Packet:
    return {"cmd": "plugins_list", "plugins": {}}


def plugins_reload() -> Packet:
    return {"cmd": "plugins_reload", "val": "All plugins reloaded successfully"}


def modlog_get(*, entries: list[Json], total: int, offset: int, limit: int) -> Packet:
    return {"cmd": "modlog_get", "entries": entries, "total": total, "offset": offset, "limit": limit}


def modlog_summary(*, action_counts: Json, category_totals: Json, total: int) -> Packet:
    return {"cmd": "modlog_summary", "action_counts": action_counts, "category_totals": category_totals,
            "total": total}


# ---- channels ---------------------------------------------------------------------------------


def channels_get(val: list[Json]) -> Packet:
    """The reply to `channels_get`, and the unsolicited push after a change."""
    return {"cmd": "channels_get", "val": val}


def channel_create(channel: Json) -> Packet:
    return {"cmd": "channel_create", "channel": channel, "created": True}


def channel_update(channel: Json) -> Packet:
    return {"cmd": "channel_update", "channel": channel, "updated": True}


def channel_move(name: str, position: int, moved: bool) -> Packet:
    return {"cmd": "channel_move", "name": name, "position": position, "moved": moved}


def channel_delete(name: str) -> Packet:
    return {"cmd": "channel_delete", "name": name, "deleted": True}


# ---- messages ---------------------------------------------------------------------------------


# In a thread, `channel` is the parent forum and `thread_id` the thread. Packets that carry
# `"thread_id": null` for a channel always have the key; the others add it for threads only.


def messages_get(channel: str, messages: list[Json], range_: Json, thread_id: str | None = None) -> Packet:
    if thread_id is None:
        return {"cmd": "messages_get", "channel": channel, "messages": messages, "range": range_}
    return {"cmd": "messages_get", "channel": channel, "thread_id": thread_id, "messages": messages, "range": range_}


def message_get(channel: str, message: Json, thread_id: str | None = None) -> Packet:
    if thread_id is None:
        return {"cmd": "message_get", "channel": channel, "message": message}
    return {"cmd": "message_get", "channel": channel, "thread_id": thread_id, "message": message}


def messages_around(channel: str, messages: list[Json], range_: Json, thread_id: str | None = None) -> Packet:
    return {"cmd": "messages_around", "channel": channel, "thread_id": thread_id, "messages": messages,
            "range": range_}


def message_new(message: Json, channel: str, thread_id: str | None = None) -> Packet:
    return {"cmd": "message_new", "message": message, "channel": channel, "thread_id": thread_id, "global": True}


def message_edit(*, id: str, content: str, message: Json, channel: str, thread_id: str | None = None) -> Packet:
    if thread_id is None:
        return {"cmd": "message_edit", "id": id, "content": content, "message": message, "channel": channel,
                "global": True}
    return {"cmd": "message_edit", "id": id, "content": content, "message": message, "channel": channel,
            "thread_id": thread_id, "global": True}


def message_delete(id: str, channel: str, thread_id: str | None = None) -> Packet:
    if thread_id is None:
        return {"cmd": "message_delete", "id": id, "channel": channel, "global": True}
    return {"cmd": "message_delete", "id": id, "channel": channel, "thread_id": thread_id, "global": True}


def _reaction(cmd: str, id: str, emoji: str, channel: str, thread_id: str | None, from_: str) -> Packet:
    if thread_id is None:
        return {"cmd": cmd, "id": id, "emoji": emoji, "channel": channel, "from": from_, "global": True}
    return {"cmd": cmd, "id": id, "emoji": emoji, "channel": channel, "thread_id": thread_id, "from": from_,
            "global": True}


def message_react_add(*, id: str, emoji: str, channel: str, from_: str, thread_id: str | None = None) -> Packet:
    return _reaction("message_react_add", id, emoji, channel, thread_id, from_)


def message_react_remove(*, id: str, emoji: str, channel: str, from_: str, thread_id: str | None = None) -> Packet:
    return _reaction("message_react_remove", id, emoji, channel, thread_id, from_)


def typing(channel: str, user: str, thread_id: str | None = None) -> Packet:
    return {"cmd": "typing", "channel": channel, "user": user, "thread_id": thread_id, "global": True}


# ---- threads (extended/threads.md) -------------------------------------------------------------


def thread_create(thread: Json, channel: str) -> Packet:
    return {"cmd": "thread_create", "thread": thread, "channel": channel, "global": True}


def thread_get(thread: Json) -> Packet:
    return {"cmd": "thread_get", "thread": thread}


def thread_messages(thread_id: str, messages: list[Json]) -> Packet:
    return {"cmd": "thread_messages", "thread_id": thread_id, "messages": messages}


def thread_update(thread: Json) -> Packet:
    """The reply to `thread_update`, and the announcement of a thread revived by a new message."""
    return {"cmd": "thread_update", "thread": thread, "global": True}


def thread_delete(thread_id: str, channel: str) -> Packet:
    return {"cmd": "thread_delete", "thread_id": thread_id, "channel": channel, "global": True}


def thread_join(thread: Json, thread_id: str, user: str) -> Packet:
    return {"cmd": "thread_join", "thread": thread, "thread_id": thread_id, "user": user, "global": True}


def thread_leave(thread: Json, thread_id: str, user: str) -> Packet:
    return {"cmd": "thread_leave", "thread": thread, "thread_id": thread_id, "user": user, "global": True}


# ---- pins, replies, search, embeds_list (extended/reactions_pins_replies.md, embeds.md) ----------
# The original has none of these in threads. Here a thread's packets name its parent in `channel`
# and add `thread_id` right after it, as the reactions do; channel packets have no `thread_id` key.


def _where(channel: str, thread_id: str | None) -> Packet:
    return {"channel": channel} if thread_id is None else {"channel": channel, "thread_id": thread_id}


def message_pin(*, id: str, channel: str, pinned: bool, thread_id: str | None = None) -> Packet:
    """`pinned`: the message's state after the command (`false` once `message_pin` unpinned it)."""
    return {"cmd": "message_pin", "id": id, **_where(channel, thread_id), "pinned": pinned, "global": True}


def message_unpin(*, id: str, channel: str, thread_id: str | None = None) -> Packet:
    """`pinned` is the message's new state, always `false` (the original sent `true` for "found")."""
    return {"cmd": "message_unpin", "id": id, **_where(channel, thread_id), "pinned": False, "global": True}


def messages_pinned(channel: str, messages: list[Json], thread_id: str | None = None) -> Packet:
    return {"cmd": "messages_pinned", **_where(channel, thread_id), "messages": messages}


def message_replies(channel: str, message_id: str, replies: list[Json], thread_id: str | None = None) -> Packet:
    return {"cmd": "message_replies", **_where(channel, thread_id), "message_id": message_id, "replies": replies}


def messages_search(channel: str, query: str, results: list[Json], thread_id: str | None = None) -> Packet:
    return {"cmd": "messages_search", **_where(channel, thread_id), "query": query, "results": results}


def embeds_list(id: str, embeds: list[Json]) -> Packet:
    return {"cmd": "embeds_list", "id": id, "embeds": embeds}


# ---- roles ------------------------------------------------------------------------------------


def roles_list(roles: Json) -> Packet:
    return {"cmd": "roles_list", "roles": roles}


def user_roles_get(user: str, roles: list[str], color: str | None, *, broadcast: bool = False) -> Packet:
    """The reply to `user_roles_get`; with `broadcast`, the push after a change (`"global": true`)."""
    if broadcast:
        return {"cmd": "user_roles_get", "user": user, "roles": roles, "color": color, "global": True}
    return {"cmd": "user_roles_get", "user": user, "roles": roles, "color": color}


def role_permissions_get(id: str, name: str, permissions: Json) -> Packet:
    return {"cmd": "role_permissions_get", "id": id, "name": name, "permissions": permissions}


def self_roles_list(roles: list[Json]) -> Packet:
    return {"cmd": "self_roles_list", "roles": roles}


def role_create(id: str, name: str) -> Packet:
    return {"cmd": "role_create", "id": id, "name": name}


def role_update(id: str, name: str) -> Packet:
    return {"cmd": "role_update", "id": id, "name": name, "updated": True}


def role_set(id: str, name: str) -> Packet:
    return {"cmd": "role_set", "id": id, "name": name, "updated": True}


def role_permissions_set(id: str, name: str, permissions: list[str]) -> Packet:
    return {"cmd": "role_permissions_set", "id": id, "name": name, "permissions": permissions, "updated": True}


def role_reorder(roles: Json) -> Packet:
    return {"cmd": "role_reorder", "roles": roles}


def role_delete(id: str, name: str) -> Packet:
    return {"cmd": "role_delete", "id": id, "name": name, "deleted": True}


def self_role_add(role: str, roles: list[str]) -> Packet:
    return {"cmd": "self_role_add", "role": role, "success": True, "roles": roles}


def self_role_remove(role: str, roles: list[str]) -> Packet:
    return {"cmd": "self_role_remove", "role": role, "success": True, "roles": roles}


# ---- operator results (the admin socket's answers, not wire packets) --------------------------


def operator_ok(message: str, lines: list[str] | None = None) -> Packet:
    if lines is None:
        return {"ok": True, "message": message}
    return {"ok": True, "message": message, "lines": lines}


def operator_error(message: str) -> Packet:
    return {"ok": False, "message": message}


# ---- polls (extended/polls.md; the results object comes from core/polls.py) --------------------


def poll_message_new(*, message: Json, channel: str | None, thread_id: str | None, poll_id: str) -> Packet:
    """The poll's `message_new`: flat as the original's (the message's fields at top level, no
    `global`), plus the usual nested `message` that every other `message_new` carries."""
    return {"cmd": "message_new", "id": message["id"], "channel": channel, "thread_id": thread_id,
            "user": message["user"], "content": message["content"], "timestamp": message["timestamp"],
            "embeds": message["embeds"], "poll_id": poll_id, "message": message}


def poll_create(*, poll_id: str, message_id: str, channel: str | None, thread_id: str | None, question: str,
                options: list[Json], allow_multiselect: bool, expires_at: float | None) -> Packet:
    return {"cmd": "poll_create", "poll_id": poll_id, "message_id": message_id, "channel": channel,
            "thread_id": thread_id, "question": question, "options": options,
            "allow_multiselect": allow_multiselect, "expires_at": expires_at}


def poll_vote(poll_id: str, option_ids: list[str], results: Json) -> Packet:
    return {"cmd": "poll_vote", "poll_id": poll_id, "option_ids": option_ids, "results": results}


def poll_vote_update(*, poll_id: str, message_id: str, channel: str | None, thread_id: str | None,
                     user: str | None, option_ids: list[str], results: Json) -> Packet:
    """To the voter: its name and options; to everyone else `user` null and `option_ids` []
    (who voted for what stays hidden until the poll closes)."""
    return {"cmd": "poll_vote_update", "poll_id": poll_id, "message_id": message_id, "channel": channel,
            "thread_id": thread_id, "user": user, "option_ids": option_ids, "results": results}


def poll_end(poll_id: str, results: Json) -> Packet:
    """The caller's reply."""
    return {"cmd": "poll_end", "poll_id": poll_id, "results": results}


def poll_end_broadcast(*, poll_id: str, message_id: str, channel: str | None, thread_id: str | None,
                       results: Json) -> Packet:
    """To the channel's viewers (the caller too), on `poll_end` and when a poll expires."""
    return {"cmd": "poll_end", "poll_id": poll_id, "message_id": message_id, "channel": channel,
            "thread_id": thread_id, "results": results}


def poll_results(poll_id: str, message_id: str, results: Json) -> Packet:
    return {"cmd": "poll_results", "poll_id": poll_id, "message_id": message_id, "results": results}


def poll_get(poll: Json) -> Packet:
    return {"cmd": "poll_get", "poll": poll}


# ---- unreads and pings (extended/unreads_pings.md) ---------------------------------------------


def _channel_or_thread(channel: str | None, thread_id: str | None) -> Packet:
    """`thread_id` for a thread, else `channel`: one of the two keys, never both."""
    return {"thread_id": thread_id} if thread_id else {"channel": channel}


def unreads_get(unreads: Json) -> Packet:
    return {"cmd": "unreads_get", "unreads": unreads}


def unreads_entry(last_read: str | None, unread_count: int, total_messages: int,
                  parent_channel: str | None = None) -> Packet:
    """One value of `unreads_get.unreads`; thread entries name their forum in `parent_channel`."""
    entry = {"last_read": last_read, "unread_count": unread_count, "total_messages": total_messages}
    if parent_channel is not None:
        entry["parent_channel"] = parent_channel
    return entry


def unreads_count(*, channel: str | None, thread_id: str | None, unread_count: int, last_read: str | None,
                  total_messages: int) -> Packet:
    return {"cmd": "unreads_count", **_channel_or_thread(channel, thread_id), "unread_count": unread_count,
            "last_read": last_read, "total_messages": total_messages}


def unreads_ack(*, channel: str | None, thread_id: str | None, last_read: str | None) -> Packet:
    return {"cmd": "unreads_ack", **_channel_or_thread(channel, thread_id), "last_read": last_read}


def unreads_update(*, last_read: str, channel: str | None, thread_id: str | None) -> Packet:
    """To every socket of the reader (never with `listener`)."""
    return {"cmd": "unreads_update", "last_read": last_read, **_channel_or_thread(channel, thread_id)}


def pings_get(*, messages: list[Json], offset: int, limit: int, total: int) -> Packet:
    return {"cmd": "pings_get", "messages": messages, "offset": offset, "limit": limit, "total": total}
