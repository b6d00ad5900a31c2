"""The welcome message (`[welcome]` in config.toml): when an account is created (`register`, or a
Rotur `auth` that creates a user), the server posts `Welcome {username}! Thanks for joining the
server.` into the configured channel as `originChats`, like the original's default-on welcome
plugin. It also makes a fresh server usable in the official web client, which shows live
messages only in channels whose history it has seen non-empty.

The message is stored in the same transaction as the account (core/handlers/auth.py
`login_success`) and announced after that commit as an ordinary `message_new` (nested message in
user format, `pings` empty) to the channel's viewers (the original's plugin sent it raw to every
socket). An account is welcomed once: one that existed before (a deleted account coming back, a
reused name) is not welcomed again, as the original's `first_time_only` did.

`originChats` is no account (names.SYSTEM_AUTHOR): `user` shows the raw id, as objects.md §3.3
describes for unknown ids.
"""

from __future__ import annotations

from . import packets
from .context import Context
from .effects import Send
from .model import Message, User
from .names import SYSTEM_AUTHOR
from .state import ServerState
from .views import channel_viewers, message_wire


def welcome_message(state: ServerState, ctx: Context, user: User) -> Message | None:
    """The message welcoming `user` (new), or None (turned off, or no such text channel)."""
    cfg = state.settings.welcome
    if not cfg.enabled:
        return None
    ch = state.channel(cfg.channel)
    if ch is None or ch.type != "text":
        return None
    return Message(id=ctx.new_id, channel_id=ch.id, user_id=SYSTEM_AUTHOR,
                   content=cfg.text.replace("{username}", user.username), timestamp=ctx.now)


def welcome_send(state: ServerState, message: Message) -> Send | None:
    """Its `message_new` to the viewers of its channel (None when the channel is gone)."""
    ch = state.channel_by_id(message.channel_id)
    if ch is None:
        return None
    wire = message_wire(state, message)
    wire["pings"] = {"users": [], "roles": [], "replies": []}
    return Send(channel_viewers(state, ch), packets.message_new(wire, ch.name))
