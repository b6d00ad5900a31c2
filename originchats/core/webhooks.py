"""Posting through a webhook (extended/webhooks.md, "HTTP", as fixed here): pure decisions the
shell's route (server/webhooks_http.py) calls on the state of the moment.

* `find` matches a token by the hash lookup of core/webhook_records.py;
* `take_slot` is the per-webhook token bucket (`[webhooks] posts_per_minute`, `burst`);
* core/handlers/webhook_posts.py builds the message (reached through core/dispatch.py).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from .state import ServerState
from .webhook_records import Webhook, token_hash


class WebhookRefused(Exception):
    """An HTTP answer `{"error": text}` with `status`."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def find(state: ServerState, token: str) -> Webhook | None:
    hook_id = state.webhook_tokens.get(token_hash(token))
    return state.webhooks.get(hook_id) if hook_id is not None else None


def take_slot(state: ServerState, hook_id: str, now: float) -> tuple[ServerState, float | None]:
    """Take one post from the webhook's bucket: (new state, None), or (state, seconds until the
    next post is allowed) when it is empty."""
    cfg = state.settings.webhooks
    if cfg.posts_per_minute <= 0:
        return state, None
    rate = cfg.posts_per_minute / 60.0
    capacity = float(max(cfg.burst, 1))
    left, when = state.webhook_buckets.get(hook_id, (capacity, now))
    left = min(capacity, left + max(0.0, now - when) * rate)
    if left < 1.0:
        return state, (1.0 - left) / rate
    return state.replaced("webhook_buckets", state.webhook_buckets.set(hook_id, (left - 1.0, now))), None


def prune_buckets(state: ServerState, now: float) -> ServerState:
    """Drop the buckets that are full again (or whose webhook is gone): they equal no bucket."""
    cfg = state.settings.webhooks
    rate = cfg.posts_per_minute / 60.0 if cfg.posts_per_minute > 0 else float("inf")
    capacity = float(max(cfg.burst, 1))
    buckets = state.webhook_buckets
    for hook_id, (left, when) in list(buckets.items()):
        if hook_id not in state.webhooks or left + (now - when) * rate >= capacity:
            buckets = buckets.delete(hook_id)
    return state if buckets is state.webhook_buckets else state.replaced("webhook_buckets", buckets)


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8", "replace"))


def valid_url(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit and value.lower().startswith(("https://", "http://"))
