"""Texts of attachments (extended/attachments.md §4, §5): the commands' errors and the upload's
HTTP error bodies (`{"error": text}`)."""

from __future__ import annotations

# ---- commands ---------------------------------------------------------------------------------

ATTACHMENTS_NOT_A_LIST = "Attachments must be an array"
ATTACHMENT_NOT_AN_OBJECT = "Each attachment must be an object"
ATTACHMENT_ID_REQUIRED = "Attachment ID is required"
ATTACH_OWN_ONLY = "You can only attach your own uploads"
ATTACHMENT_NOT_FOUND_OR_EXPIRED = "Attachment not found or expired"
ATTACHMENT_NOT_FOUND = "Attachment not found"
DELETE_OWN_ATTACHMENTS_ONLY = "You can only delete your own attachments"


def attachment_not_found_or_expired(attachment_id: str) -> str:
    return f"Attachment {attachment_id} not found or expired"


def too_many_attachments(limit: int) -> str:
    return f"Too many attachments (max {limit} per message)"


def invalid_attachment_command(cmd: str) -> str:
    """A missing, blank or non-string `attachment_id` (the original's pydantic report, in one line)."""
    return f"Invalid {cmd} command: attachment_id: a non-empty string is required"


# ---- the upload (HTTP bodies) -----------------------------------------------------------------

UPLOAD_NOT_JSON = "Content-Type must be application/json"
UPLOAD_CREDENTIALS_REQUIRED = "validator_key and validator are required for authentication"
UPLOAD_VALIDATION_FAILED = "Failed to validate credentials"
UPLOAD_INVALID_CREDENTIALS = "Invalid credentials"
UPLOAD_NO_USER_ID = "User ID not found in authentication response"
UPLOAD_USER_NOT_FOUND = "User not found"
UPLOAD_MISSING_FIELDS = "Missing required fields: file, name, mime_type, channel"
UPLOAD_CHANNEL_NOT_FOUND = "Channel does not exist"
UPLOAD_SEND_DENIED = "You don't have permission to send in this channel"
UPLOAD_BANNED = "You are banned from this server"
UPLOAD_TIMED_OUT = "You are timed out and cannot upload"
UPLOADS_DISABLED = "Uploads are disabled on this server"
UPLOADS_BUSY = "Too many uploads in progress, try again shortly"
UPLOAD_FAILED = "Failed to save attachment"
UPLOAD_BAD_EXPIRY = "expires_in_days must be a number"
UPLOAD_BAD_FIELD = "name, mime_type and channel must be strings"
UPLOAD_NAME_TOO_LONG = "name is too long (max 255 characters)"


ATTACHMENT_FILE_NOT_FOUND = "Attachment file not found"


def upload_throttled(limit: int) -> str:
    return f"Too many uploads: at most {limit} per minute, try again shortly"


def upload_type_not_allowed(mime: str) -> str:
    return f"File type not allowed: {mime}"


def upload_too_large(limit: int) -> str:
    return f"Request body too large (max {limit} bytes)"
