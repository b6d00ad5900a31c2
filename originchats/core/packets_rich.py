"""Builders of the extended commands' packets (extended/threads.md, reactions_pins_replies.md,
embeds.md, polls.md, unreads_pings.md): one function per server packet, as in core/packets.py,
which re-exports them all (code uses them as `packets.<name>`)."""

from __future__ import annotations

from typing import Any

Packet = dict[str, Any]
Json = Any  # a value already in wire form


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


# ---- attachments (extended/attachments.md §5) ---------------------------------------------------


def attachment_info(attachment: Json) -> Packet:
    """The reply to `attachment_get` (its `cmd` differs from the request's)."""
    return {"cmd": "attachment_info", "attachment": attachment}


def attachment_deleted(attachment_id: str) -> Packet:
    return {"cmd": "attachment_deleted", "attachment_id": attachment_id, "deleted": True}


# ---- custom emoji (extended/emojis.md; the change fields are this server's, docs/compatibility.md)


def emoji_add(emoji_id: int, name: str, file_name: str) -> Packet:
    """The reply to `emoji_add` and its broadcast: the spec's `id` (a string) and `added`, plus
    `name` and `fileName`, which the official client reads to add the emoji at once."""
    return {"cmd": "emoji_add", "id": str(emoji_id), "added": True, "name": name, "fileName": file_name}


def emoji_update(emoji_id: int, updated: bool, name: str | None = None, file_name: str | None = None) -> Packet:
    packet: Packet = {"cmd": "emoji_update", "id": emoji_id, "updated": updated}
    if updated:
        packet["name"] = name
        packet["fileName"] = file_name
    return packet


def emoji_delete(emoji_id: int, deleted: bool) -> Packet:
    return {"cmd": "emoji_delete", "id": emoji_id, "deleted": deleted}


def emoji_get_all(emojis: Json) -> Packet:
    return {"cmd": "emoji_get_all", "emojis": emojis}


def emoji_get_id(name: str, emoji_id: int) -> Packet:
    return {"cmd": "emoji_get_id", "name": name, "id": str(emoji_id)}


def emoji_get_filename(name: str, file_name: str) -> Packet:
    return {"cmd": "emoji_get_filename", "name": name, "filepath": file_name}


# ---- slash commands (extended/slash.md) --------------------------------------------------------


def slash_register(count: int) -> Packet:
    return {"cmd": "slash_register", "val": f"{count} commands registered successfully"}


def slash_list(commands: list[Json]) -> Packet:
    return {"cmd": "slash_list", "commands": commands}


def slash_add(commands: list[Json]) -> Packet:
    return {"cmd": "slash_add", "commands": commands}


def slash_remove(names: list[str]) -> Packet:
    return {"cmd": "slash_remove", "commands": names}


def slash_call(*, command: str, args: Json, commander: str, invoker: str, invoker_username: str,
               channel: str, thread_id: str | None = None) -> Packet:
    out = {"cmd": "slash_call", "val": {"command": command, "args": args, "commander": commander},
           "invoker": invoker, "invokerUsername": invoker_username, "channel": channel}
    if thread_id is not None:  # a call made in a thread (an addition: channel calls are unchanged)
        out["thread_id"] = thread_id
    return out
# ---- webhooks (extended/webhooks.md) ----------------------------------------------------------


def webhook_create(webhook: Json) -> Packet:
    return {"cmd": "webhook_create", "webhook": webhook}


def webhook_get(webhook: Json) -> Packet:
    return {"cmd": "webhook_get", "webhook": webhook}


def webhook_list(webhooks: list[Json]) -> Packet:
    return {"cmd": "webhook_list", "webhooks": webhooks}


def webhook_update(webhook: Json) -> Packet:
    return {"cmd": "webhook_update", "webhook": webhook}


def webhook_delete(webhook_id: str) -> Packet:
    return {"cmd": "webhook_delete", "id": webhook_id, "deleted": True}


def webhook_regenerate(webhook: Json) -> Packet:
    return {"cmd": "webhook_regenerate", "webhook": webhook}
