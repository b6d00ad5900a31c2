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


# The builders of moderation, roles and the operator's answers live in core/packets_admin.py, those
# of the extended commands (threads, pins and search, polls, unreads and pings) in
# core/packets_rich.py; both are part of this namespace, so every packet is `packets.<name>`.
from .packets_admin import *  # noqa: E402,F401,F403
from .packets_rich import *  # noqa: E402,F401,F403
from .packets_pushvoice import *  # noqa: E402,F401,F403
