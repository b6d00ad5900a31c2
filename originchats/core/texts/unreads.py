"""Texts of the unread and ping commands (extended/unreads_pings.md)."""

from __future__ import annotations

UNREADS_TARGET_REQUIRED = "Channel or thread_id is required"
PINGS_LIMIT = "Limit must be a number between 1 and 100"
PINGS_OFFSET = "Offset must be a non-negative number"
