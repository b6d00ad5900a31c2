"""Every text the server sends as an error, a refusal or a close reason: the one catalogue.

Constants for fixed texts, small functions for texts with a value in them. Handlers raise
`ProtocolError(texts.X)` / `AuthError(texts.X)`, and error packets, refusals and disconnect reasons
take their text from here; nothing else in the core or the shell spells one out. The entries live
in five modules by family (requests, accounts, messages, members, threads); code uses them through this
package only, as `texts.X`.

tests/test_texts.py holds the catalogue to that: it scans the code for a text written inline where
one is expected, checks that every entry is used and that no text is spelled out again elsewhere,
and that every text the protocol documents (README §7, §9) is spelled exactly as there; the
entries it does not document are listed in `UNDOCUMENTED` below.

Clients match on these texts: change one only together with docs/compatibility.md.
"""

from __future__ import annotations

from .accounts import *  # noqa: F403
from .attachments import *  # noqa: F403
from .emojis import *  # noqa: F403
from .members import *  # noqa: F403
from .messages import *  # noqa: F403
from .polls import *  # noqa: F403
from .pins import *  # noqa: F403
from .pushvoice import *  # noqa: F403
from .requests import *  # noqa: F403
from .slash import *  # noqa: F403
from .threads import *  # noqa: F403
from .threads import UNDOCUMENTED_THREADS
from .unreads import *  # noqa: F403
from .webhooks import *  # noqa: F403

# ---- not in the protocol's tables -------------------------------------------------------------

#: Entries whose text README §7/§9 does not spell out: this server's additions (docs/compatibility.md
#: says where each comes from), the operator's answers, and the details inside a documented text
#: (`Embed <i>: <detail>`). Every other entry is checked against the protocol's spelling.
UNDOCUMENTED = frozenset({
    # frames, the dispatcher, failed commits
    "INVALID_JSON", "NOT_AN_OBJECT", "CMD_NOT_A_STRING", "FAILED_TO_SAVE", "SERVER_UNAVAILABLE", "wrong_type",
    "expected_string_array",
    # login limits, session tokens, accounts
    "AUTH_BUSY", "LOGIN_LOCKED", "REGISTRATIONS_LIMITED", "ROTUR_UNAVAILABLE", "TOKEN_REQUIRED", "INVALID_TOKEN",
    "rotur_name_too_long", "PASSWORDS_REQUIRED", "PASSWORD_CHANGED_MEANWHILE",
    # disconnect and close reasons
    "BANNED_REASON", "BANNED_NOW_REASON", "KICKED_REASON", "ACCOUNT_REMOVED", "LOGGED_OUT", "PASSWORD_CHANGED",
    "PASSWORD_RESET",
    # bounds on what is stored
    "message_too_large", "nested_too_deeply", "field_too_large", "not_storable", "record_too_large",
    "too_many_reaction_kinds", "TOO_MANY_REACTIONS", "channel_name_too_long", "channel_limit",
    "CHANNEL_NAME_CHARACTERS", "role_name_too_long", "role_limit", "ROLE_NAME_CHARACTERS", "nickname_too_long",
    "reason_too_long", "timeout_too_long", "server_name_length", "not_a_url",
    # rules the original did not have
    "USERS_AT_OR_ABOVE", "cannot_grant", "CANNOT_RENAME_SYSTEM_ROLE", "CANNOT_BAN_SELF", "CANNOT_TIME_OUT_SELF",
    "LAST_OWNER", "NOT_CONNECTED", "NICKNAME_REQUIRED", "NO_NICKNAME",
    # pins, replies, search (issue 8)
    "too_many_pins",
    # web push and voice (issue 10)
    "PUSH_ENDPOINT_REFUSED", "VOICE_CONNECT_DENIED", "VOICE_SPEAK_DENIED", "peer_id_invalid", "voice_full",
    # the details of `Embed <i>: <detail>` (pydantic's wording, as the original sent them)
    "EMBED_FIELD_REQUIRED", "EMBED_NOT_A_STRING", "EMBED_NOT_AN_INTEGER", "EMBED_INTEGER_PARSING",
    "EMBED_INTEGER_FRACTION", "EMBED_NOT_A_LIST", "EMBED_NOT_A_BOOLEAN", "EMBED_BOOLEAN_PARSING", "EMBED_NOT_A_NUMBER",
    "EMBED_NUMBER_PARSING", "EMBED_NOT_FINITE", "EMBED_STRING_TOO_SHORT", "EMBED_POLL_DATA", "EMBED_LINK_URL",
    "EMBED_IMAGE", "EMBED_TOTAL", "embed_string_too_long", "embed_integer_range", "embed_at_least", "embed_at_most",
    "embed_list_too_short", "embed_list_too_long", "embed_not_an_object", "embed_type",
    # the operator's answers (the admin socket, not the wire)
    "NO_RESULT", "OPERATOR_USER_REQUIRED", "OPERATOR_REASON_NOT_A_STRING", "OPERATOR_PASSWORD_REQUIRED",
    "OPERATOR_PASSWORD_LENGTH", "OPERATOR_ACCOUNT_DELETED", "unknown_admin_command", "no_such_user",
    "operator_reason_too_long", "rotur_has_no_password",
    # polls: extended/polls.md texts that README §7.4 leaves out, and the checks the original lacked
    "POLL_HAS_ENDED", "POLL_HAS_EXPIRED", "invalid_option", "question_too_long", "option_not_text_or_object",
    "option_text_invalid", "option_id_invalid", "option_emoji_invalid", "option_id_duplicate",
    "POLL_EXPIRY_INVALID", "POLL_DURATION_INVALID",
    # emoji: the details inside `Invalid emoji_<cmd> command scheme: <detail>`; server_update images
    "FIELD_REQUIRED", "NOT_A_STRING", "NOT_AN_INTEGER", "NOT_A_DATA_URI", "NOT_BASE64", "image_refused",
    "image_too_large", "FILES_UNAVAILABLE",
})
#: slash commands (extended/slash.md gives these outside README §7's list, or this server added them)
UNDOCUMENTED |= frozenset({
    "SLASH_USERNAME_REQUIRED", "SLASH_DURATION_REQUIRED", "SLASH_DURATION_POSITIVE", "invalid_argument",
    "slash_user_not_found", "already_banned", "not_banned", "SLASH_PERMISSION_DENIED", "too_many_pending_calls",
    "not_your_command", "no_pending_call",
})
#: attachments (extended/attachments.md, not README §7): this server's own texts
UNDOCUMENTED |= frozenset({
    "too_many_attachments", "invalid_attachment_command",
    "UPLOAD_NOT_JSON", "ATTACHMENT_FILE_NOT_FOUND", "UPLOAD_CREDENTIALS_REQUIRED", "UPLOAD_VALIDATION_FAILED", "UPLOAD_INVALID_CREDENTIALS",
    "UPLOAD_NO_USER_ID", "UPLOAD_MISSING_FIELDS", "UPLOAD_CHANNEL_NOT_FOUND",
    "UPLOAD_SEND_DENIED", "UPLOAD_BANNED", "UPLOAD_TIMED_OUT", "UPLOADS_DISABLED", "UPLOADS_BUSY", "UPLOAD_FAILED",
    "UPLOAD_BAD_EXPIRY", "UPLOAD_BAD_FIELD", "UPLOAD_NAME_TOO_LONG",
    "upload_throttled", "upload_type_not_allowed", "upload_too_large",
})
UNDOCUMENTED |= UNDOCUMENTED_THREADS
#: webhooks: the checks the original lacked (extended/webhooks.md "Flaws in the original")
UNDOCUMENTED |= frozenset({
    "WEBHOOK_TOKEN_REQUIRED", "WEBHOOK_INVALID_TOKEN", "WEBHOOK_NO_CONTENT", "webhook_unhandled_event",
    "WEBHOOK_AVATAR_INVALID", "WEBHOOK_SECRET_INVALID", "WEBHOOK_BODY_NOT_OBJECT", "WEBHOOK_BAD_SIGNATURE",
    "WEBHOOKS_DISABLED", "WEBHOOK_NOT_SAVED", "webhook_limit", "webhook_name_too_long", "webhook_field_type",
    "webhook_rate_limited",
})
