"""Content an older originchats stored before the stored-content limits is brought within them at
the first start (store/recheck.py): hostile rows written straight into the database, as that version
accepted them, no longer break any reader."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import structlog.testing

from originchats.store.db import db_path
from originchats.store.recheck import RECHECK_VERSION, SETTING
from tests.client import MemoryListener
from tests.offline import query
from tests.readers import read_back

import trio


BOMB = "[" * 950 + '"x"' + "]" * 950  # JSON text nested 950 deep (too deep for json.dumps here)


async def test_hostile_rows_from_an_older_version_are_made_readable(server):
    boss = await server.owner("boss")
    await server.user("bob")
    await boss.send("message_new", channel="general", content="before")
    await boss.send("message_new", channel="general", content="kept", embeds=[{"title": "ok"}])
    await boss.drain()
    (general,) = query(server, "SELECT id FROM channels WHERE name = 'general'")[0]
    await server.shutdown()
    with contextlib.closing(sqlite3.connect(db_path(server.config.storage.data_dir))) as con, con:
        seq = con.execute("SELECT MAX(seq) FROM messages").fetchone()[0]
        rows = [  # what the old code let in: an unknown key nested ~950 deep, a 4 MB URL
            ("m-deep", '[{"title": "t", "x": ' + BOMB + "}]"),
            ("m-huge", json.dumps([{"url": "https://e.example/" + "a" * 4_000_000}])),
            ("m-garbage", "not json at all"),
        ]
        for i, (mid, text) in enumerate(rows):
            con.execute("INSERT INTO messages(seq, id, channel_id, user_id, content, timestamp, embeds) "
                        "VALUES (?, ?, ?, 'USR:local_boss', 'old', 1.0, ?)", (seq + 1 + i, mid, general, text))
        data = con.execute("SELECT data FROM channels WHERE id = ?", (general,)).fetchone()[0]
        data = data[:-1] + ', "extra": {"wallpaper": ' + BOMB + "}}"  # the key is missing until set
        con.execute("UPDATE channels SET data = ? WHERE id = ?", (data, general))
        con.execute("UPDATE roles SET permissions = ? WHERE name = 'user'", ('{"mention_roles": ' + BOMB + "}",))
        con.execute("INSERT INTO audit_log(id, time, category, action, details) "
                    "VALUES ('a-deep', 2.0, 'channel_management', 'channel_updated', ?)", ('{"u": ' + BOMB + "}",))
        con.execute("DELETE FROM settings WHERE key = ?", (SETTING,))  # as before the pass existed
    server.listener, server.stop, server.stopped = MemoryListener(), trio.Event(), trio.Event()
    with structlog.testing.capture_logs() as logs:
        await server.start()
    rechecked = {(e["table"], e["id"]) for e in logs if e["event"] == "stored_content_rechecked"}
    assert rechecked == {("messages", "m-deep"), ("messages", "m-huge"), ("messages", "m-garbage"),
                         ("channels", general), ("roles", query(server, "SELECT id FROM roles WHERE name = 'user'")[0][0]),
                         ("audit_log", "a-deep")}
    await read_back(server)
    embeds = dict(query(server, "SELECT id, embeds FROM messages WHERE id LIKE 'm-%'"))
    assert json.loads(embeds["m-deep"]) == [{"title": "t", "type": "rich"}] or json.loads(embeds["m-deep"]) == [{"title": "t"}]
    assert embeds["m-huge"] is None and embeds["m-garbage"] is None
    assert query(server, "SELECT content FROM messages WHERE content = 'kept'")  # nothing else touched
    assert query(server, "SELECT value FROM settings WHERE key = ?", (SETTING,)) == [(json.dumps(RECHECK_VERSION),)]
    # once only: the next start does not walk the tables again
    await server.restart()


async def test_a_recheck_keeps_the_poll_a_poll_message_carries(server):
    """A poll message's embed names its poll (core/polls.py), a key the client's embed schema lacks:
    a later recheck (a raised RECHECK_VERSION) must not cut it, or the message loses its poll."""
    boss = await server.owner("boss")
    await boss.send("poll_create", channel="general", question="Tea or coffee?",
                    options=[{"text": "tea"}, {"text": "coffee"}], listener="p")
    created = None
    while created is None:
        packet = await boss.recv()
        if packet.get("listener") == "p":
            created = packet
    assert created["cmd"] != "error", created
    await boss.drain()
    before = dict(query(server, "SELECT id, embeds FROM messages WHERE embeds LIKE '%\"poll\"%'"))
    (poll_id,) = {json.loads(e)[0]["poll"]["id"] for e in before.values()}
    await server.shutdown()
    with contextlib.closing(sqlite3.connect(db_path(server.config.storage.data_dir))) as con, con:
        con.execute("DELETE FROM settings WHERE key = ?", (SETTING,))  # as if the pass had to run again
    server.listener, server.stop, server.stopped = MemoryListener(), trio.Event(), trio.Event()
    await server.start()
    after = dict(query(server, "SELECT id, embeds FROM messages WHERE id IN (%s)" % ",".join("?" * len(before)),
                       tuple(before)))
    assert {json.loads(e)[0]["poll"]["id"] for e in after.values()} == {poll_id}
    boss = await server.owner("boss")
    (message_id,) = before
    await boss.send("poll_get", message_id=message_id, listener="g")  # the message still finds its poll
    answer = None
    while answer is None:
        packet = await boss.recv()
        if packet.get("listener") == "g":
            answer = packet
    assert answer["cmd"] != "error" and answer["poll"]["id"] == poll_id, answer
