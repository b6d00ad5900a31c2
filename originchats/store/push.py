"""The SQL of web push subscriptions (migrations/0015): the writes of core/writes.py's
`PushSubscribed`, `PushUnsubscribed`, `PushUsed`, and what start-up loads."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..core import writes as w
from ..core.push_records import PushSub


def _subscribed(con: sqlite3.Connection, fact: w.PushSubscribed) -> None:
    s = fact.sub
    con.execute("INSERT INTO push_subscriptions(endpoint, user_id, p256dh, auth, created_at, last_used)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(endpoint) DO UPDATE SET user_id = excluded.user_id,"
                " p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at,"
                " last_used = excluded.last_used",
                (s.endpoint, s.user_id, s.p256dh, s.auth, s.created_at, s.last_used))


def _unsubscribed(con: sqlite3.Connection, fact: w.PushUnsubscribed) -> None:
    con.executemany("DELETE FROM push_subscriptions WHERE endpoint = ?", [(e,) for e in fact.endpoints])


def _used(con: sqlite3.Connection, fact: w.PushUsed) -> None:
    con.executemany("UPDATE push_subscriptions SET last_used = ? WHERE endpoint = ?",
                    [(fact.when, e) for e in fact.endpoints])


PUSH_WRITERS: dict[type, Callable[[sqlite3.Connection, Any], None]] = {
    w.PushSubscribed: _subscribed,
    w.PushUnsubscribed: _unsubscribed,
    w.PushUsed: _used,
}


def load_push_subs(con: sqlite3.Connection) -> dict[str, tuple[PushSub, ...]]:
    """user id -> subscriptions, oldest first."""
    out: dict[str, list[PushSub]] = {}
    for row in con.execute("SELECT endpoint, user_id, p256dh, auth, created_at, last_used"
                           " FROM push_subscriptions ORDER BY created_at, endpoint"):
        out.setdefault(row[1], []).append(PushSub(*row))
    return {uid: tuple(subs) for uid, subs in out.items()}
