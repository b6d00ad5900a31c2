"""A seeded world for the thread tests: msgworld's channels and members, plus a forum and a thread
with stored history.

* `forum`: members see it, post in it and create threads; a member whose role list starts with
  `muted` (mia) does not see it and cannot post; admins delete others' messages there.
* `ideas` (msgworld): a forum without a `create_thread` key: nobody creates threads there.
* `SEEDED` in `forum`, created by alice, holds `SEEDED_COUNT` messages `s0`… (oldest first).

adam (admin) and mod (moderator) hold `manage_threads`; alice and bob do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from originchats.core import writes as w
from originchats.core.model import Channel, Thread
from tests.client import Client, until_reply
from tests.msgworld import LOCAL, channel_id, msg, world_config

FORUM = "forum"
FORUM_PERMISSIONS = {"view": ("!muted", "user"), "send": ("!muted", "user"), "create_thread": ("!muted", "user"),
                     "delete": ("admin",)}
SEEDED = "th-seeded"
SEEDED_COUNT = 250


def thread_facts() -> list[Any]:
    facts: list[Any] = [w.ChannelSaved(Channel(id=channel_id(FORUM), name=FORUM, type="forum",
                                               permissions=FORUM_PERMISSIONS))]
    facts.append(w.ThreadSaved(Thread(id=SEEDED, channel_id=channel_id(FORUM), name="Seeded", created_by=LOCAL + "alice",
                                      created_at=50.0, participants=(LOCAL + "alice",))))
    for i in range(SEEDED_COUNT):
        facts.append(msg(f"s{i}", channel_id(FORUM), LOCAL + ("alice", "bob")[i % 2], f"seeded {i}", 100.0 + i,
                         thread_id=SEEDED))
    return facts


def thread_config(tmp_path: Path, **overrides: Any) -> Any:
    return world_config(tmp_path, thread_facts(), **overrides)


async def ask(client: Client, cmd: str, **fields: Any) -> dict[str, Any]:
    """Send `cmd` and return the caller's reply (packets before it are skipped)."""
    await client.send(cmd, listener="ask", **fields)
    return (await until_reply(client, "ask"))[1]


async def new_thread(client: Client, name: str = "Hello", channel: str = FORUM) -> dict[str, Any]:
    """Create a thread; returns its wire object."""
    reply = await ask(client, "thread_create", channel=channel, name=name)
    assert reply["cmd"] == "thread_create", reply
    return reply["thread"]


async def post_in(client: Client, thread_id: str, content: str, **fields: Any) -> dict[str, Any]:
    reply = await ask(client, "message_new", thread_id=thread_id, content=content, **fields)
    assert reply["cmd"] == "message_new", reply
    return reply["message"]
