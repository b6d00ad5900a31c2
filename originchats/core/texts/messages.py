"""Texts of the channel and message commands."""

from __future__ import annotations

# ---- channels and messages --------------------------------------------------------------------

CHANNEL_NOT_FOUND = "Channel not found"
THREAD_NOT_FOUND = "Thread not found"
CHANNEL_OR_THREAD_REQUIRED = "Channel or thread_id required"
CHANNEL_ACCESS_DENIED = "Access denied to this channel"
MESSAGE_EMPTY = "Message content or attachments cannot be empty"
SEND_DENIED = "You do not have permission to send messages in this channel"
CHANNEL_TYPE_CANNOT_SEND = "Cannot send messages in this channel type"
ATTACHMENTS_DISABLED = "Attachments are disabled"
REPLY_TARGET_NOT_FOUND = "The message you're trying to reply to was not found"
MESSAGE_GET_FIELDS = "Channel/thread and message ID are required"
MESSAGE_NOT_FOUND = "Message not found"
AROUND_REQUIRED = "around (message ID) is required"
INVALID_EDIT = "Invalid message edit format"
EDIT_NOT_FOUND = "Message not found or cannot be edited"
EDIT_OWN_DENIED = "You do not have permission to edit your own message in this channel"
EDIT_DENIED = "You do not have permission to edit this message"
INVALID_DELETE = "Invalid message delete format"
DELETE_NOT_FOUND = "Message not found or cannot be deleted"
DELETE_OWN_DENIED = "You do not have permission to delete your own message in this channel"
DELETE_DENIED = "You do not have permission to delete this message"
REACTION_FIELDS = "Message ID and emoji are required"
INVALID_EMOJI = "Invalid emoji"
REACT_ADD_DENIED = "You do not have permission to add reactions to this message"
REACT_REMOVE_DENIED = "You do not have permission to remove reactions from this message"
REACTION_ADD_FAILED = "Failed to add reaction"
REACTION_REMOVE_FAILED = "Failed to remove reaction"
TOO_MANY_REACTIONS = "Too many reactions on this message"
TYPING_CHANNEL_REQUIRED = "Channel name or thread_id not provided"


def missing_fields(fields: list[str]) -> str:
    return "Missing fields: " + ", ".join(fields)


def message_too_long(limit: int) -> str:
    return f"Message too long. Maximum length is {limit} characters"


def mention_denied(role: str) -> str:
    return f"You do not have permission to mention the '@&{role}' role"


def too_many_reaction_kinds(limit: int) -> str:
    return f"Too many different reactions on this message (max {limit})"

# ---- channel administration -------------------------------------------------------------------

CHANNEL_NAME_REQUIRED = "Channel name is required"
CHANNEL_NAME_CHARACTERS = "Channel name contains invalid characters"
CHANNEL_TYPE_REQUIRED = "Channel type is required (text, voice, or separator)"
CHANNEL_TYPE_INVALID = "Invalid channel type, must be text, voice, or separator"
CHANNEL_EXISTS = "Channel already exists"
CURRENT_NAME_REQUIRED = "current_name is required"
UPDATES_REQUIRED = "updates object is required"
INVALID_CHANNEL_TYPE = "Invalid channel type"
CHANNEL_NAME_TAKEN = "Channel with new name already exists"
POSITION_REQUIRED = "Position is required"
POSITION_INVALID = "Position must be a non-negative integer"


def channel_name_too_long(limit: int) -> str:
    return f"Channel name too long (max {limit} characters)"


def channel_limit(limit: int) -> str:
    return f"Channel limit reached (max {limit} channels)"
