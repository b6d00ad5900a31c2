"""Channel administration: channel_create, channel_update, channel_move, channel_delete (core.md §3).

Fixed relative to the original:

* Channel names are only keys (SQLite rows with a stable `Channel.id`), never file paths, so a
  name like `../users` is an ordinary name. Names must be non-empty strings of at most
  `MAX_CHANNEL_NAME` characters without control characters; `updates.name` follows the same rules.
* Renaming keeps the history: messages reference the channel id, not its name.
* `forum` channels can be created and converted to (the error texts still name the three
  original types, since clients match on them).
* Wrong field types get an error instead of a crash (the original crashed *after* saving).
* After every change each authenticated socket whose visible channel list changed receives an
  unsolicited `{"cmd":"channels_get","val":[…]}` (stored objects, filtered by its user's current
  roles). The original told nobody. The pushes are coalesced per scheduler tick (a
  `ChannelsChanged` effect; the shell computes them with `channel_pushes` once the tick's changes
  are done), so they follow the caller's reply, and a burst of changes costs each socket one list.
* At most `limits.max_channels` channels; a channel as stored (its wire object, extra keys
  included) fits in `limits.record_bytes`, and extra keys nest at most `limits.json_depth` levels,
  so neither `channels_get` nor the audit log can grow without bound.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import attrs

from ..audit import audit
from ..context import Context
from ..defaults import DEFAULT_CHANNEL_PERMISSIONS
from ..budget import check_json, check_record
from ..effects import ChannelsChanged, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import CHANNEL_TYPES, Channel
from ..permissions import channel_lists_viewer
from ..registry import command
from ..request import Request, opt_int, opt_str, wrong_type
from ..state import ServerState
from ..writes import ChannelDeleted, ChannelSaved, ChannelsOrdered
from .common import me, require_perm

#: Longest channel name accepted (characters).
MAX_CHANNEL_NAME = 100
#: `updates` keys with a field of their own in `Channel`.
FIELDS = ("name", "type", "description", "display_name", "size", "permissions")
#: Keys `channels_get` computes (or that identify the record): never stored from `updates`.
COMPUTED = frozenset({"id", "last_message", "last_message_id", "voice_state", "threads"})
_BAD_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


# ---- validation -------------------------------------------------------------------------------


def check_channel_name(value: Any) -> str:
    """A usable channel name, or the documented/clear error."""
    if value is None or value == "" or value is False:
        raise ProtocolError("Channel name is required")
    if not isinstance(value, str):
        raise wrong_type("name", "string", value)
    if not value.strip():
        raise ProtocolError("Channel name is required")
    if len(value) > MAX_CHANNEL_NAME:
        raise ProtocolError(f"Channel name too long (max {MAX_CHANNEL_NAME} characters)")
    if any(unicodedata.category(c) in _BAD_CATEGORIES for c in value):
        raise ProtocolError("Channel name contains invalid characters")
    return value


def channel_permissions(value: Any) -> dict[str, tuple[str, ...]]:
    """A `permissions` block: an object of role-name lists; empty lists are dropped (as the original)."""
    if not isinstance(value, dict):
        raise wrong_type("permissions", "object", value)
    out: dict[str, tuple[str, ...]] = {}
    for key, entries in value.items():
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ProtocolError(f"Invalid field 'permissions.{key}': expected array of strings")
        if entries:
            out[key] = tuple(entries)
    return out


def _name_field(req: Request, key: str) -> str:
    value = req.get(key)
    if not value:
        raise ProtocolError("Channel name is required")
    if not isinstance(value, str):
        raise wrong_type(key, "string", value)
    return value


# ---- pushes -----------------------------------------------------------------------------------


def visible_channels(state: ServerState, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    """What a user with `roles` sees in `channels_get`, as stored objects (no computed keys)."""
    return [ch.wire() for ch in state.channels if channel_lists_viewer(ch, roles)]


def channel_pushes(before: ServerState, after: ServerState) -> tuple[Send, ...]:
    """An unsolicited `channels_get` for every authenticated socket whose visible list differs
    between `before` and `after` (a channel change, or a change of its user's roles)."""
    lists_before: dict[tuple[str, ...], list] = {}
    lists_after: dict[tuple[str, ...], list] = {}
    groups: dict[tuple[str, ...], list[int]] = {}
    for conn in after.conns.authed():
        user = after.users.get(conn.user_id)
        if user is None:
            continue
        roles = user.roles
        if roles not in lists_after:
            lists_after[roles] = visible_channels(after, roles)
        old_user = before.users.get(conn.user_id)
        old_roles = old_user.roles if old_user is not None else ()
        if old_roles not in lists_before:
            lists_before[old_roles] = visible_channels(before, old_roles)
        if lists_before[old_roles] != lists_after[roles]:
            groups.setdefault(roles, []).append(conn.id)
    return tuple(Send(tuple(ids), {"cmd": "channels_get", "val": lists_after[roles]}) for roles, ids in groups.items())


def _committed(state: ServerState, before: ServerState, writes: tuple, reply: dict[str, Any]) -> Step:
    return Step(state, (Persist(writes, (Reply(reply), ChannelsChanged(before, state))),))


# ---- commands ---------------------------------------------------------------------------------


@command("channel_create")
def handle_channel_create(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, "manage_channels")
    name = check_channel_name(req.get("name"))
    ctype = req.get("type")
    if not ctype:
        raise ProtocolError("Channel type is required (text, voice, or separator)")
    if not isinstance(ctype, str) or ctype not in CHANNEL_TYPES:
        raise ProtocolError("Invalid channel type, must be text, voice, or separator")
    if state.channel(name) is not None:
        raise ProtocolError("Channel already exists")
    limits = state.settings.content
    if len(state.channels) >= limits.max_channels:
        raise ProtocolError(f"Channel limit reached (max {limits.max_channels} channels)")
    description = opt_str(req, "description") or None
    display_name = opt_str(req, "display_name") or None
    size = opt_int(req, "size")
    raw_permissions = req.get("permissions")
    permissions = channel_permissions(raw_permissions) if raw_permissions else dict(DEFAULT_CHANNEL_PERMISSIONS)
    channel = Channel(id=ctx.new_id, name=name, type=ctype, description=description, display_name=display_name,
                      size=size if ctype == "separator" and size else None, permissions=permissions)
    check_record(channel.wire(), "Channel", limits)
    after = state.with_channel(channel)
    entry = audit(ctx, user.id, "channel_management", "channel_create", target=name, details={"type": ctype})
    return _committed(after, state, (ChannelSaved(channel), entry),
                      {"cmd": "channel_create", "channel": channel.wire(), "created": True})


@command("channel_update")
def handle_channel_update(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, "manage_channels")
    current = req.get("current_name")
    if not current:
        raise ProtocolError("current_name is required")
    if not isinstance(current, str):
        raise wrong_type("current_name", "string", current)
    updates = req.get("updates")
    if not isinstance(updates, dict) or not updates:
        raise ProtocolError("updates object is required")
    # stored as sent: extra keys in the channel, the whole object in the audit log
    check_json(updates, "updates", state.settings.content, extra_depth=1)
    channel = state.channel(current)
    if channel is None:
        raise ProtocolError("Channel not found")
    if "type" in updates and (not isinstance(updates["type"], str) or updates["type"] not in CHANNEL_TYPES):
        raise ProtocolError("Invalid channel type")
    changes: dict[str, Any] = {}
    if "name" in updates:
        changes["name"] = check_channel_name(updates["name"])
        if changes["name"] != channel.name and state.channel(changes["name"]) is not None:
            raise ProtocolError("Channel with new name already exists")
    if "type" in updates:
        changes["type"] = updates["type"]
    for key in ("description", "display_name"):
        if key in updates:
            value = updates[key]
            if value is not None and not isinstance(value, str):
                raise wrong_type(key, "string", value)
            changes[key] = value or None
    if "size" in updates:
        size = updates["size"]
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise wrong_type("size", "integer", size)
        changes["size"] = size or None
    if "permissions" in updates:
        changes["permissions"] = channel_permissions(updates["permissions"])
    extra = dict(channel.extra)
    for key, value in updates.items():
        if key in FIELDS or key in COMPUTED:
            continue
        if value is None:
            extra.pop(key, None)
        else:
            extra[key] = value
    updated = attrs.evolve(channel, extra=extra, **changes)
    check_record(updated.wire(), "Channel", state.settings.content)
    after = state.with_channel(updated)
    entry = audit(ctx, user.id, "channel_management", "channel_update", target=channel.name, details=updates)
    return _committed(after, state, (ChannelSaved(updated), entry),
                      {"cmd": "channel_update", "channel": updated.wire(), "updated": True})


@command("channel_move")
def handle_channel_move(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, "manage_channels")
    name = _name_field(req, "name")
    position = req.get("position")
    if position is None:
        raise ProtocolError("Position is required")
    if not isinstance(position, int) or position < 0:  # JSON true/false count as 1/0, as in the original
        raise ProtocolError("Position must be a non-negative integer")
    channel = state.channel(name)
    if channel is None:
        return Step(state, (Reply({"cmd": "channel_move", "name": name, "position": position, "moved": False}),))
    order = [ch for ch in state.channels if ch.id != channel.id]
    order.insert(min(int(position), len(order)), channel)
    after = attrs.evolve(state, channels=tuple(order))
    entry = audit(ctx, user.id, "channel_management", "channel_move", target=channel.name,
                  details={"position": position})
    return _committed(after, state, (ChannelsOrdered(tuple(ch.id for ch in order)), entry),
                      {"cmd": "channel_move", "name": name, "position": position, "moved": True})


@command("channel_delete")
def handle_channel_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, "manage_channels")
    name = _name_field(req, "name")
    channel = state.channel(name)
    if channel is None:  # the original falls back to a case-insensitive match
        folded = name.casefold()
        channel = next((ch for ch in state.channels if ch.name.casefold() == folded), None)
    if channel is None:
        raise ProtocolError("Channel not found")
    after = attrs.evolve(state, channels=tuple(ch for ch in state.channels if ch.id != channel.id))
    entry = audit(ctx, user.id, "channel_management", "channel_delete", target=channel.name, details={})
    return _committed(after, state, (ChannelDeleted(channel.id), entry),
                      {"cmd": "channel_delete", "name": channel.name, "deleted": True})
