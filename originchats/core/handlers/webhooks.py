"""Webhook management (extended/webhooks.md): webhook_create, webhook_get, webhook_list,
webhook_update, webhook_delete, webhook_regenerate. Posting is server/webhooks_http.py.

The spec's flaws are fixed:
1. a token is shown once, in the replies of webhook_create and webhook_regenerate; no other reply
   (get, list, update) carries it, and only its SHA-256 is stored (core/webhook_records.py);
2. webhook_regenerate really makes a new token: the old one stops working at once;
6. every command needs `manage_channels` (the original let any member read tokens and metadata;
   issue 10 names `manage_channels`, the original `manage_server`: one who may create and delete
   channels may also post into them), and every change is audited under `channel_management`.
None of them broadcasts (as in the original).
"""

from __future__ import annotations

from typing import Any

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Persist, Reply, Step
from ..errors import ProtocolError
from ..model import Perm, User
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..webhook_records import Webhook, new_token, token_hash, wire
from ..webhooks import valid_url
from ..writes import WebhookDeleted, WebhookSaved
from .common import me, require_perm

CATEGORY = "channel_management"


def _manager(state: ServerState, ctx: Context) -> User:
    user = me(state, ctx)
    require_perm(state, user, Perm.MANAGE_CHANNELS)
    return user


def _wire(state: ServerState, hook: Webhook, token: str | None = None) -> dict[str, Any]:
    ch = state.channel_by_id(hook.channel_id)
    return wire(hook, ch.name if ch is not None else None, token)


def _hook(state: ServerState, req: Request) -> Webhook:
    hook_id = req.get("id")
    if not hook_id or not isinstance(hook_id, str):
        raise ProtocolError(texts.WEBHOOK_ID_REQUIRED)
    hook = state.webhooks.get(hook_id)
    if hook is None:
        raise ProtocolError(texts.WEBHOOK_NOT_FOUND)
    return hook


def _name(state: ServerState, value: Any, missing: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(missing)
    name = value.strip()
    limit = state.settings.webhooks.name_length
    if len(name) > limit:
        raise ProtocolError(texts.webhook_name_too_long(limit))
    return name


def _avatar(state: ServerState, value: Any) -> str | None:
    if value is None or value == "":  # the official client sends its empty avatar field as ""
        return None
    if not valid_url(value, state.settings.content.url_length):
        raise ProtocolError(texts.WEBHOOK_AVATAR_INVALID)
    return value


def _secret(state: ServerState, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > state.settings.webhooks.secret_length:
        raise ProtocolError(texts.WEBHOOK_SECRET_INVALID)
    return value


def _saved(state: ServerState, hook: Webhook, *, old_hash: str | None = None) -> ServerState:
    tokens = state.webhook_tokens
    if old_hash is not None and old_hash != hook.token_hash:
        tokens = tokens.delete(old_hash)
    return attrs.evolve(state, webhooks=state.webhooks.set(hook.id, hook),
                        webhook_tokens=tokens.set(hook.token_hash, hook.id))


@command("webhook_create")
def handle_webhook_create(state: ServerState, ctx: Context, req: Request) -> Step:
    user = _manager(state, ctx)
    channel = req.get("channel")
    if not channel or not isinstance(channel, str):
        raise ProtocolError(texts.WEBHOOK_CHANNEL_REQUIRED)
    if req.get("name") is None or req.get("name") == "":
        raise ProtocolError(texts.WEBHOOK_NAME_REQUIRED)
    name = _name(state, req.get("name"), texts.WEBHOOK_NAME_EMPTY)
    ch = state.channel(channel)
    if ch is None:
        raise ProtocolError(texts.CHANNEL_NOT_FOUND)
    if ch.type != "text":
        raise ProtocolError(texts.WEBHOOK_TEXT_ONLY)
    avatar, secret = _avatar(state, req.get("avatar")), _secret(state, req.get("secret"))
    limit = state.settings.webhooks.max_webhooks
    if len(state.webhooks) >= limit:
        raise ProtocolError(texts.webhook_limit(limit))
    token = new_token(ctx.new_token)
    hook = Webhook(id=ctx.new_id, channel_id=ch.id, name=name, token_hash=token_hash(token), created_by=user.id,
                   created_at=ctx.now, avatar=avatar, secret=secret)
    state = _saved(state, hook)
    entry = audit(ctx, user.id, CATEGORY, "webhook_create", target=hook.id, details={"channel": ch.name, "name": name})
    reply = Reply(packets.webhook_create(_wire(state, hook, token)))
    return Step(state, (Persist((WebhookSaved(hook), entry), (reply,)),))


@command("webhook_get")
def handle_webhook_get(state: ServerState, ctx: Context, req: Request) -> Step:
    _manager(state, ctx)
    return Step(state, (Reply(packets.webhook_get(_wire(state, _hook(state, req)))),))


@command("webhook_list")
def handle_webhook_list(state: ServerState, ctx: Context, req: Request) -> Step:
    _manager(state, ctx)
    channel = req.get("channel")
    hooks = sorted(state.webhooks.values(), key=lambda h: (h.created_at, h.id))
    if channel is not None:
        ch = state.channel(channel)
        if ch is None:
            raise ProtocolError(texts.CHANNEL_NOT_FOUND)
        hooks = [h for h in hooks if h.channel_id == ch.id]
    return Step(state, (Reply(packets.webhook_list([_wire(state, h) for h in hooks])),))


@command("webhook_update")
def handle_webhook_update(state: ServerState, ctx: Context, req: Request) -> Step:
    user = _manager(state, ctx)
    hook = _hook(state, req)
    changes: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if req.has("name"):
        changes["name"] = details["name"] = _name(state, req.get("name"), texts.WEBHOOK_NAME_EMPTY)
    if req.has("avatar"):
        changes["avatar"] = details["avatar"] = _avatar(state, req.get("avatar"))
    if req.has("secret"):
        changes["secret"] = _secret(state, req.get("secret"))
        details["secret"] = "set" if changes["secret"] is not None else "removed"  # never the secret itself
    if not changes:
        raise ProtocolError(texts.WEBHOOK_NO_UPDATES)
    hook = attrs.evolve(hook, **changes)
    state = _saved(state, hook)
    entry = audit(ctx, user.id, CATEGORY, "webhook_update", target=hook.id, details=details)
    return Step(state, (Persist((WebhookSaved(hook), entry), (Reply(packets.webhook_update(_wire(state, hook))),)),))


@command("webhook_delete")
def handle_webhook_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    user = _manager(state, ctx)
    hook = _hook(state, req)
    state = attrs.evolve(state, webhooks=state.webhooks.delete(hook.id),
                         webhook_tokens=state.webhook_tokens.delete(hook.token_hash))
    entry = audit(ctx, user.id, CATEGORY, "webhook_delete", target=hook.id, details={"name": hook.name})
    return Step(state, (Persist((WebhookDeleted(hook.id), entry), (Reply(packets.webhook_delete(hook.id)),)),))


@command("webhook_regenerate")
def handle_webhook_regenerate(state: ServerState, ctx: Context, req: Request) -> Step:
    user = _manager(state, ctx)
    old = _hook(state, req)
    token = new_token(ctx.new_token)
    hook = attrs.evolve(old, token_hash=token_hash(token))
    state = _saved(state, hook, old_hash=old.token_hash)  # the old token matches nothing from now on
    entry = audit(ctx, user.id, CATEGORY, "webhook_regenerate", target=hook.id, details={"name": hook.name})
    reply = Reply(packets.webhook_regenerate(_wire(state, hook, token)))
    return Step(state, (Persist((WebhookSaved(hook), entry), (reply,)),))
