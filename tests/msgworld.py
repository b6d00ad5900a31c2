"""A seeded world for the message tests: channels with restrictive permission lists, members with
role lists the role commands would give them, restricted roles and stored history — all written
to the data directory through `originchats.store` before the server starts.

Use it by overriding the `config` fixture in a test module:

    @pytest.fixture
    def config(tmp_path):
        return world_config(tmp_path)

Seeded members log in with `server.user(name)` (the password is the harness default).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import argon2

from originchats.config import Config
from originchats.core import writes as w
from originchats.core.model import CRACKED_PREFIX, Channel, Message, Role, User
from originchats.server.app import open_store
from originchats.store import sql
from originchats.store.db import db_path
from tests.conftest import make_config

PASSWORD = "pass1234"
LOCAL = CRACKED_PREFIX

#: name -> (type, permissions). `general` is the server's default channel.
CHANNELS: dict[str, tuple[str, dict[str, list[str]]]] = {
    # only admins see, post and delete here; owners are not listed (no owner bypass)
    "staff": ("text", {"view": ["admin"], "send": ["admin"], "delete": ["admin"]}),
    # everyone reads, only admins post; edit_own/delete_own/react restricted to admins
    "news": ("text", {"view": ["user"], "send": ["admin"], "delete": ["admin"],
                      "edit_own": ["admin"], "delete_own": ["admin"], "react": ["admin"]}),
    # `!muted` before `user`: a member whose list starts with `muted` is refused, one whose list
    # starts with `user` is allowed (evaluator (a) walks the member's roles in order)
    "quiet": ("text", {"view": ["!muted", "user"], "send": ["!muted", "user"],
                       "delete_own": ["!user", "admin"], "react": ["!muted", "user"]}),
    # posting without seeing: members may send, only admins view
    "dropbox": ("text", {"view": ["admin"], "send": ["user"]}),
    # no `send` key: nobody may post
    "readonly": ("text", {"view": ["user"]}),
    # empty permissions: the default block applies (owner only), but channels_get hides it
    "blank": ("text", {}),
    "lobby": ("voice", {"view": ["user"], "send": ["user"]}),
    "ideas": ("forum", {"view": ["user"], "send": ["user"]}),
    "sep": ("separator", {"view": ["user"]}),
    # members and muted members post here; `react` lists a denial that evaluator (b) ignores; no
    # edit_own/delete_own keys (the defaults, `user` only) and no `delete` key (nobody)
    "pets": ("text", {"view": ["user", "muted"], "send": ["user", "muted"], "react": ["!muted", "user"]}),
    # seeded history lives here (its id is known before the server starts)
    "history": ("text", {"view": ["user"], "send": ["user"], "delete": ["admin"]}),
}

#: seeded local members: name -> role list (in the member's order)
MEMBERS: dict[str, tuple[str, ...]] = {
    "alice": ("user",),
    "bob": ("user",),
    "adam": ("admin", "user"),
    "mod": ("moderator", "user"),
    "mia": ("muted", "user"),
    "umi": ("user", "muted"),
    "nora": (),
    "solo": ("muted",),
}

#: a Rotur-style account whose username is not the `USR:local_` id (for mention lookups)
ROTUR_ID = "rotur-id-zed"
NEWS_POST = "news-post-1"
ROTUR_NAME = "Zed"

ROLES: list[Role] = [
    Role(id="role-muted", name="muted", position=10, permissions=()),
    Role(id="role-vip", name="vip", position=11, permissions={"mention_roles": ["admin"]}),
    Role(id="role-secret", name="secret", position=12, permissions={"mention_roles": False}),
    Role(id="role-open", name="open", position=13, permissions={"mention_roles": True}),
    Role(id="role-mods", name="mods", position=14, permissions={"mention_roles": "moderator"}),
]


def channel_id(name: str) -> str:
    return f"ch-{name}"


def seed(config: Config, facts: Iterable[Any]) -> None:
    """Create (migrate, seed) the server's database and commit `facts` in one transaction."""
    con, reader, _ = open_store(config)
    reader.close()
    try:
        con.execute("BEGIN IMMEDIATE")
        for fact in facts:
            sql.apply_write(con, fact)
        con.execute("COMMIT")
    finally:
        con.close()


def general_id(config: Config) -> str:
    with contextlib.closing(sqlite3.connect(db_path(config.storage.data_dir))) as con:
        return con.execute("SELECT id FROM channels WHERE name = 'general'").fetchone()[0]


def msg(mid: str, channel: str, author: str, content: str, ts: float, **kw: Any) -> w.MessageCreated:
    """A stored message; `channel` is a channel id, `author` a user id."""
    return w.MessageCreated(Message(id=mid, channel_id=channel, user_id=author, content=content, timestamp=ts, **kw))


def world_facts(config: Config) -> list[Any]:
    hasher = argon2.PasswordHasher(memory_cost=config.cracked.argon2_memory_kib,
                                   time_cost=config.cracked.argon2_time_cost, parallelism=1)
    pw = hasher.hash(PASSWORD)
    facts: list[Any] = [w.RoleSaved(r) for r in ROLES]
    for name, (ctype, perms) in CHANNELS.items():
        facts.append(w.ChannelSaved(Channel(id=channel_id(name), name=name, type=ctype,
                                            permissions={k: tuple(v) for k, v in perms.items()})))
    for name, roles in MEMBERS.items():
        facts.append(w.UserSaved(User(id=LOCAL + name, username=LOCAL + name, nickname=name, password_hash=pw,
                                      roles=roles, created_at=1.0)))
    facts.append(w.UserSaved(User(id=ROTUR_ID, username=ROTUR_NAME, roles=("user",), created_at=1.0)))
    # alice's old post in `news`, where she may no longer post, edit or delete her own messages
    facts.append(msg(NEWS_POST, channel_id("news"), LOCAL + "alice", "old news", 100.0))
    return facts


def world_config(tmp_path: Path, extra: Iterable[Any] = (), **overrides: Any) -> Config:
    """A config whose data directory already holds the world (plus `extra` facts)."""
    config = make_config(tmp_path, **overrides)
    seed(config, [*world_facts(config), *extra])
    return config


async def online(server: Any, *names: str, owner: str | None = None) -> list[Any]:
    """Log the named members in (then the owner, when given); every client drained."""
    clients = [await server.user(n) for n in names]
    if owner is not None:
        clients.append(await server.owner(owner))
    for c in clients:
        await c.drain()
    return clients


async def post(client: Any, channel: str, content: str, **fields: Any) -> dict[str, Any]:
    """Send a message and return the message object of the caller's reply (packets that arrive
    before the reply, e.g. other members' broadcasts, are skipped)."""
    await client.send("message_new", channel=channel, content=content, listener="post", **fields)
    while True:
        reply = await client.recv()
        if reply.get("listener") == "post":
            assert reply["cmd"] == "message_new", reply
            return reply["message"]


def stored_rows(config: Config, query: str, params: tuple = ()) -> list[tuple]:
    """Read the database file (WAL readers never block the running server)."""
    with contextlib.closing(sqlite3.connect(db_path(config.storage.data_dir))) as con:
        return con.execute(query, params).fetchall()
