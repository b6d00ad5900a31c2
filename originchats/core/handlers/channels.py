"""Channel administration: channel_create, channel_update, channel_move, channel_delete (core.md §3).

Fixed relative to the original:

* Channel names are only keys (SQLite rows with a stable `Channel.id`), never file paths, so a
  name like `../users` is an ordinary name. Names must be non-empty strings of at most
  `names.MAX_CHANNEL_NAME` characters without control characters; `updates.name` follows the same rules.
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

from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..defaults import DEFAULT_CHANNEL_PERMISSIONS
from ..budget import check_json, check_record
from ..effects import ChannelsChanged, Persist, Reply, Step
from ..errors import ProtocolError
from ..model import CHANNEL_TYPES, Channel, Perm
from ..registry import command
from ..request import Request, opt_int, opt_str, required_str, wrong_type
from ..state import ServerState
from ..writes import ChannelDeleted, ChannelSaved, ChannelsOrdered
from ..names import check_channel_name
from .common import me, require_perm

#: `updates` keys with a field of their own in `Channel`.
FIELDS = ("name", "type", "description", "display_name", "size", "permissions")
#: Keys `channels_get` computes (or that identify the record): never stored from `updates`.
COMPUTED = frozenset({"id", "last_message", "last_message_id", "voice_state", "threads"})


# ---- validation -------------------------------------------------------------------------------


def channel_permissions(value: Any) -> dict[str, tuple[str, ...]]:
    """A `permissions` block: an object of role-name lists; empty lists are dropped (as the original)."""
    if not isinstance(value, dict):
        raise wrong_type("permissions", "object", value)
    out: dict[str, tuple[str, ...]] = {}
    for key, entries in value.items():
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ProtocolError(texts.expected_string_array(f"permissions.{key}"))
        if entries:
            out[key] = tuple(entries)
    return out


# ---- pushes -----------------------------------------------------------------------------------


def _committed(state: ServerState, before: ServerState, writes: tuple, reply: dict[str, Any]) -> Step:
    return Step(state, (Persist(writes, (Reply(reply), ChannelsChanged(before, state))),))


# ---- commands ---------------------------------------------------------------------------------


@command("channel_create")
def handle_channel_create(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, Perm.MANAGE_CHANNELS)
    name = check_channel_name(req.get("name"))
    ctype = req.get("type")
    if not ctype:
        raise ProtocolError(texts.CHANNEL_TYPE_REQUIRED)
    if not isinstance(ctype, str) or ctype not in CHANNEL_TYPES:
        raise ProtocolError(texts.CHANNEL_TYPE_INVALID)
    if state.channel(name) is not None:
        raise ProtocolError(texts.CHANNEL_EXISTS)
    limits = state.settings.content
    if len(state.channels) >= limits.max_channels:
        raise ProtocolError(texts.channel_limit(limits.max_channels))
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
                      packets.channel_create(channel.wire()))


@command("channel_update")
def handle_channel_update(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, Perm.MANAGE_CHANNELS)
    current = required_str(req, "current_name", texts.CURRENT_NAME_REQUIRED)
    updates = req.get("updates")
    if not isinstance(updates, dict) or not updates:
        raise ProtocolError(texts.UPDATES_REQUIRED)
    # stored as sent: extra keys in the channel, the whole object in the audit log
    check_json(updates, "updates", state.settings.content, extra_depth=1)
    channel = state.channel(current)
    if channel is None:
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    if "type" in updates and (not isinstance(updates["type"], str) or updates["type"] not in CHANNEL_TYPES):
        raise ProtocolError(texts.INVALID_CHANNEL_TYPE)
    changes: dict[str, Any] = {}
    if "name" in updates:
        changes["name"] = check_channel_name(updates["name"])
        if changes["name"] != channel.name and state.channel(changes["name"]) is not None:
            raise ProtocolError(texts.CHANNEL_NAME_TAKEN)
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
                      packets.channel_update(updated.wire()))


@command("channel_move")
def handle_channel_move(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, Perm.MANAGE_CHANNELS)
    name = required_str(req, "name", texts.CHANNEL_NAME_REQUIRED)
    position = req.get("position")
    if position is None:
        raise ProtocolError(texts.POSITION_REQUIRED)
    if not isinstance(position, int) or position < 0:  # JSON true/false count as 1/0, as in the original
        raise ProtocolError(texts.POSITION_INVALID)
    channel = state.channel(name)
    if channel is None:
        return Step(state, (Reply(packets.channel_move(name, position, False)),))
    order = [ch for ch in state.channels if ch.id != channel.id]
    order.insert(min(int(position), len(order)), channel)
    after = attrs.evolve(state, channels=tuple(order))
    entry = audit(ctx, user.id, "channel_management", "channel_move", target=channel.name,
                  details={"position": position})
    return _committed(after, state, (ChannelsOrdered(tuple(ch.id for ch in order)), entry),
                      packets.channel_move(name, position, True))


@command("channel_delete")
def handle_channel_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    require_perm(state, user, Perm.MANAGE_CHANNELS)
    name = required_str(req, "name", texts.CHANNEL_NAME_REQUIRED)
    channel = state.channel(name)
    if channel is None:  # the original falls back to a case-insensitive match
        folded = name.casefold()
        channel = next((ch for ch in state.channels if ch.name.casefold() == folded), None)
    if channel is None:
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    after = attrs.evolve(state, channels=tuple(ch for ch in state.channels if ch.id != channel.id))
    # a forum's threads go with it (their rows by a trigger of migrations/0004_threads.sql)
    after = attrs.evolve(after, threads=after.threads.without_channel(channel.id))
    entry = audit(ctx, user.id, "channel_management", "channel_delete", target=channel.name, details={})
    return _committed(after, state, (ChannelDeleted(channel.id), entry),
                      packets.channel_delete(channel.name))
