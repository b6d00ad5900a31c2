"""The original's records turned into ours (core/model.py and the other record types), one function
per kind. Each takes the original's object as read, reports what it cannot map through the
`Report`, and returns our record, or None when the record cannot be imported at all.

Names in the original are keys: a message's `user` is a username, a channel is known by its name.
`Ids` maps them to our ids (a user's id; a channel's stable id)."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import attrs

from ..core import polls
from ..core.model import STATUSES, CHANNEL_TYPES, Channel, Message, Role, Thread, User
from ..core.poll_records import Poll
from ..core.push_records import PushSub
from ..core.webhook_records import Webhook, token_hash
from ..core.writes import AuditRecorded
from .source import Report

#: stable channel ids made from the original's channel names (the same name gives the same id)
CHANNEL_NAMESPACE = uuid.UUID("6c1f7d0e-4a55-4d8e-9a51-0f3c2b7a9e11")

USER_FIELDS = frozenset({"username", "nickname", "password_hash", "roles", "status", "pfp_url", "validator"})
ROLE_FIELDS = frozenset({"id", "name", "description", "color", "hoisted", "permissions", "self_assignable",
                         "category", "position"})
THREAD_FIELDS = frozenset({"id", "name", "parent_channel", "created_by", "created_at", "locked", "archived",
                           "participants"})
MESSAGE_FIELDS = frozenset({"user", "content", "timestamp", "id", "reactions", "reply_to", "edited", "pinned",
                            "embeds", "attachments", "webhook", "ping", "interaction", "type"})
POLL_FIELDS = frozenset({"id", "message_id", "channel", "thread_id", "question", "options", "allow_multiselect",
                         "expires_at", "created_by", "created_at", "ended", "ended_at"})
WEBHOOK_FIELDS = frozenset({"id", "channel", "name", "token", "created_by", "created_at", "avatar", "secret"})
PUSH_FIELDS = frozenset({"endpoint", "p256dh", "auth", "device_fingerprint", "last_used", "created_at"})
AUDIT_FIELDS = frozenset({"id", "action", "category", "actor_id", "actor_name", "target_id", "target_name",
                          "details", "timestamp", "reason"})


@attrs.define
class Ids:
    users: dict[str, str] = attrs.Factory(dict)      # casefolded username -> user id
    channels: dict[str, str] = attrs.Factory(dict)   # channel name -> our channel id
    threads: dict[str, str] = attrs.Factory(dict)    # thread id -> its forum's channel id
    user_ids: frozenset[str] = frozenset()

    def account(self, key: str) -> str | None:
        """The id of the account a file keys by its id or by its (possibly lower-cased) username."""
        return key if key in self.user_ids else self.users.get(key.casefold())

    def user(self, name: Any) -> Any:
        """Our id of the account the original names `name` (a username); names it does not know
        (a deleted account, `originChats`) stay as they are."""
        return self.users.get(name.casefold(), name) if isinstance(name, str) else name


def channel_id(name: str) -> str:
    return str(uuid.uuid5(CHANNEL_NAMESPACE, name))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def role_record(report: Report, path: Path, name: str, d: Any) -> Role | None:
    if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not d["id"]:
        report.problem(path, "role without an id: skipped", where=name)
        return None
    report.unknown_fields(path, d, ROLE_FIELDS, where=name)
    perms = d.get("permissions")
    if perms is None:
        perms = ()
    elif isinstance(perms, list):
        perms = tuple(p for p in perms if isinstance(p, str))
    elif not isinstance(perms, dict):
        report.problem(path, "permissions neither a list nor an object: none kept", where=name)
        perms = ()
    position = d.get("position")
    return Role(id=d["id"], name=name, description=_str_or_none(d.get("description")),
                color=_str_or_none(d.get("color")), hoisted=d.get("hoisted") is True, permissions=perms,
                self_assignable=d.get("self_assignable") is True, category=_str_or_none(d.get("category")),
                position=position if isinstance(position, int) and not isinstance(position, bool) else 0)


def user_record(report: Report, path: Path, uid: str, d: Any, now: float) -> User | None:
    if not isinstance(d, dict) or not isinstance(d.get("username"), str) or not d["username"]:
        report.problem(path, "user without a username: skipped", where=uid)
        return None
    report.unknown_fields(path, d, USER_FIELDS, where=uid)
    roles = d.get("roles")
    if not isinstance(roles, list):
        report.problem(path, "roles not a list: given the role 'user'", where=uid)
        roles = ["user"]
    status = d.get("status")
    state, text = "online", ""
    if isinstance(status, dict):
        state = status.get("status") if status.get("status") in STATUSES else "online"
        text = status.get("text") if isinstance(status.get("text"), str) else ""
    pw = d.get("password_hash")
    return User(id=uid, username=d["username"], nickname=_str_or_none(d.get("nickname")),
                password_hash=pw if isinstance(pw, str) and pw else None,
                roles=tuple(dict.fromkeys(r for r in roles if isinstance(r, str))), status=state,
                status_text=text, pfp_url=_str_or_none(d.get("pfp_url")), created_at=now)


def channel_record(report: Report, path: Path, index: int, d: Any, cid: str) -> Channel | None:
    where = f"channel #{index}"
    if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not d["name"]:
        report.problem(path, "channel without a name: skipped", where=where)
        return None
    ctype = d.get("type", "text")
    if ctype not in CHANNEL_TYPES:
        report.problem(path, f"unknown channel type {ctype!r}: skipped", where=d["name"])
        return None
    perms = d.get("permissions") if isinstance(d.get("permissions"), dict) else {}
    size = d.get("size")
    known = {"name", "type", "permissions", "description", "display_name", "size"}
    return Channel(id=cid, name=d["name"], type=ctype, description=_str_or_none(d.get("description")),
                   display_name=_str_or_none(d.get("display_name")),
                   size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                   permissions={k: tuple(r for r in v if isinstance(r, str))
                                for k, v in perms.items() if isinstance(v, list)},
                   extra={k: v for k, v in d.items() if k not in known})  # kept for clients, as ours does


def thread_record(report: Report, path: Path, d: Any, ids: Ids) -> Thread | None:
    if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not isinstance(d.get("name"), str):
        report.problem(path, "thread without an id or a name: skipped")
        return None
    report.unknown_fields(path, d, THREAD_FIELDS)
    forum = ids.channels.get(d.get("parent_channel"))  # type: ignore[arg-type]
    if forum is None:
        report.problem(path, f"thread of an unknown channel {d.get('parent_channel')!r}: skipped")
        return None
    parts = d.get("participants") if isinstance(d.get("participants"), list) else []
    return Thread(id=d["id"], channel_id=forum, name=d["name"], created_by=ids.user(d.get("created_by") or ""),
                  created_at=_number(d.get("created_at")) or 0.0, locked=d.get("locked") is True,
                  archived=d.get("archived") is True,
                  participants=tuple(dict.fromkeys(ids.user(p) for p in parts if isinstance(p, str))))


def message_record(report: Report, path: Path, line: int, d: dict, cid: str, tid: str | None, ids: Ids,
                   poll: Poll | None) -> tuple[Message, list[tuple[str, str]]] | None:
    """The message and its reactions as (emoji, user id) pairs in first-use order."""
    mid, user, content, ts = d.get("id"), d.get("user"), d.get("content"), _number(d.get("timestamp"))
    if not isinstance(mid, str) or not mid or not isinstance(user, str) or not isinstance(content, str) or ts is None:
        report.problem(path, "message without an id, a user, a content or a timestamp: skipped", line=line)
        return None
    for key in d:
        if key not in MESSAGE_FIELDS:
            report.problem(path, f"unknown field {key!r}: not imported", line=line)
    reply = d.get("reply_to")
    rid = ruser = None
    if isinstance(reply, dict) and isinstance(reply.get("id"), str):
        rid, ruser = reply["id"], ids.user(reply.get("user")) if isinstance(reply.get("user"), str) else None
    embeds = d.get("embeds")
    if poll is not None:  # ours carries the poll id in its embed (core/polls.py `embed`)
        others = [e for e in embeds if not (isinstance(e, dict) and e.get("type") == "poll")] \
            if isinstance(embeds, list) else []
        embeds = [polls.embed(poll), *others]
    ping = d.get("ping")
    message = Message(id=mid, channel_id=cid, thread_id=tid, user_id=ids.user(user), content=content, timestamp=ts,
                      reply_to_id=rid, reply_to_user=ruser, ping=ping if isinstance(ping, bool) else None,
                      embeds=embeds if isinstance(embeds, list) and embeds else None,
                      attachments=d.get("attachments") if isinstance(d.get("attachments"), list) and d["attachments"]
                      else None,
                      edited=d.get("edited") is True, pinned=d.get("pinned") is True,
                      type=_str_or_none(d.get("type")), interaction=d.get("interaction"), webhook=d.get("webhook"))
    reactions: list[tuple[str, str]] = []
    raw = d.get("reactions")
    if isinstance(raw, dict):
        for emoji, users in raw.items():
            if isinstance(users, list):
                reactions.extend((emoji, ids.user(u)) for u in users if isinstance(u, str))
    elif raw is not None:
        report.problem(path, "reactions not an object: none kept", line=line)
    return message, reactions


def poll_record(report: Report, path: Path, key: str, d: Any, ids: Ids) -> Poll | None:
    if not isinstance(d, dict) or not isinstance(d.get("message_id"), str) or not isinstance(d.get("question"), str):
        report.problem(path, "poll without a message id or a question: skipped", where=key)
        return None
    report.unknown_fields(path, d, POLL_FIELDS, where=key)
    tid = d.get("thread_id") if isinstance(d.get("thread_id"), str) else None
    cid = ids.threads.get(tid) if tid is not None else ids.channels.get(d.get("channel"))  # type: ignore[arg-type]
    if cid is None:
        report.problem(path, "poll in an unknown channel or thread: skipped", where=key)
        return None
    raw = d.get("options") if isinstance(d.get("options"), list) else []
    options = tuple({k: o[k] for k in ("id", "text", "emoji") if k in o} for o in raw
                    if isinstance(o, dict) and isinstance(o.get("id"), str) and isinstance(o.get("text"), str))
    if len(options) != len(raw):
        report.problem(path, "options without a string id and text: dropped", where=key)
    return Poll(id=d.get("id") if isinstance(d.get("id"), str) else key, message_id=d["message_id"], channel_id=cid,
                thread_id=tid, question=d["question"], options=options,
                allow_multiselect=d.get("allow_multiselect") is True, expires_at=_number(d.get("expires_at")),
                created_by=ids.user(d.get("created_by") or ""), created_at=_number(d.get("created_at")) or 0.0,
                ended=d.get("ended") is True, ended_at=_number(d.get("ended_at")))


def webhook_record(report: Report, path: Path, key: str, d: Any, ids: Ids) -> Webhook | None:
    if not isinstance(d, dict) or not isinstance(d.get("token"), str) or not d["token"]:
        report.problem(path, "webhook without a token: skipped", where=key)
        return None
    report.unknown_fields(path, d, WEBHOOK_FIELDS, where=key)
    cid = ids.channels.get(d.get("channel"))  # type: ignore[arg-type]
    if cid is None:
        report.problem(path, f"webhook of an unknown channel {d.get('channel')!r}: skipped", where=key)
        return None
    return Webhook(id=d.get("id") if isinstance(d.get("id"), str) else key, channel_id=cid,
                   name=d.get("name") if isinstance(d.get("name"), str) else "Webhook",
                   token_hash=token_hash(d["token"]), created_by=ids.user(d.get("created_by")),
                   created_at=_number(d.get("created_at")) or 0.0, avatar=_str_or_none(d.get("avatar")),
                   secret=_str_or_none(d.get("secret")))


def push_record(report: Report, path: Path, owner: str, index: int, d: Any, ids: Ids) -> PushSub | None:
    where = f"{owner} #{index}"
    uid = ids.account(owner)
    if uid is None:
        report.problem(path, "subscription of an unknown account: skipped", where=where)
        return None
    if not isinstance(d, dict) or not all(isinstance(d.get(k), str) and d[k] for k in ("endpoint", "p256dh", "auth")):
        report.problem(path, "subscription without endpoint, p256dh or auth: skipped", where=where)
        return None
    report.unknown_fields(path, d, PUSH_FIELDS, where=where)
    used = _number(d.get("last_used")) or 0.0
    return PushSub(endpoint=d["endpoint"], user_id=uid, p256dh=d["p256dh"], auth=d["auth"],
                   created_at=_number(d.get("created_at")) or used, last_used=used)


def audit_record(report: Report, path: Path, index: int, d: Any) -> AuditRecorded | None:
    where = f"entry #{index}"
    if not isinstance(d, dict) or not isinstance(d.get("id"), str) or not isinstance(d.get("action"), str) \
            or _number(d.get("timestamp")) is None:
        report.problem(path, "audit entry without an id, an action or a timestamp: skipped", where=where)
        return None
    report.unknown_fields(path, d, AUDIT_FIELDS, where=d["id"])
    details = d.get("details")
    reason = d.get("reason") if isinstance(d.get("reason"), str) else \
        details.get("reason") if isinstance(details, dict) and isinstance(details.get("reason"), str) else None
    target = d.get("target_id")
    return AuditRecorded(id=d["id"], time=float(d["timestamp"]), category=str(d.get("category") or "uncategorised"),
                         action=d["action"], actor_id=_str_or_none(d.get("actor_id")),
                         target=None if target is None else str(target), reason=reason, details=details)
