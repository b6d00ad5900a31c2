"""The built-in slash commands (extended/slash.md "Built-in commands"): /help, /nick, /ban,
/unban, /mute and /unmute.

Each one runs the member command it stands for (`user_ban`, `user_unban`, `user_timeout`,
`nickname_update`, `nickname_remove`) through that command's own handler, so the permission
checks (`manage_users` and the rank rule of core/permissions.py, not role names: flaw 6), the
audit entry, the broadcasts, the closing of a banned member's sockets and the revocation of their
sessions are exactly the same. Only the handler's reply to the caller is replaced: the result
becomes a message from `originChats` in the channel of the call, with `interaction` naming the
command and the caller, stored in the same transaction as the handler's writes and announced after
the commit. /unmute lifts the timeout (`user_timeout` with 0; the original's did nothing), /help
lists what the caller may use (the original's always failed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from .. import packets, slash, texts
from ..context import Context
from ..effects import Effect, Persist, Reply, Step
from ..errors import ProtocolError
from ..model import CRACKED_PREFIX, Message, Perm, User
from ..names import SYSTEM_AUTHOR
from ..permissions import has_perm
from ..request import Request
from ..state import ServerState
from ..targets import Target
from ..views import message_wire
from ..writes import MessageCreated
from .common import find_member, require_perm
from .message_rules import global_packet
from .messages import touch_thread
from .moderation import handle_user_ban, handle_user_timeout, handle_user_unban
from .profiles import handle_nickname_remove, handle_nickname_update

DEFAULT_REASON = "No reason provided"


def _opt(name: str, description: str, kind: str, required: bool) -> dict[str, Any]:
    return {"name": name, "description": description, "type": kind, "required": required}


@attrs.frozen
class Builtin:
    definition: dict[str, Any]
    perm: Perm | None  # what the member command it stands for requires (None: any member)
    run: Callable[[ServerState, Context, User, dict[str, Any]], tuple[Step, str]]


def _define(name: str, description: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "description": description, "options": options, "whitelistRoles": None,
            "blacklistRoles": None, "ephemeral": False, "registeredBy": slash.SYSTEM_REGISTRANT}


def _text_arg(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(texts.invalid_argument(name, "a string"))
    return value.strip() or None


def _target(state: ServerState, args: dict[str, Any]) -> User:
    name = _text_arg(args, "username")
    if name is None:
        raise ProtocolError(texts.SLASH_USERNAME_REQUIRED)
    user = find_member(state, name.removeprefix("@"))
    if user is None and ":" not in name:  # `alice` for the local account `USR:local_alice`, as in mentions
        user = find_member(state, CRACKED_PREFIX + name.removeprefix("@"))
    if user is None:
        raise ProtocolError(texts.slash_user_not_found(name))
    return user


def _as(cmd: str, **fields: Any) -> Request:
    """The member command's request, as a client would send it."""
    return Request(cmd, fields)


# ---- the commands: each returns the member command's step and the result text ----------------


def _help(state: ServerState, ctx: Context, user: User, args: dict[str, Any]) -> tuple[Step, str]:
    lines = []
    usable = [b.definition for b in BUILTINS.values() if b.perm is None or has_perm(state.roles, user, b.perm)]
    for _, d in state.slash.effective().values():
        try:
            slash.roles_allow(d, user.roles)
        except ProtocolError:
            continue
        usable.append(d)
    for d in sorted(usable, key=lambda d: d["name"]):
        if not d["name"].startswith("server_"):
            lines.append(f"• `/{d['name']}` - {d['description']}")
    return Step(state), "**Available Commands:**\n" + "\n".join(lines)


def _nick(state: ServerState, ctx: Context, user: User, args: dict[str, Any]) -> tuple[Step, str]:
    value = args.get("nickname")
    if value is not None and not isinstance(value, str):
        raise ProtocolError(texts.invalid_argument("nickname", "a string"))
    if value is not None and value.strip():
        step = handle_nickname_update(state, ctx, _as("nickname_update", nickname=value))
        return step, f"Nickname set to **{value.strip()}**"
    if user.nickname is None:
        return Step(state), "You don't have a nickname set. Use `/nick <name>` to set one."
    return handle_nickname_remove(state, ctx, _as("nickname_remove")), "Nickname cleared"


def _ban(state: ServerState, ctx: Context, user: User, args: dict[str, Any]) -> tuple[Step, str]:
    target = _target(state, args)
    reason = _text_arg(args, "reason")
    if target.banned:
        raise ProtocolError(texts.already_banned(target.username))
    step = handle_user_ban(state, ctx, _as("user_ban", user=target.username, reason=reason))
    return step, f"🚫 **{target.username}** has been banned.\n**Reason:** {reason or DEFAULT_REASON}"


def _unban(state: ServerState, ctx: Context, user: User, args: dict[str, Any]) -> tuple[Step, str]:
    target = _target(state, args)
    if not target.banned:
        raise ProtocolError(texts.not_banned(target.username))
    step = handle_user_unban(state, ctx, _as("user_unban", user=target.username))
    return step, f"✅ **{target.username}** has been unbanned."


def _mute(state: ServerState, ctx: Context, user: User, args: dict[str, Any]) -> tuple[Step, str]:
    duration = args.get("duration")
    if duration is None or duration == 0:
        raise ProtocolError(texts.SLASH_DURATION_REQUIRED)
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise ProtocolError(texts.invalid_argument("duration", "an integer"))
    if duration < 0:
        raise ProtocolError(texts.SLASH_DURATION_POSITIVE)
    target = _target(state, args)
    reason = _text_arg(args, "reason")
    step = handle_user_timeout(state, ctx, _as("user_timeout", user=target.username, timeout=duration))
    text = f"🔇 **{target.username}** has been muted for {duration} seconds.\n**Reason:** {reason or DEFAULT_REASON}"
    return step, text


def _unmute(state: ServerState, ctx: Context, user: User, args: dict[str, Any]) -> tuple[Step, str]:
    target = _target(state, args)
    step = handle_user_timeout(state, ctx, _as("user_timeout", user=target.username, timeout=0))
    return step, f"🔊 **{target.username}** has been unmuted."


_USER = _opt("username", "The member", "str", True)
_REASON = _opt("reason", "Why", "str", False)
BUILTINS: dict[str, Builtin] = {
    "help": Builtin(_define("help", "Show the commands you can use", []), None, _help),
    "nick": Builtin(_define("nick", "Set or clear your nickname",
                            [_opt("nickname", "The new nickname (empty: clear it)", "str", False)]), None, _nick),
    "ban": Builtin(_define("ban", "Ban a member", [_USER, _REASON]), Perm.MANAGE_USERS, _ban),
    "unban": Builtin(_define("unban", "Lift a member's ban", [_USER]), Perm.MANAGE_USERS, _unban),
    "mute": Builtin(_define("mute", "Time a member out", [_USER, _opt("duration", "Seconds", "int", True), _REASON]),
                    Perm.MANAGE_USERS, _mute),
    "unmute": Builtin(_define("unmute", "Lift a member's timeout", [_USER]), Perm.MANAGE_USERS, _unmute),
}
assert tuple(sorted(BUILTINS)) == slash.BUILTIN_NAMES


def run_builtin(state: ServerState, ctx: Context, user: User, target: Target, builtin: Builtin,
                args: dict[str, Any]) -> Step:
    """Run the member command, then put the result message where its reply was (in the channel or
    thread of the call)."""
    name = builtin.definition["name"]
    if builtin.perm is not None:
        require_perm(state, user, builtin.perm)
    step, text = builtin.run(state, ctx, user, args)
    ch = target.channel
    message = Message(id=ctx.new_id, channel_id=ch.id, thread_id=target.thread_id, user_id=SYSTEM_AUTHOR,
                      content=text, timestamp=ctx.now, interaction={"command": name, "username": user.username})
    state, saved, revived = touch_thread(step.state, target, message)
    wire = message_wire(state, message)
    wire["pings"] = {"users": [], "roles": [], "replies": []}
    announce = (*revived, *global_packet(state, ctx, ch, packets.message_new(wire, ch.name, target.thread_id)))
    effects: list[Effect] = []
    merged = False
    for e in step.effects:
        if isinstance(e, Reply):
            if e.rejected is not None:  # the member command refused (a rate limit): so does this
                return Step(state, (e,))
            continue
        if isinstance(e, Persist) and not merged:
            then = tuple(x for x in e.then if not isinstance(x, Reply))
            e = attrs.evolve(e, writes=(*e.writes, *saved, MessageCreated(message)), then=(*then, *announce))
            merged = True
        effects.append(e)
    if not merged:
        effects.append(Persist((*saved, MessageCreated(message)), announce))
    return Step(state, tuple(effects))
