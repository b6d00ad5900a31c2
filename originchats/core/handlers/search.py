"""messages_search and message_replies (extended/reactions_pins_replies.md, "Search", "Replies").

Both read one channel (TEXT: the caller may view it and it is a text channel) or one thread
(`thread_id`, CTX), and only that: a search or a reply list never holds a message from anywhere
else (the reads filter on the channel and thread too, store/reads.py). Search runs on an FTS5
trigram index (migrations/0005_pins_search.sql, 0008_search_index.sql) plus the messages still
waiting for it: a case-insensitive substring of `content`, as the original matched, newest first,
at most `limits.search_results`. The query reaches the index only as quoted trigrams, so FTS5
syntax in it (quotes, `NEAR(`, `*`, `-`, `AND`, parentheses, `content:`) is text to find, never an
operator. Replies come from an index on `reply_to_id`, oldest first.
"""

from __future__ import annotations

from functools import partial

from .. import packets, texts
from ..context import Context
from ..effects import Fetch, Reply, Step
from ..errors import ProtocolError
from ..model import Message
from ..ops import Replies, Search
from ..registry import command
from ..request import Request, opt_int, opt_str, wrong_type
from ..state import ServerState
from .common import me
from .message_rules import HISTORY_CAP, visible
from .pins import text_target

#: `message_replies` without a `limit`
REPLIES_DEFAULT = 50


@command("messages_search")
def handle_messages_search(state: ServerState, ctx: Context, req: Request) -> Step:
    thread_id = opt_str(req, "thread_id")
    query = req.get("query")
    if not (opt_str(req, "channel") or thread_id) or not query:
        raise ProtocolError(texts.SEARCH_FIELDS)
    if not isinstance(query, str):
        raise wrong_type("query", "string", query)  # the original crashed (no reply)
    ch = text_target(state, me(state, ctx), req)
    limits = state.settings
    op = Search(ch.id, query, int(limits.limits.get("search_results", 30)), limits.content.search_scan,
                thread_id or None)
    return Step(state, (Fetch(op, partial(_search_read, channel=ch.name, query=query, thread_id=thread_id or None)),))


def _search_read(state: ServerState, ctx: Context, req: Request, messages: list[Message], *,
                 channel: str, query: str, thread_id: str | None) -> Step:
    return Step(state, (Reply(packets.messages_search(channel, query, visible(state, messages), thread_id)),))


@command("message_replies")
def handle_message_replies(state: ServerState, ctx: Context, req: Request) -> Step:
    thread_id = opt_str(req, "thread_id")
    mid = opt_str(req, "id")
    if not (opt_str(req, "channel") or thread_id) or not mid:
        raise ProtocolError(texts.REPLIES_FIELDS)
    limit = opt_int(req, "limit")  # anything but an integer crashed the original once a reply was found
    # the original tested the limit after adding a reply: 0 or less still gave one
    limit = REPLIES_DEFAULT if limit is None else max(1, min(limit, HISTORY_CAP))
    ch = text_target(state, me(state, ctx), req)
    op = Replies(ch.id, mid, limit, thread_id or None)
    return Step(state, (Fetch(op, partial(_replies_read, channel=ch.name, message_id=mid,
                                          thread_id=thread_id or None)),))


def _replies_read(state: ServerState, ctx: Context, req: Request, messages: list[Message], *,
                  channel: str, message_id: str, thread_id: str | None) -> Step:
    return Step(state, (Reply(packets.message_replies(channel, message_id, visible(state, messages), thread_id)),))
