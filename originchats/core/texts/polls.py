"""Texts of the poll commands (extended/polls.md)."""

from __future__ import annotations

# ---- documented (protocol README §7.4, extended/polls.md) ----------------------------------------

POLL_TARGET_REQUIRED = "Channel or thread_id is required"
QUESTION_REQUIRED = "Question is required"
POLL_TOO_FEW_OPTIONS = "At least 2 options are required"
POLL_TOO_MANY_OPTIONS = "Cannot have more than 10 options"
POLL_REF_REQUIRED = "poll_id or message_id is required"
POLL_NOT_FOUND = "Poll not found"
POLL_ALREADY_ENDED = "Poll has already ended"
POLL_VIEW_DENIED = "You do not have permission to view this poll"
POLL_OPTIONS_REQUIRED = "option_id or option_ids is required"
POLL_HAS_ENDED = "Poll has ended"
POLL_HAS_EXPIRED = "Poll has expired"
SEND_DENIED_THREAD = "You do not have permission to send messages in this thread"


def option_needs_text(index: int) -> str:
    return f"Option {index} must have 'text'"


def invalid_option(value: object) -> str:
    """As the original formats it (Python's `str` of what was sent)."""
    return f"Invalid option: {value}"


# ---- this server's additions (docs/compatibility.md, "Polls") -----------------------------------


def question_too_long(limit: int) -> str:
    return f"Question cannot be longer than {limit} characters"


def option_not_text_or_object(index: int) -> str:
    return f"Option {index} must be a string or an object with 'text'"


def option_text_invalid(index: int, limit: int) -> str:
    return f"Option {index} text must be a string of at most {limit} characters"


def option_id_invalid(index: int, limit: int) -> str:
    return f"Option {index} id must be a string of 1-{limit} characters"


def option_emoji_invalid(index: int, limit: int) -> str:
    return f"Option {index} emoji must be a string of at most {limit} characters"


def option_id_duplicate(index: int) -> str:
    return f"Option {index} has the same id as an earlier option"


POLL_EXPIRY_INVALID = "expires_at must be a time in the future (Unix seconds)"
POLL_DURATION_INVALID = "duration_hours must be a positive number"
