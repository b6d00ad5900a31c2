"""Content stored before the current limits existed is brought within them, once, at start-up.

The stored-content limits (core/embeds.py, core/budget.py, `[limits]` in config.toml) keep every
new write readable. A database written by an earlier originchats may still hold what those limits
now refuse: an embed with an unknown key nested a thousand levels deep, a 4 MB embed URL, a channel
or role object nested past `json_depth`, an audit entry that quotes such input. One such row makes
every reader of its channel (or of the audit log) fail. So the first start with these rules walks
the JSON columns once and rewrites what no longer passes:

* a message's embeds: cut to the embed schema (unknown keys dropped, as for new messages); embeds
  that fail the schema, or that take the message past `message_bytes`, are removed (the text stays);
* a channel's extra keys and a role's permission object: removed when too deep or too large;
* an audit entry's details: replaced by a note saying they were removed.

Each rewrite is logged with the row's id (never its content). The pass runs in one transaction and
is recorded in `settings` (RECHECK_VERSION), so it runs once; raise the version when a limit
tightens again.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import attrs
import structlog

from ..core.budget import message_size
from ..core.embeds import normalize_embeds
from ..core.jsonsize import Unstorable, json_size
from ..core.polls import poll_of
from ..core.settings import ContentLimits
from ..core.writes import SettingSaved
from . import sql
from .load import load_settings

log = structlog.get_logger("originchats.store")
SETTING = "content_rechecked"
RECHECK_VERSION = 1
REMOVED_DETAILS = {"removed": "details stored before the content limits; too large or nested too deeply"}


def _parse(text: str | None) -> tuple[bool, Any]:
    """(readable, value) of a stored JSON text."""
    if text is None:
        return True, None
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _fits(value: Any, limits: ContentLimits, extra_depth: int = 0) -> bool:
    try:
        json_size(value, max_depth=limits.json_depth + extra_depth, limit=limits.record_bytes)
    except (Unstorable, RecursionError):
        return False
    return True


def _poll_id(embed: Any) -> str | None:
    """The poll id a poll message's embed carries (core/polls.py `embed`): the client's embed schema
    has no such key, so the check would drop it, and the message would lose its poll."""
    poll = poll_of(embed, None)
    poll_id = poll.get("id") if poll is not None else None
    return poll_id if isinstance(poll_id, str) else None


def _embeds(con: sqlite3.Connection, limits: ContentLimits) -> int:
    changed = 0
    rows = con.execute(f"SELECT seq, {sql.MESSAGE_COLUMNS} FROM messages WHERE embeds IS NOT NULL").fetchall()
    for seq, *row in rows:
        readable, embeds = _parse(row[9])
        new = None
        if readable and isinstance(embeds, list) and embeds:
            poll_ids = [_poll_id(e) for e in embeds]  # read first: the check may rewrite `embeds` in place
            try:
                new, _error = normalize_embeds(embeds, limits)
            except RecursionError:
                new = None
            if new:
                for embed, poll_id in zip(new, poll_ids):
                    if poll_id is not None and isinstance(embed.get("poll"), dict):
                        embed["poll"]["id"] = poll_id
        elif readable and embeds == []:
            new = []
        if new:
            message = attrs.evolve(sql.message_from_row((*row[:9], None, *row[10:])), embeds=new)
            try:
                if message_size(message) > limits.message_bytes:
                    new = None
            except (Unstorable, RecursionError):
                new = None
        if not readable or new != embeds:
            con.execute("UPDATE messages SET embeds = ? WHERE seq = ?", (sql._dump(new), seq))
            log.warning("stored_content_rechecked", table="messages", id=row[0],
                        action="embeds trimmed" if new else "embeds removed")
            changed += 1
    return changed


def recheck_records(con: sqlite3.Connection, limits: ContentLimits) -> int:
    """The pass over channels, roles and the audit log (`originchats import` runs it on what it
    wrote, and checks message embeds itself as `message_new` does)."""
    return _channels(con, limits) + _roles(con, limits) + _audit(con, limits)


def _channels(con: sqlite3.Connection, limits: ContentLimits) -> int:
    changed = 0
    for cid, data in con.execute("SELECT id, data FROM channels").fetchall():
        readable, value = _parse(data)
        if readable and isinstance(value, dict) and _fits(value.get("extra", {}), limits):
            continue
        value = value if readable and isinstance(value, dict) else {}
        value["extra"] = {}
        if not _fits(value, limits, extra_depth=2):
            value = {"permissions": {}}
        con.execute("UPDATE channels SET data = ? WHERE id = ?", (sql._dump(value), cid))
        log.warning("stored_content_rechecked", table="channels", id=cid, action="extra keys removed")
        changed += 1
    return changed


def _roles(con: sqlite3.Connection, limits: ContentLimits) -> int:
    changed = 0
    for rid, perms in con.execute("SELECT id, permissions FROM roles").fetchall():
        readable, value = _parse(perms)
        if readable and isinstance(value, (list, dict)) and _fits(value, limits):
            continue
        con.execute("UPDATE roles SET permissions = ? WHERE id = ?", ("[]", rid))
        log.warning("stored_content_rechecked", table="roles", id=rid, action="permissions removed")
        changed += 1
    return changed


def _audit(con: sqlite3.Connection, limits: ContentLimits) -> int:
    changed = 0
    for aid, details in con.execute("SELECT id, details FROM audit_log WHERE details IS NOT NULL").fetchall():
        readable, value = _parse(details)
        if readable and _fits(value, limits, extra_depth=2):
            continue
        con.execute("UPDATE audit_log SET details = ? WHERE id = ?", (sql._dump(REMOVED_DETAILS), aid))
        log.warning("stored_content_rechecked", table="audit_log", id=aid, action="details removed")
        changed += 1
    return changed


def recheck_stored_content(con: sqlite3.Connection, limits: ContentLimits) -> int:
    """Run the pass if this database has not had it; returns how many rows it rewrote."""
    if load_settings(con).get(SETTING, 0) >= RECHECK_VERSION:
        return 0
    con.execute("BEGIN IMMEDIATE")
    try:
        changed = _embeds(con, limits) + recheck_records(con, limits)
        sql.apply_write(con, SettingSaved(SETTING, RECHECK_VERSION))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return changed
