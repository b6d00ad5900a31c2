"""Startup: open the database, migrate, seed a new server, and build the initial `ServerState`."""

from __future__ import annotations

import sqlite3
import uuid

import attrs

from ..core import writes as w
from ..core.defaults import default_general, default_roles
from ..core.ratelimit import Bucket
from ..core.settings import Settings
from ..core.state import ServerState
from . import sql
from .polls import next_expiry

INITIALIZED = "initialized"


def seed_if_new(con: sqlite3.Connection) -> bool:
    """Give a brand-new database the default roles and the `general` channel (once, ever)."""
    if sql.load_settings(con).get(INITIALIZED):
        return False
    con.execute("BEGIN IMMEDIATE")
    try:
        if not sql.load_roles(con):
            for role in default_roles([str(uuid.uuid4()) for _ in range(4)]):
                sql.apply_write(con, w.RoleSaved(role))
        if not sql.load_channels(con):
            sql.apply_write(con, w.ChannelSaved(default_general(str(uuid.uuid4()))))
        sql.apply_write(con, w.SettingSaved(INITIALIZED, True))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


def load_state(con: sqlite3.Connection, settings: Settings) -> ServerState:
    users = sql.load_users(con)
    stored = sql.load_settings(con)
    server_info = {k: stored.get(f"server.{k}", settings.server.get(k) or "") for k in ("name", "icon", "banner")}
    # `server_update` values also replace the handshake / `GET /info` block (an empty icon is unset)
    server = {**settings.server, **{k: v for k, v in server_info.items() if v}}
    for k in ("icon", "banner"):
        if not server_info[k]:
            server.pop(k, None)
    settings = attrs.evolve(settings, server=server)
    return ServerState(
        settings=settings,
        rate_limits={uid: Bucket(timeout_until=until) for uid, until in sql.load_timeouts(con).items()},
        sessions=sql.load_sessions(con),
        users={u.id: u for u in users},
        roles={r.name: r for r in sql.load_roles(con)},
        channels=tuple(sql.load_channels(con)),
        server_info=server_info,
        threads=sql.load_threads(con),
        poll_alarm=next_expiry(con),
    )
