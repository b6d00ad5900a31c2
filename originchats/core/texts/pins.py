"""Texts of the pins, replies, search and embeds_list commands (extended/reactions_pins_replies.md,
extended/embeds.md)."""

from __future__ import annotations

# ---- pins -------------------------------------------------------------------------------------

PIN_CHANNEL_REQUIRED = "Channel name not provided"
MESSAGE_ID_REQUIRED = "Message ID is required"  # message_pin, message_unpin, embeds_list
PIN_DENIED = "You do not have permission to pin messages in this channel"


def too_many_pins(limit: int) -> str:
    return f"Too many pinned messages in this channel (max {limit})"


# ---- replies, search, embeds_list -------------------------------------------------------------

REPLIES_FIELDS = "Channel name and message ID are required"
SEARCH_FIELDS = "Channel name and query are required"
EMBEDS_LIST_CHANNEL_REQUIRED = "Channel or thread_id is required"
