"""The SQL of webhooks (migrations/0014): the writes of core/writes.py's `WebhookSaved` and
`WebhookDeleted`, and what start-up loads. store/sql.py `WRITERS` takes `WEBHOOK_WRITERS`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..core import writes as w
from ..core.webhook_records import Webhook


def _saved(con: sqlite3.Connection, fact: w.WebhookSaved) -> None:
    h = fact.webhook
    con.execute(
        "INSERT INTO webhooks(id, channel_id, name, token_hash, secret, avatar, created_by, created_at)"
        " VALUES (:id, :ch, :name, :hash, :secret, :avatar, :by, :at)"
        " ON CONFLICT(id) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash,"
        " secret = excluded.secret, avatar = excluded.avatar",
        {"id": h.id, "ch": h.channel_id, "name": h.name, "hash": h.token_hash, "secret": h.secret,
         "avatar": h.avatar, "by": h.created_by, "at": h.created_at})


def _deleted(con: sqlite3.Connection, fact: w.WebhookDeleted) -> None:
    con.execute("DELETE FROM webhooks WHERE id = ?", (fact.webhook_id,))


WEBHOOK_WRITERS: dict[type, Callable[[sqlite3.Connection, Any], None]] = {
    w.WebhookSaved: _saved, w.WebhookDeleted: _deleted,
}


def load_webhooks(con: sqlite3.Connection) -> dict[str, Webhook]:
    return {r[0]: Webhook(id=r[0], channel_id=r[1], name=r[2], token_hash=r[3], secret=r[4], avatar=r[5],
                          created_by=r[6], created_at=r[7])
            for r in con.execute("SELECT id, channel_id, name, token_hash, secret, avatar, created_by, created_at"
                                 " FROM webhooks ORDER BY seq")}
