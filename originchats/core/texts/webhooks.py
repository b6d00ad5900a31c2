"""Texts of the webhook commands and of `POST /webhooks` (extended/webhooks.md, as fixed here)."""

from __future__ import annotations

# the commands (the spec's texts)
WEBHOOK_CHANNEL_REQUIRED = "Channel is required"
WEBHOOK_NAME_REQUIRED = "Webhook name is required"
WEBHOOK_TEXT_ONLY = "Webhooks can only be created for text channels"
WEBHOOK_ID_REQUIRED = "Webhook ID is required"
WEBHOOK_NOT_FOUND = "Webhook not found"
WEBHOOK_NAME_EMPTY = "Webhook name must be a non-empty string"
WEBHOOK_NO_UPDATES = "No updates provided"

# the HTTP answers (the spec's texts)
WEBHOOK_TOKEN_REQUIRED = "Webhook token required"
WEBHOOK_INVALID_TOKEN = "Invalid webhook token"
WEBHOOK_NO_CONTENT = "No content provided"


def webhook_unhandled_event(event: str) -> str:
    return f"Unhandled event type: {event}"


# this server's own: the checks the original lacked
WEBHOOK_AVATAR_INVALID = "Webhook avatar must be an http(s) URL or null"
WEBHOOK_SECRET_INVALID = "Webhook secret must be a string (empty or null removes it)"
WEBHOOK_BODY_NOT_OBJECT = "JSON body must be an object"
WEBHOOK_BAD_SIGNATURE = "Invalid or missing X-Hub-Signature-256"
WEBHOOKS_DISABLED = "Webhooks are disabled on this server"
WEBHOOK_NOT_SAVED = "Failed to save the message"


def webhook_limit(limit: int) -> str:
    return f"Too many webhooks (the server allows {limit})"


def webhook_name_too_long(limit: int) -> str:
    return f"Webhook name too long (max {limit} characters)"


def webhook_field_type(field: str, kind: str) -> str:
    return f"'{field}' must be {kind}"


def webhook_rate_limited(seconds: int) -> str:
    return f"Too many posts through this webhook: retry in {seconds} s"
