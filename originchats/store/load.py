"""Startup: open the database, migrate, seed a new server, and build the initial `ServerState`."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

import attrs

from ..core import writes as w
from ..core.defaults import default_general, default_roles
from ..core.ratelimit import Bucket
from ..core.settings import Settings
from ..core.model import Channel, Role, Thread, User
from ..core.state import ServerState
from . import sql
from .migrate import MigrationError
from ..core.attachment_table import AttachmentTable
from .attachments import load_attachments
from .emojis import load_assets, load_emojis, next_emoji_id
from .webhooks import load_webhooks
from .push import load_push_subs
from .polls import next_expiry

INITIALIZED = "initialized"
IMPORT_RUNNING = "import.running"  # set while `originchats import` is unfinished (originchats/importer/run.py)


def refuse_unfinished_import(con: sqlite3.Connection) -> None:
    """A store an import is still filling is never served: a crash or Ctrl-C left part of it."""
    running = load_settings(con).get(IMPORT_RUNNING)
    if running:
        source = running.get("source") if isinstance(running, dict) else None
        raise MigrationError(f"an import of {source} into this store is unfinished: run the same"
                             " `originchats import` again to finish it")


def seed_if_new(con: sqlite3.Connection) -> bool:
    """Give a brand-new database the default roles and the `general` channel (once, ever)."""
    if load_settings(con).get(INITIALIZED):
        return False
    con.execute("BEGIN IMMEDIATE")
    try:
        if not load_roles(con):
            for role in default_roles([str(uuid.uuid4()) for _ in range(4)]):
                sql.apply_write(con, w.RoleSaved(role))
        if not load_channels(con):
            sql.apply_write(con, w.ChannelSaved(default_general(str(uuid.uuid4()))))
        sql.apply_write(con, w.SettingSaved(INITIALIZED, True))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


def load_state(con: sqlite3.Connection, settings: Settings) -> ServerState:
    users = load_users(con)
    stored = load_settings(con)
    server_info = {k: stored.get(f"server.{k}", settings.server.get(k) or "") for k in ("name", "icon", "banner")}
    # `server_update` values also replace the handshake / `GET /info` block (an empty icon is unset)
    server = {**settings.server, **{k: v for k, v in server_info.items() if v}}
    for k in ("icon", "banner"):
        if not server_info[k]:
            server.pop(k, None)
    settings = attrs.evolve(settings, server=server)
    return ServerState(
        settings=settings,
        rate_limits={uid: Bucket(timeout_until=until) for uid, until in load_timeouts(con).items()},
        sessions=load_sessions(con),
        users={u.id: u for u in users},
        roles={r.name: r for r in load_roles(con)},
        channels=tuple(load_channels(con)),
        server_info=server_info,
        threads=load_threads(con),
        poll_alarm=next_expiry(con),
        attachments=AttachmentTable.of(load_attachments(con)),
        emojis=load_emojis(con),
        emoji_next=next_emoji_id(con),
        server_assets=load_assets(con),
        webhooks=(hooks := load_webhooks(con)),
        webhook_tokens={h.token_hash: h.id for h in hooks.values()},
        push_subs=load_push_subs(con),
    )


# ---- the stored records, read at start ------------------------------------------------------


def load_users(con: sqlite3.Connection) -> list[User]:
    return [sql.user_from_row(r) for r in con.execute(
        "SELECT id, username, nickname, password_hash, roles, status, status_text, pfp_url, created_at, deleted"
        " FROM users ORDER BY rowid")]


def load_roles(con: sqlite3.Connection) -> list[Role]:
    return [sql.role_from_row(r) for r in con.execute(
        "SELECT id, name, description, color, hoisted, permissions, self_assignable, category, position"
        " FROM roles ORDER BY rowid")]


def load_channels(con: sqlite3.Connection) -> list[Channel]:
    return [sql.channel_from_row(r) for r in con.execute("SELECT id, name, type, data FROM channels ORDER BY position, rowid")]


def load_settings(con: sqlite3.Connection) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM settings")}


def load_sessions(con: sqlite3.Connection) -> dict[str, tuple[str, float]]:
    """token hash -> (user id, created at), for accounts that are neither banned nor deleted; the
    tokens of the others are deleted here (revoked on load)."""
    out = {}
    dead = set()
    users = {u.id: u for u in load_users(con)}
    for h, uid, created in con.execute("SELECT token_hash, user_id, created_at FROM sessions"):
        user = users.get(uid)
        if user is None or user.deleted or user.banned:
            dead.add(uid)
        else:
            out[h] = (uid, created)
    if dead:
        con.executemany("DELETE FROM sessions WHERE user_id = ?", [(uid,) for uid in dead])
    return out


def load_timeouts(con: sqlite3.Connection) -> dict[str, float]:
    """user id -> end of their manual timeout (expired ones too; the limiter ignores those)."""
    return {uid: until for uid, until in con.execute("SELECT user_id, until FROM timeouts")}


def load_threads(con: sqlite3.Connection) -> list[Thread]:
    """Every thread, with its newest message (MAX(seq) of the thread through messages_by_channel)."""
    out = []
    for (tid, cid, name, by, at, locked, archived, participants, last_ts, last_id) in con.execute(
        "SELECT t.id, t.channel_id, t.name, t.created_by, t.created_at, t.locked, t.archived, t.participants,"
        " m.timestamp, m.id FROM threads t LEFT JOIN messages m ON m.seq ="
        " (SELECT MAX(seq) FROM messages WHERE channel_id = t.channel_id AND thread_id = t.id)"
        " ORDER BY t.created_at, t.id"
    ):
        out.append(Thread(id=tid, channel_id=cid, name=name, created_by=by, created_at=at, locked=bool(locked),
                          archived=bool(archived), participants=tuple(json.loads(participants)),
                          last_message=last_ts, last_message_id=last_id))
    return out
