"""The word-pair grams of the second search index (migrations/0009_search_grams.sql).

A gram is seven characters of a message's lowercased text centred on a space, with three
characters that are not spaces on each side: the end of one word and the start of the next
("abc def" in "xabc defy"). A message holding a query holds every such window of the query, so the
messages holding all of a query's grams are a superset of its matches, which are then checked in
full (store/reads.py `search`). Unlike a trigram, a gram spans two words, so it is rare even when
both words are common, and each gram is indexed under its channel or thread (its scope), so a
search walks only its own scope's candidates.

A token is `<scope id>x<the gram's UTF-8 bytes in hex>`: one word for FTS5's `ascii` tokenizer,
whatever the gram holds. Only grams of ASCII characters are kept, so the gram of a query and the
gram of a message's text can never differ by a case folding the tokenizer or SQLite does
differently from Python: both sides come from `str.lower()` here, the same lowering the full check
uses.

SQLite calls `search_grams_sql` (registered as `oc_search_grams` on every connection the store
opens, `register`) to index a message and to remove it again, so both see the same tokens."""

from __future__ import annotations

import sqlite3

#: non-space characters each side of the space
SIDE = 3
WIDTH = 2 * SIDE + 1
#: the name SQLite knows the function by (the migrations and store/sql.py call it)
SQL_NAME = "oc_search_grams"


def grams(lowered: str) -> list[str]:
    """The distinct grams of an already lowercased text, in order."""
    out: dict[str, None] = {}
    at = lowered.find(" ", SIDE)
    while 0 <= at <= len(lowered) - SIDE - 1:
        window = lowered[at - SIDE:at + SIDE + 1]
        if window.count(" ") == 1 and window.isascii():
            out[window] = None
        at = lowered.find(" ", at + 1)
    return list(out)


def token(scope_id: int, gram: str) -> str:
    return f"{scope_id}x{gram.encode().hex()}"


def search_grams_sql(scope_id: int | None, content: str | None) -> str:
    """The tokens of a message's text in its scope, space-separated ('' when it has none)."""
    if scope_id is None or not content:
        return ""
    return " ".join(token(scope_id, g) for g in grams(content.lower()))


def register(con: sqlite3.Connection) -> None:
    con.create_function(SQL_NAME, 2, search_grams_sql, deterministic=True)
