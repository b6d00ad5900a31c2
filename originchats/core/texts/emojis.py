"""Texts of the custom emoji commands (extended/emojis.md) and of server_update's images."""

from __future__ import annotations

EMOJI_ADD_FAILED = "Error adding emoji"
EMOJI_NOT_FOUND = "Emoji not found"
EMOJI_NO_UPDATES = "At least one field to update is required (name or image)"


def emoji_scheme(cmd: str, detail: str) -> str:
    """A malformed `emoji_<cmd>` request; `detail` names the field and the problem (the original
    sent pydantic's report here: clients match the text up to `scheme: `)."""
    return f"Invalid emoji_{cmd} command scheme: {detail}"


# the details of `emoji_scheme` (pydantic's wording for the same problems)
FIELD_REQUIRED = "Field required"
NOT_A_STRING = "Input should be a valid string"
NOT_AN_INTEGER = "Input should be a valid integer"
NOT_A_DATA_URI = "Value error, expected a data URI data:image/<type>;base64,<data>"
NOT_BASE64 = "Value error, invalid base64 data"


def image_refused(label: str, reason: str) -> str:
    """`server_update` with an icon or banner image the server would not take."""
    return f"{label} image refused: {reason}"


FILES_UNAVAILABLE = "Files cannot be stored on this server"


def image_too_large(max_bytes: int) -> str:
    return f"Image too large (max {max_bytes} bytes)"
