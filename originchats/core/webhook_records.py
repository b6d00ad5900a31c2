"""The webhook record (extended/webhooks.md, as fixed here) and its token hash.

A token is made by the core from the context's fresh token (256 random bits), shown once, and
never stored: the record keeps its SHA-256, and a post is matched by a lookup of the hash of the
token it carries (`ServerState.webhook_tokens`), so no token is ever compared byte by byte and
no scan gives away how much of one matched. SHA-256 is enough for a random, high-entropy token
(nothing to guess a preimage from).
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

TOKEN_PREFIX = "whk_"  # tells an operator what a leaked string is


@attrs.frozen(kw_only=True)
class Webhook:
    id: str
    channel_id: str
    name: str
    token_hash: str
    created_by: str | None
    created_at: float
    avatar: str | None = None
    secret: str | None = None  # GitHub's shared secret (X-Hub-Signature-256); never sent to clients


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(fresh: str) -> str:
    """A webhook token from the context's fresh token (`secrets.token_urlsafe(32)`-like)."""
    return TOKEN_PREFIX + fresh


def wire(hook: Webhook, channel_name: str | None, token: str | None = None) -> dict[str, Any]:
    """The record as the commands send it: never the hash nor the secret; the token only when it
    was just made (webhook_create, webhook_regenerate)."""
    out: dict[str, Any] = {"id": hook.id, "channel": channel_name, "name": hook.name}
    if token is not None:
        out["token"] = token
    out.update({"created_by": hook.created_by, "created_at": hook.created_at, "avatar": hook.avatar,
                "has_secret": hook.secret is not None})
    return out
