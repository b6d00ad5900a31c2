"""The search index at the store level (migrations/0005_pins_search.sql and 0008_search_index.sql,
store/reads.py `search`, store/search_index.py `index_pending`): it holds the messages stored before the
migrations, follows every insert, edit and delete in the same transaction (channel and thread
deletion included), whether a message still waits for the index or is in it, keeps each channel's
and thread's messages apart, and answers exactly what the original's scan answered, whatever the
query."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from originchats.core import ops
from originchats.core import writes as w
from originchats.core.model import Channel, Message
from originchats.store import reads, search_index, sql
from originchats.store.migrate import MIGRATIONS_DIR, apply_migrations, available

def indexed_count(con: sqlite3.Connection, text: str) -> int:
    """Rows of the FTS5 index holding every trigram of `text` (candidates, not checked)."""
    expr = " AND ".join(reads.fts_phrase(t) for t in reads.query_trigrams(text))
    return con.execute("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?", (expr,)).fetchone()[0]


def index_now(con: sqlite3.Connection) -> None:
    """What the writer does at the end of a group once enough messages wait."""
    con.execute("BEGIN")
    search_index.index_pending(con)
    con.execute("COMMIT")


def migrated(folder: Path | None = None) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None)
    apply_migrations(con) if folder is None else apply_migrations(con, folder)
    return con


def store(con: sqlite3.Connection, *facts: object) -> None:
    con.execute("BEGIN")
    for fact in facts:
        sql.apply_write(con, fact)
    con.execute("COMMIT")


def brute(contents: list[str], query: str, limit: int) -> list[int]:
    """The original's search: newest first, `query.lower() in content.lower()`."""
    return [i for i in reversed(range(len(contents))) if query.lower() in contents[i].lower()][:limit]


def test_messages_stored_before_the_migration_are_indexed(tmp_path):
    early = tmp_path / "early"
    early.mkdir()
    for path in sorted(Path(str(MIGRATIONS_DIR)).glob("000[1-4]_*.sql")):
        shutil.copy(path, early)
    con = migrated(early)
    for i, content in enumerate(["old hello", "old world", "hello again"]):
        con.execute("INSERT INTO messages(id, channel_id, user_id, content, timestamp) VALUES (?, 'c', 'u', ?, 0)",
                    (f"m{i}", content))
    con.execute("INSERT INTO messages(id, channel_id, thread_id, user_id, content, timestamp)"
                " VALUES ('t0', 'c', 'th', 'u', 'hello in a thread', 0)")
    assert apply_migrations(con)[0] == 5  # and any later ones
    found = reads.search(con, ops.Search("c", "hello", 30, 5000))
    assert [m.id for m in found] == ["m2", "m0"]  # the thread's message is not the channel's
    assert [m.id for m in reads.search(con, ops.Search("c", "hello", 30, 5000, thread_id="th"))] == ["t0"]
    store(con, w.MessageDeleted("m0"))
    assert [m.id for m in reads.search(con, ops.Search("c", "hello", 30, 5000))] == ["m2"]
    con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


def test_channel_and_thread_deletion_empty_their_scope_and_leave_others():
    con = migrated()
    store(con, w.ChannelSaved(Channel(id="a", name="a")), w.ChannelSaved(Channel(id="b", name="b")),
          *[w.MessageCreated(Message(id=f"{c}{i}", channel_id=c, user_id="u", content=f"shared text {i}", timestamp=i))
            for c in "ab" for i in range(3)],
          *[w.MessageCreated(Message(id=f"t{i}", channel_id="b", thread_id="th", user_id="u", content=f"shared {i}",
                                     timestamp=i)) for i in range(2)])
    index_now(con)
    store(con, w.MessageCreated(Message(id="a3", channel_id="a", user_id="u", content="shared, waiting", timestamp=3)))
    assert indexed_count(con, "shared") == 8  # and a3 waits
    store(con, w.ChannelDeleted("a"))
    assert reads.search(con, ops.Search("a", "shared", 30, 5000)) == []
    assert [m.id for m in reads.search(con, ops.Search("b", "shared", 30, 5000))] == ["b2", "b1", "b0"]
    assert [m.id for m in reads.search(con, ops.Search("b", "shared", 30, 5000, thread_id="th"))] == ["t1", "t0"]
    assert indexed_count(con, "shared") == 5
    assert con.execute("SELECT COUNT(*) FROM search_pending").fetchone() == (0,)
    store(con, w.ThreadDeleted("b", "th"))
    assert reads.search(con, ops.Search("b", "shared", 30, 5000, thread_id="th")) == []
    assert indexed_count(con, "shared") == 3
    con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


def test_an_index_written_by_0005_is_rebuilt_by_0008(tmp_path):
    """A database that ran with 0005's index (its triggers wrote every message, edit and delete)
    keeps finding the same messages after 0008, which indexes them all again; new messages wait."""
    folder = tmp_path / "upto7"
    folder.mkdir()
    for path in sorted(Path(str(MIGRATIONS_DIR)).glob("000[1-7]_*.sql")):
        shutil.copy(path, folder)
    con = migrated(folder)
    store(con, *[w.MessageCreated(Message(id=f"m{i}", channel_id="c", user_id="u", content=f"old hello {i}", timestamp=i))
                 for i in range(4)],
          w.MessageCreated(Message(id="t0", channel_id="c", thread_id="th", user_id="u", content="hello", timestamp=9)))
    store(con, w.MessageEdited("m1", "goodbye", None), w.MessageDeleted("m2"))
    assert apply_migrations(con) == [v for v, _ in available() if v >= 8]
    assert con.execute("SELECT COUNT(*) FROM search_pending").fetchone() == (0,)
    assert [m.id for m in reads.search(con, ops.Search("c", "hello", 30, 5000))] == ["m3", "m0"]
    assert [m.id for m in reads.search(con, ops.Search("c", "ello", 30, 5000, thread_id="th"))] == ["t0"]
    assert indexed_count(con, "hello") == 3
    store(con, w.MessageCreated(Message(id="m4", channel_id="c", user_id="u", content="new hello", timestamp=4)))
    assert [m.id for m in reads.search(con, ops.Search("c", "hello", 30, 5000))] == ["m4", "m3", "m0"]
    assert indexed_count(con, "hello") == 3
    con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


syntax = ['"', "*", "(", ")", ":", "-", "^", "é", "É", "N", "E", "R"]
# the Kelvin sign lowercases to an ASCII "k": the grams (store/grams.py) must come from the same
# lowering as the check
folds = ["\u212a", "k"]
chars_ = st.text(st.sampled_from([*"abAB  ", *syntax, *folds]), max_size=30)
# and words (a space between runs of three or more characters: the grams index answers those)
words_ = st.lists(st.sampled_from(["abk", "ABK", "\u212aab", "kab", "bab", "ab", "a\"b*", "é:b", "Éab"]),
                  min_size=2, max_size=6).map(" ".join)
texts_ = chars_ | words_
# NUL goes into queries only: the trigram tokenizer stops at a NUL, so text after a NUL in a message
# is not indexed (docs/compatibility.md); a query holding one is answered by the bounded scan
queries_ = st.text(st.sampled_from([*"abAB  ", *syntax, *folds, "\x00"]), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(contents=st.lists(texts_, min_size=1, max_size=12), queries=st.lists(queries_, min_size=1, max_size=6),
       edits=st.lists(st.tuples(st.integers(0, 11), texts_ | st.none(), st.booleans()), max_size=4),
       indexed=st.sampled_from([0, 6, 12]), crowd=st.sampled_from([1, 100]), limit=st.integers(1, 5))
def test_search_is_the_originals_substring_match(contents, queries, edits, indexed, crowd, limit):
    """Whatever the texts and queries (FTS5 syntax, NUL, short, long), the indexed search returns what
    the original's scan returned, after edits and deletes too, and never raises: with every message
    waiting for the index, every message in it, or some of each (the index takes the waiting ones
    after the first `indexed` messages and after some of the edits); with the channel holding most
    messages, or few of them (`crowd` messages elsewhere: the index is asked for its scope too)."""
    con = migrated()
    created = [w.MessageCreated(Message(id=f"m{i}", channel_id="c", user_id="u", content=t, timestamp=i))
               for i, t in enumerate(contents)]
    store(con, *created[:indexed],
          *[w.MessageCreated(Message(id=f"other{k}", channel_id="d", user_id="u", content="".join(contents), timestamp=99))
            for k in range(crowd)])
    index_now(con)
    if created[indexed:]:
        store(con, *created[indexed:])
    alive = dict(enumerate(contents))
    for i, new, then_index in edits:
        if i in alive:
            store(con, w.MessageEdited(f"m{i}", new, None) if new is not None else w.MessageDeleted(f"m{i}"))
            alive = {**alive, i: new} if new is not None else {k: v for k, v in alive.items() if k != i}
        if then_index:
            index_now(con)
    order = sorted(alive)
    # and pieces of the texts: short ones, two words (the grams), and some longer than the index is
    # asked for (SEARCH_TRIGRAMS, SEARCH_GRAMS)
    for query in [*queries, *(c[1:5] for c in contents if len(c) > 4),
                  *(c[max(0, j - 4):j + 4 + k % 2] for k, c in enumerate(contents) for j in range(3, len(c) - 3)
                    if c[j] == " "),
                  *(c[2:26] for c in contents if len(c) > 18)]:
        found = [m.id for m in reads.search(con, ops.Search("c", query, limit, 5000))]
        want = [f"m{order[j]}" for j in brute([alive[k] for k in order], query, limit)]
        assert found == want, (query, alive)
    con.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    con.execute("INSERT INTO search_grams(search_grams) VALUES ('integrity-check')")
    con.close()
