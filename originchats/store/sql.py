"""Plain SQL as functions: one per persisted fact (`WRITERS`), plus the loads at start. The reads
behind `Fetch` operations are in reads.py. Named parameters, no formatting."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ..core import writes as w
from ..core.model import Channel, Message, Role, User
from .attachments import ATTACHMENT_WRITERS, reference
from .emojis import EMOJI_WRITERS
from .webhooks import WEBHOOK_WRITERS
from .push import PUSH_WRITERS
from .polls import POLL_WRITERS


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# ---- rows -> records --------------------------------------------------------------------------


def user_from_row(row: sqlite3.Row | tuple) -> User:
    (uid, username, nickname, pw, roles, status, status_text, pfp, created, deleted) = row
    return User(id=uid, username=username, nickname=nickname, password_hash=pw, roles=tuple(json.loads(roles)),
                status=status, status_text=status_text, pfp_url=pfp, created_at=created, deleted=bool(deleted))


def role_from_row(row: tuple) -> Role:
    (rid, name, desc, color, hoisted, perms, self_assignable, category, position) = row
    perms = json.loads(perms)
    return Role(id=rid, name=name, description=desc, color=color, hoisted=bool(hoisted),
                permissions=tuple(perms) if isinstance(perms, list) else perms,
                self_assignable=bool(self_assignable), category=category, position=position)


def channel_from_row(row: tuple) -> Channel:
    (cid, name, ctype, data) = row
    d = json.loads(data)
    return Channel(id=cid, name=name, type=ctype, description=d.get("description"),
                   display_name=d.get("display_name"), size=d.get("size"),
                   permissions={k: tuple(v) for k, v in d.get("permissions", {}).items()},
                   extra=d.get("extra", {}))


MESSAGE_COLUMNS = ("id, channel_id, thread_id, user_id, content, timestamp, reply_to_id, reply_to_user, ping, "
                   "embeds, attachments, edited, pinned, type, interaction, webhook")


def message_from_row(row: tuple, reactions: tuple = ()) -> Message:
    (mid, cid, tid, uid, content, ts, rid, ruser, ping, embeds, atts, edited, pinned, mtype, inter, hook) = row
    return Message(id=mid, channel_id=cid, thread_id=tid, user_id=uid, content=content, timestamp=ts,
                   reply_to_id=rid, reply_to_user=ruser, ping=None if ping is None else bool(ping),
                   embeds=_load(embeds), attachments=_load(atts), edited=bool(edited), pinned=bool(pinned),
                   reactions=reactions, type=mtype, interaction=_load(inter), webhook=_load(hook))


# ---- writes -----------------------------------------------------------------------------------


def _user_saved(con: sqlite3.Connection, fact: w.UserSaved) -> None:
    u = fact.user
    con.execute(
        "INSERT INTO users(id, username, nickname, password_hash, roles, status, status_text, pfp_url, created_at,"
        " deleted) VALUES (:id, :username, :nickname, :pw, :roles, :status, :text, :pfp, :created, :deleted)"
        " ON CONFLICT(id) DO UPDATE SET username=excluded.username, nickname=excluded.nickname,"
        " password_hash=excluded.password_hash, roles=excluded.roles, status=excluded.status,"
        " status_text=excluded.status_text, pfp_url=excluded.pfp_url, deleted=excluded.deleted",
        {"id": u.id, "username": u.username, "nickname": u.nickname, "pw": u.password_hash,
         "roles": _dump(list(u.roles)), "status": u.status, "text": u.status_text, "pfp": u.pfp_url,
         "created": u.created_at, "deleted": int(u.deleted)},
    )


def _role_saved(con: sqlite3.Connection, fact: w.RoleSaved) -> None:
    r = fact.role
    perms = list(r.permissions) if isinstance(r.permissions, (list, tuple)) else r.permissions
    con.execute(
        "INSERT INTO roles(id, name, description, color, hoisted, permissions, self_assignable, category, position)"
        " VALUES (:id, :name, :desc, :color, :hoisted, :perms, :sa, :cat, :pos)"
        " ON CONFLICT(id) DO UPDATE SET name=excluded.name, description=excluded.description,"
        " color=excluded.color, hoisted=excluded.hoisted, permissions=excluded.permissions,"
        " self_assignable=excluded.self_assignable, category=excluded.category, position=excluded.position",
        {"id": r.id, "name": r.name, "desc": r.description, "color": r.color, "hoisted": int(r.hoisted),
         "perms": _dump(perms), "sa": int(r.self_assignable), "cat": r.category, "pos": r.position},
    )


def _role_deleted(con: sqlite3.Connection, fact: w.RoleDeleted) -> None:
    con.execute("DELETE FROM roles WHERE id = :id", {"id": fact.role_id})


def channel_data(ch: Channel) -> str:
    return _dump({"description": ch.description, "display_name": ch.display_name, "size": ch.size,
                  "permissions": {k: list(v) for k, v in ch.permissions.items()}, "extra": ch.extra}) or "{}"


def _channel_saved(con: sqlite3.Connection, fact: w.ChannelSaved) -> None:
    ch = fact.channel
    con.execute(
        "INSERT INTO channels(id, name, position, type, data)"
        " VALUES (:id, :name, (SELECT COALESCE(MAX(position), -1) + 1 FROM channels), :type, :data)"
        " ON CONFLICT(id) DO UPDATE SET name=excluded.name, type=excluded.type, data=excluded.data",
        {"id": ch.id, "name": ch.name, "type": ch.type, "data": channel_data(ch)},
    )


def _channels_ordered(con: sqlite3.Connection, fact: w.ChannelsOrdered) -> None:
    con.executemany("UPDATE channels SET position = :pos WHERE id = :id",
                    [{"pos": i, "id": cid} for i, cid in enumerate(fact.channel_ids)])


def _channel_deleted(con: sqlite3.Connection, fact: w.ChannelDeleted) -> None:
    p = {"id": fact.channel_id}
    con.execute("DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE channel_id = :id)", p)
    con.execute("DELETE FROM messages WHERE channel_id = :id", p)
    con.execute("DELETE FROM channels WHERE id = :id", p)


def _setting_saved(con: sqlite3.Connection, fact: w.SettingSaved) -> None:
    con.execute("INSERT INTO settings(key, value) VALUES (:k, :v) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                {"k": fact.key, "v": _dump(fact.value)})


MESSAGE_INSERT = (f"INSERT INTO messages({MESSAGE_COLUMNS}, mentions) VALUES (:id, :cid, :tid, :uid, :content, :ts,"
                  " :rid, :ruser, :ping, :embeds, :atts, :edited, :pinned, :type, :inter, :hook, :mentions)")


def message_params(fact: w.MessageCreated) -> dict[str, Any]:
    """The parameters of `MESSAGE_INSERT` for a new message (the importer runs it with executemany)."""
    m = fact.message
    return {"id": m.id, "cid": m.channel_id, "tid": m.thread_id, "uid": m.user_id, "content": m.content,
            "ts": m.timestamp, "rid": m.reply_to_id, "ruser": m.reply_to_user,
            "ping": None if m.ping is None else int(m.ping), "embeds": _dump(m.embeds), "atts": _dump(m.attachments),
            "edited": int(m.edited), "pinned": int(m.pinned), "type": m.type, "inter": _dump(m.interaction),
            "hook": _dump(m.webhook), "mentions": _dump(list(fact.mentions)) if fact.mentions else None}


def _message_created(con: sqlite3.Connection, fact: w.MessageCreated) -> None:
    con.execute(MESSAGE_INSERT, message_params(fact))
    reference(con, fact.message.id, fact.message.attachments)


def _message_edited(con: sqlite3.Connection, fact: w.MessageEdited) -> None:
    if fact.embeds is None:
        con.execute("UPDATE messages SET content = :c, edited = 1 WHERE id = :id", {"c": fact.content, "id": fact.message_id})
    else:
        con.execute("UPDATE messages SET content = :c, embeds = :e, edited = 1 WHERE id = :id",
                    {"c": fact.content, "e": _dump(fact.embeds), "id": fact.message_id})


def _message_deleted(con: sqlite3.Connection, fact: w.MessageDeleted) -> None:
    con.execute("DELETE FROM reactions WHERE message_id = :id", {"id": fact.message_id})
    con.execute("DELETE FROM messages WHERE id = :id", {"id": fact.message_id})


REACTION_INSERT = "INSERT OR IGNORE INTO reactions(message_id, emoji, user_id) VALUES (:m, :e, :u)"


def _reaction_added(con: sqlite3.Connection, fact: w.ReactionAdded) -> None:
    con.execute(REACTION_INSERT, {"m": fact.message_id, "e": fact.emoji, "u": fact.user_id})


def _reaction_removed(con: sqlite3.Connection, fact: w.ReactionRemoved) -> None:
    con.execute("DELETE FROM reactions WHERE message_id = :m AND emoji = :e AND user_id = :u",
                {"m": fact.message_id, "e": fact.emoji, "u": fact.user_id})


def _audit_recorded(con: sqlite3.Connection, fact: w.AuditRecorded) -> None:
    con.execute(
        "INSERT INTO audit_log(id, time, category, action, actor_id, target, reason, details)"
        " VALUES (:id, :time, :cat, :action, :actor, :target, :reason, :details)",
        {"id": fact.id, "time": fact.time, "cat": fact.category, "action": fact.action, "actor": fact.actor_id,
         "target": fact.target, "reason": fact.reason, "details": _dump(fact.details)},
    )


#: stands for "no cutoff" (a category kept forever) in the retention CASE expression
_NEVER = -1e300


def retention_clause(cutoffs: Sequence[tuple[str, float | None]], default_cutoff: float | None,
                     params: dict[str, Any]) -> str:
    """SQL for "this audit entry has not expired"; adds its parameters to `params`."""
    whens = []
    for i, (category, cutoff) in enumerate(cutoffs):
        params[f"rc{i}"] = category
        params[f"rt{i}"] = _NEVER if cutoff is None else cutoff
        whens.append(f"WHEN :rc{i} THEN :rt{i}")
    params["rdefault"] = _NEVER if default_cutoff is None else default_cutoff
    return f"time > (CASE category {' '.join(whens)} ELSE :rdefault END)"


def _audit_pruned(con: sqlite3.Connection, fact: w.AuditPruned) -> None:
    params: dict[str, Any] = {}
    con.execute(f"DELETE FROM audit_log WHERE NOT ({retention_clause(fact.cutoffs, fact.default_cutoff, params)})",
                params)


def _timeout_saved(con: sqlite3.Connection, fact: w.TimeoutSaved) -> None:
    if fact.until <= 0:
        con.execute("DELETE FROM timeouts WHERE user_id = :u", {"u": fact.user_id})
    else:
        con.execute("INSERT INTO timeouts(user_id, until) VALUES (:u, :t)"
                    " ON CONFLICT(user_id) DO UPDATE SET until=excluded.until", {"u": fact.user_id, "t": fact.until})


def _session_created(con: sqlite3.Connection, fact: w.SessionCreated) -> None:
    con.execute("INSERT OR REPLACE INTO sessions(token_hash, user_id, created_at) VALUES (:h, :u, :t)",
                {"h": fact.token_hash, "u": fact.user_id, "t": fact.created_at})


def _session_revoked(con: sqlite3.Connection, fact: w.SessionRevoked) -> None:
    con.execute("DELETE FROM sessions WHERE token_hash = :h", {"h": fact.token_hash})


def _user_sessions_revoked(con: sqlite3.Connection, fact: w.UserSessionsRevoked) -> None:
    con.execute("DELETE FROM sessions WHERE user_id = :u", {"u": fact.user_id})


# ---- unreads and pings (migrations/0006_unreads_pings.sql) ---------------------------------------


def _read_marked(con: sqlite3.Connection, fact: w.ReadMarked) -> None:
    # the message's own row gives the seq; a message that is gone stores nothing. The mark keeps its
    # position (0010_unread_positions.sql): the scope's total less the messages after it, counted as
    # unreads_get counts them (unread_reads.count_after), and the scope's `removed` of this moment
    from .unread_reads import count_after  # (that module reads rows through this one)

    p = {"uid": fact.user_id, "mid": fact.message_id, "cid": fact.channel_id, "tid": fact.thread_id,
         "forward": int(fact.forward_only)}
    row = con.execute(
        "SELECT m.seq, t.thread_key, t.n, t.removed FROM messages m CROSS JOIN message_totals t"
        " ON t.channel_id = m.channel_id AND t.thread_key = COALESCE(m.thread_id, '')"
        " WHERE m.id = :mid AND m.channel_id = :cid AND m.thread_id IS :tid", p).fetchone()
    if row is None:
        return
    seq, thread_key, total, removed = row
    pos = total - count_after(con, fact.channel_id, fact.thread_id, seq, total)
    con.execute(
        "INSERT INTO read_marks(user_id, channel_id, thread_key, message_id, seq, pos, removed)"
        " VALUES (:uid, :cid, :tk, :mid, :seq, :pos, :removed)"
        " ON CONFLICT(user_id, channel_id, thread_key) DO UPDATE SET message_id = excluded.message_id,"
        " seq = excluded.seq, pos = excluded.pos, removed = excluded.removed"
        " WHERE NOT :forward OR excluded.seq > read_marks.seq",
        {**p, "tk": thread_key, "seq": seq, "pos": pos, "removed": removed},
    )


def _mentions_changed(con: sqlite3.Connection, fact: w.MentionsChanged) -> None:
    # the pings rows follow by trigger (pings_edit)
    con.execute("UPDATE messages SET mentions = :m WHERE id = :id",
                {"m": _dump(list(fact.mentions)) if fact.mentions else None, "id": fact.message_id})


def _message_pinned(con: sqlite3.Connection, fact: w.MessagePinned) -> None:
    con.execute("UPDATE messages SET pinned = 1 WHERE id = :id", {"id": fact.message_id})


def _message_unpinned(con: sqlite3.Connection, fact: w.MessageUnpinned) -> None:
    con.execute("UPDATE messages SET pinned = 0 WHERE id = :id", {"id": fact.message_id})


WRITERS: dict[type, Callable[[sqlite3.Connection, Any], None]] = {
    w.UserSaved: _user_saved, w.RoleSaved: _role_saved, w.RoleDeleted: _role_deleted,
    w.ChannelSaved: _channel_saved, w.ChannelsOrdered: _channels_ordered, w.ChannelDeleted: _channel_deleted,
    w.SettingSaved: _setting_saved, w.MessageCreated: _message_created, w.MessageEdited: _message_edited,
    w.MessageDeleted: _message_deleted, w.ReactionAdded: _reaction_added, w.ReactionRemoved: _reaction_removed,
    w.AuditRecorded: _audit_recorded, w.AuditPruned: _audit_pruned, w.TimeoutSaved: _timeout_saved,
    w.SessionCreated: _session_created, w.SessionRevoked: _session_revoked,
    w.UserSessionsRevoked: _user_sessions_revoked,
    w.ReadMarked: _read_marked, w.MentionsChanged: _mentions_changed,
    w.MessagePinned: _message_pinned, w.MessageUnpinned: _message_unpinned,
}
WRITERS.update(POLL_WRITERS)  # polls: store/polls.py
WRITERS.update(ATTACHMENT_WRITERS)  # attachments: store/attachments.py
WRITERS.update(EMOJI_WRITERS)  # custom emoji and server assets: store/emojis.py
WRITERS.update(WEBHOOK_WRITERS)  # store/webhooks.py
WRITERS.update(PUSH_WRITERS)  # web push subscriptions: store/push.py


# ---- threads (extended/threads.md) ------------------------------------------------------------


def _thread_saved(con: sqlite3.Connection, fact: w.ThreadSaved) -> None:
    t = fact.thread
    con.execute(
        "INSERT INTO threads(id, channel_id, name, created_by, created_at, locked, archived, participants)"
        " VALUES (:id, :cid, :name, :by, :at, :locked, :archived, :participants)"
        " ON CONFLICT(id) DO UPDATE SET name=excluded.name, locked=excluded.locked, archived=excluded.archived,"
        " participants=excluded.participants",
        {"id": t.id, "cid": t.channel_id, "name": t.name, "by": t.created_by, "at": t.created_at,
         "locked": int(t.locked), "archived": int(t.archived), "participants": _dump(list(t.participants))},
    )


def _thread_deleted(con: sqlite3.Connection, fact: w.ThreadDeleted) -> None:
    # messages_by_channel finds the thread's messages; reactions are found by message id
    p = {"cid": fact.channel_id, "tid": fact.thread_id}
    con.execute("DELETE FROM reactions WHERE message_id IN"
                " (SELECT id FROM messages WHERE channel_id = :cid AND thread_id = :tid)", p)
    con.execute("DELETE FROM messages WHERE channel_id = :cid AND thread_id = :tid", p)
    con.execute("DELETE FROM threads WHERE id = :tid", p)


WRITERS.update({w.ThreadSaved: _thread_saved, w.ThreadDeleted: _thread_deleted})


def apply_write(con: sqlite3.Connection, fact: Any) -> None:
    WRITERS[type(fact)](con, fact)
