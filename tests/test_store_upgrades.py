"""Migrations 0009-0011 on databases written by the migration before each (store level): the word-pair
grams of the messages already indexed (0009), the positions of the read marks already set (0010) and
the ping pairs of the pings already stored (0011), each then read by the current code and kept by
the new triggers."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from originchats.core import ops
from originchats.core import writes as w
from originchats.core.model import Message
from originchats.store import grams, reads, search_index, sql
from originchats.store.migrate import MIGRATIONS_DIR, apply_migrations, available


def up_to(tmp_path: Path, last: int) -> sqlite3.Connection:
    folder = tmp_path / f"upto{last}"
    folder.mkdir()
    for version, path in available():
        if version <= last:
            shutil.copy(Path(str(MIGRATIONS_DIR)) / path.name, folder)
    con = sqlite3.connect(":memory:", isolation_level=None)
    assert apply_migrations(con, folder)[-1] == last
    return con


def rest(con: sqlite3.Connection, first: int) -> None:
    assert apply_migrations(con)[0] == first


def store(con: sqlite3.Connection, *facts: object) -> None:
    con.execute("BEGIN")
    for fact in facts:
        sql.apply_write(con, fact)
    con.execute("COMMIT")


def message(mid: str, content: str, channel: str = "c", thread: str | None = None) -> Message:
    return Message(id=mid, channel_id=channel, thread_id=thread, user_id="u", content=content, timestamp=0.0)


def gram_rows(con: sqlite3.Connection, scope_of: str, text: str) -> int:
    (scope,) = con.execute("SELECT id FROM search_scopes WHERE channel_id = ? AND thread_key = ''", (scope_of,)).fetchone()
    expr = " AND ".join(reads.fts_phrase(grams.token(scope, g)) for g in grams.grams(text.lower()))
    return con.execute("SELECT COUNT(*) FROM search_grams WHERE search_grams MATCH ?", (expr,)).fetchone()[0]


def test_0009_indexes_the_grams_of_messages_already_indexed(tmp_path):
    con = up_to(tmp_path, 7)
    for i, text in enumerate(["Hello World one", "hello world two", "say hello worldwide"]):
        con.execute("INSERT INTO messages(id, channel_id, user_id, content, timestamp) VALUES (?, 'c', 'u', ?, 0)",
                    (f"m{i}", text))
    con.execute("INSERT INTO messages(id, channel_id, user_id, content, timestamp)"
                " VALUES ('d0', 'd', 'u', 'hello world elsewhere', 0)")
    rest(con, 8)  # 0008 indexes them all (trigrams); 0009 adds their grams
    con.execute("INSERT INTO messages(id, channel_id, user_id, content, timestamp)"
                " VALUES ('m3', 'c', 'u', 'waiting: hello world', 0)")  # waits (search_pending)
    assert gram_rows(con, "c", "llo wor") == 3 and gram_rows(con, "d", "llo wor") == 1
    hits = lambda: [m.id for m in reads.search(con, ops.Search("c", "HELLO WORLD", 30, 5000))]  # noqa: E731
    assert hits() == ["m3", "m2", "m1", "m0"]
    con.execute("BEGIN")
    search_index.index_pending(con)
    con.execute("COMMIT")
    assert gram_rows(con, "c", "llo wor") == 4 and hits() == ["m3", "m2", "m1", "m0"]
    store(con, w.MessageDeleted("m0"), w.MessageEdited("m1", "goodbye world", None))
    assert gram_rows(con, "c", "llo wor") == 2 and hits() == ["m3", "m2"]
    con.execute("INSERT INTO search_grams(search_grams) VALUES ('integrity-check')")


def test_0010_gives_the_marks_already_set_their_positions(tmp_path):
    con = up_to(tmp_path, 9)
    store(con, *[w.MessageCreated(message(f"m{i}", "x", "c" if i % 3 else "d")) for i in range(9000)],
          *[w.MessageCreated(message(f"t{i}", "x", "d", "th")) for i in range(5)])
    store(con, w.MessageDeleted("m1"), w.MessageDeleted("m8000"))
    for user, (mid, channel, thread) in enumerate((("m4099", "c", None), ("m8999", "c", None), ("m3", "d", None),
                                                  ("t2", "d", "th"))):
        # what 0006's _read_marked stored
        con.execute("INSERT INTO read_marks(user_id, channel_id, thread_key, message_id, seq)"
                    " SELECT ?, ?, ?, id, seq FROM messages WHERE id = ?", (f"u{user}", channel, thread or "", mid))
    rest(con, 10)
    marks = con.execute("SELECT message_id, pos, removed FROM read_marks ORDER BY message_id").fetchall()

    def up_to_mark(mid: str) -> int:
        return con.execute("SELECT COUNT(*) FROM messages m, messages x WHERE x.id = ? AND m.channel_id = x.channel_id"
                           " AND m.thread_id IS x.thread_id AND m.seq <= x.seq", (mid,)).fetchone()[0]

    assert marks == [(mid, up_to_mark(mid), 0) for mid in ("m3", "m4099", "m8999", "t2")]
    (total_c,) = con.execute("SELECT COUNT(*) FROM messages WHERE channel_id = 'c'").fetchone()
    (total_d,) = con.execute("SELECT COUNT(*) FROM messages WHERE channel_id = 'd' AND thread_id IS NULL").fetchone()
    unread = lambda user, channel, thread=None: reads.run_read(  # noqa: E731
        con, ops.UnreadState(user, ((channel, thread),)))[0][2:]
    assert unread("u0", "c") == ("m4099", total_c - up_to_mark("m4099"), total_c)
    assert unread("u1", "c") == ("m8999", 0, total_c)
    assert unread("u2", "d") == ("m3", total_d - 2, total_d)
    assert unread("u3", "d", "th") == ("t2", 2, 5)
    store(con, w.MessageCreated(message("new", "x", "c")), w.MessageDeleted("m2"))  # m2: before both marks in c
    assert unread("u0", "c") == ("m4099", total_c - up_to_mark("m4099"), total_c)
    assert unread("u1", "c") == ("m8999", 1, total_c)


def test_0011_counts_the_pairs_of_pings_already_stored(tmp_path):
    con = up_to(tmp_path, 10)
    three, two = ("u:bob", "r:a", "r:b"), ("u:bob", "r:a")
    store(con, *[w.MessageCreated(message(f"m{i}", "x", "c" if i % 2 else "d"), three if i % 3 == 0 else two)
                 for i in range(30)],
          w.MessageCreated(message("solo", "x"), ("u:bob",)), w.MessageCreated(message("dup", "x"), ("r:a", "r:a")))
    rest(con, 11)
    pairs = con.execute("SELECT target, channel_id, n FROM ping_counts WHERE instr(channel_id, char(31)) ORDER BY 1, 2")
    assert pairs.fetchall() == [("r:a", "c\x1fu:bob", 10), ("r:a", "d\x1fu:bob", 10)]  # two targets only
    assert con.execute("SELECT COUNT(*) FROM pings WHERE many = 1").fetchone() == (30,)
    page = lambda targets, channels: reads.run_read(con, ops.PingsPage(targets, channels, 0, 50))[1]  # noqa: E731

    def brute(targets: tuple[str, ...], channels: tuple[str, ...]) -> int:
        marks = ",".join("?" * len(targets))
        return con.execute(f"SELECT COUNT(*) FROM messages WHERE channel_id IN ({','.join('?' * len(channels))})"
                           f" AND EXISTS (SELECT 1 FROM json_each(mentions) WHERE value IN ({marks}))",
                           (*channels, *targets)).fetchone()[0]

    asks = [(("u:bob", "r:a", "r:b"), ("c", "d")), (("u:bob", "r:b"), ("c",)), (("r:a", "r:b"), ("d",)),
            (("r:a",), ("c", "d"))]
    assert [page(*a) for a in asks] == [brute(*a) for a in asks] == [32, 16, 15, 31]
    store(con, w.MessageDeleted("m0"), w.MessageCreated(message("new", "x", "c"), three),
          w.MentionsChanged("m3", ("r:b",)))
    assert [page(*a) for a in asks] == [brute(*a) for a in asks] == [32, 17, 14, 30]
