"""Every text the server sends as an error, a refusal or a close reason: the one catalogue.

Constants for fixed texts, small functions for texts with a value in them. Handlers raise
`ProtocolError(texts.X)` / `AuthError(texts.X)`, and error packets, refusals and disconnect reasons
take their text from here; nothing else in the core or the shell spells one out.
tests/test_texts.py holds the catalogue to that: it scans the code for a text written inline where
one is expected, checks that every entry is used, and that every text the protocol documents
(README §7, §9) is spelled exactly as there; the entries it does not document are listed in
`OURS`, with why.

Clients match on these texts, so change one only together with docs/compatibility.md.
"""

from __future__ import annotations

# ---- frames that are not requests (protocol/codec.py) and the dispatcher ----------------------

INVALID_JSON = "Invalid JSON"
NOT_AN_OBJECT = "Invalid message format: expected a JSON object"
CMD_NOT_A_STRING = "Invalid field 'cmd': expected string"
FAILED_TO_SAVE = "Failed to save changes"


def unknown_command(cmd: str | None) -> str:
    return f"Unknown command: {cmd}"


def wrong_type(field: str, expected: str, got: str) -> str:
    """A request field of the wrong JSON type (core/request.py names `got`)."""
    return f"Invalid field '{field}': expected {expected}, got {got}"


def expected_string_array(field: str) -> str:
    return f"Invalid field '{field}': expected array of strings"


# ---- authentication (auth_error) --------------------------------------------------------------

AUTHENTICATION_REQUIRED = "Authentication required"
ROTUR_DISABLED = "Rotur authentication is disabled. Use login or register commands."
INVALID_AUTHENTICATION = "Invalid authentication"
ROTUR_UNAVAILABLE = "Authentication service unavailable, please try again"
BANNED_AUTH = "Access denied: You are banned from this server"
USER_NOT_FOUND = "User not found"
CREDENTIALS_REQUIRED = "Username and password required"
TOKEN_REQUIRED = "Username and token required"
INVALID_TOKEN = "Invalid or expired session token"
INVALID_PASSWORD = "Invalid password"
ROTUR_ACCOUNT = "This account uses Rotur authentication"
AUTHENTICATION_FAILED = "Authentication failed"
REGISTRATION_DISABLED = "Registration is disabled"
USERNAME_LENGTH = "Username must be 2-32 characters"
PASSWORD_LENGTH = "Password must be 4-72 characters"
USERNAME_CHARACTERS = "Username can only contain letters, numbers, hyphens, and underscores"
USERNAME_TAKEN = "Username already taken"
REGISTRATION_FAILED = "Registration failed"
AUTH_BUSY = "Too many authentication requests in progress, please try again shortly"
LOGIN_LOCKED = "Too many failed login attempts, try again later"
REGISTRATIONS_LIMITED = "Too many registrations from your address, try again later"


def rotur_name_too_long(max_bytes: int) -> str:
    return f"Rotur username is too long for this server (at most {max_bytes} bytes)"


# ---- the account ------------------------------------------------------------------------------

PASSWORDS_REQUIRED = "Old and new password required"
PASSWORD_CHANGED_MEANWHILE = "The password was changed meanwhile, please try again"

# ---- disconnect and close reasons -------------------------------------------------------------

BANNED_REASON = "You are banned from this server"  # a banned account's socket that sends anything
BANNED_NOW_REASON = "You have been banned"
KICKED_REASON = "You have been kicked"
ACCOUNT_REMOVED = "Account removed"
LOGGED_OUT = "Logged out"
PASSWORD_CHANGED = "Password changed"
PASSWORD_RESET = "Your password was reset"

# ---- permissions and roles of the caller ------------------------------------------------------

USER_ROLES_NOT_FOUND = "User roles not found"
OWNER_REQUIRED = "Access denied: 'owner' role required"


def permission_required(perm: str) -> str:
    return f"Access denied: '{perm}' permission required"


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


# ---- embeds (core/embeds.py): `Embed <i>: ` and a report in pydantic's layout -----------------

EMBEDS_NOT_A_LIST = "Embeds must be an array"
TOO_MANY_EMBEDS = "Cannot have more than 10 embeds"
EMBED_FIELD_REQUIRED = "Field required"
EMBED_NOT_A_STRING = "Input should be a valid string"
EMBED_NOT_AN_INTEGER = "Input should be a valid integer"
EMBED_NOT_AN_OBJECT = "Input should be a valid dictionary or object"
EMBED_NOT_A_LIST = "Input should be a valid list"
EMBED_NOT_A_BOOLEAN = "Input should be a valid boolean"
EMBED_NOT_A_NUMBER = "Input should be a valid number"
EMBED_NOT_FINITE = "Input should be a finite number"
EMBED_POLL_OPTIONS = "List should have between 2 and 10 items"
EMBED_OPTION_ID = "String should have between 1 and 50 characters"
EMBED_COLOR_RANGE = "Input should be between 0 and 16777215"
EMBED_TOO_MANY_FIELDS = "List should have at most 25 items"
EMBED_POLL_DATA = "Value error, Poll embeds must have 'poll' data"
EMBED_LINK_URL = "Value error, Link embeds must have 'url'"
EMBED_IMAGE = "Value error, Image embeds must have 'image'"
EMBED_TOTAL = "Value error, Embed total characters cannot exceed 6000"


def embed_invalid(index: int, loc: str, detail: str) -> str:
    return f"Embed {index}: 1 validation error for Embed\n{loc}\n  {detail}"


def embed_string_too_long(limit: int) -> str:
    return f"String should have at most {limit} characters"


def embed_integer_range(bound: int) -> str:
    return f"Input should be between -{bound} and {bound}"


def embed_type(types: tuple[str, ...]) -> str:
    return "Input should be " + ", ".join(f"'{t}'" for t in types)


# ---- stored sizes (core/budget.py) ------------------------------------------------------------


def message_too_large(limit: int) -> str:
    return f"Message too large. Maximum size is {limit} bytes (content, embeds and reactions together)"


def nested_too_deeply(field: str, depth: int) -> str:
    return f"Invalid field '{field}': nested too deeply (at most {depth} levels)"


def field_too_large(field: str, limit: int) -> str:
    return f"Invalid field '{field}': too large (at most {limit} bytes)"


def not_storable(field: str) -> str:
    return (f"Invalid field '{field}': only JSON strings, finite numbers, booleans, null, arrays and objects "
            "can be stored")


def record_too_large(what: str, limit: int) -> str:
    return f"{what} too large (at most {limit} bytes stored)"


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


# ---- roles ------------------------------------------------------------------------------------

ROLE_NAME_REQUIRED = "Role name is required"
ROLE_NAME_CHARACTERS = "Role name contains invalid characters"
ROLE_KEY_REQUIRED = "Role id or name is required"
ROLE_NOT_FOUND = "Role not found"
NO_ROLES = "No roles found"
ROLE_EXISTS = "Role already exists"
ROLE_DATA_REQUIRED = "Role data is required"
ROLES_ARRAY_REQUIRED = "Roles array is required"
REORDER_FAILED = "Failed to reorder roles"
PERMISSIONS_NOT_A_LIST = "Permissions must be an array"
CANNOT_DELETE_SYSTEM_ROLE = "Cannot delete system roles"
CANNOT_RENAME_SYSTEM_ROLE = "Cannot rename system roles"
ROLES_AT_OR_ABOVE = "Cannot manage roles at or above your position"
USERS_AT_OR_ABOVE = "Cannot manage users at or above your position"
ROLES_LIST_REQUIRED = "Roles list is required"
SELF_ASSIGN_REFUSED = "This role is not self-assignable"
ALREADY_HAVE_ROLE = "You already have this role"
DO_NOT_HAVE_ROLE = "You don't have this role"


def role_named_not_found(shown: str | None) -> str:
    return f"Role '{shown}' not found"


def role_does_not_exist(key: object) -> str:
    return f"Role '{key}' does not exist"


def role_not_self_assignable(name: str) -> str:
    return f"Role '{name}' cannot be made self-assignable"


def role_name_too_long(limit: int) -> str:
    return f"Role name too long (max {limit} characters)"


def role_limit(limit: int) -> str:
    return f"Role limit reached (max {limit} roles)"


def cannot_grant(perm: object) -> str:
    return f"Cannot grant permission '{perm}' you do not have"


def role_used_in_channel(channel: str) -> str:
    return f"Role is used in channel '{channel}' permissions"


# ---- members, moderation, server --------------------------------------------------------------

USER_REQUIRED = "User parameter is required"
CANNOT_BAN_SELF = "You cannot ban yourself"
CANNOT_TIME_OUT_SELF = "You cannot time out yourself"
TIMEOUT_INVALID = "Timeout must be a positive integer"
RATE_LIMITER_DISABLED = "Rate limiter not available or disabled"
OWN_RATE_LIMIT_ONLY = "Access denied: can only check your own rate limit status"
LAST_OWNER = "Cannot delete the last owner"
NOT_CONNECTED = "User is not connected"
UPDATES_NOT_AN_OBJECT = "Updates must be an object"
USERNAME_NOT_A_STRING = "Username must be a non-empty string"
NICKNAME_REQUIRED = "Nickname is required"
NO_NICKNAME = "You don't have a nickname set"
NO_UPDATES = "No updates provided"
STATUS_REQUIRED = "Status is required"
STATUS_INVALID = "Invalid status. Must be one of: online, idle, dnd, offline, invisible"
PFP_ROTUR = "Profile pictures are managed by Rotur for this account"
URL_REQUIRED = "URL required"
URL_INVALID = "Invalid URL format"
URL_TOO_LONG = "URL too long (max 500 characters)"
USERNAME_REQUIRED = "Username required"
TIMEOUT_SET = "User timeout set"  # the `rate_limit` pushed to a member put in timeout
MODLOG_ACCESS_DENIED = "Access denied: 'view_audit_log' or 'manage_users' permission required"
MODLOG_LIMIT = "Limit must be between 1 and 200"
MODLOG_OFFSET = "Offset must be a non-negative integer"
MODLOG_AFTER = "After must be a valid Unix timestamp"


def reason_too_long(limit: int) -> str:
    return f"Reason must be at most {limit} characters"


def timeout_too_long(limit: int) -> str:
    return f"Timeout must be at most {limit} seconds"


def nickname_too_long(limit: int) -> str:
    return f"Nickname too long (max {limit} characters)"


def cannot_update_field(field: object) -> str:
    return f"Cannot update field: {field}"


def string_or_null(label: str) -> str:
    """`Name`, `Icon`, `Banner`, `Nickname` must be a string or null."""
    return f"{label} must be a string or null"


def server_name_length(limit: int) -> str:
    return f"Name must be 1-{limit} characters"


def not_a_url(label: str, limit: int) -> str:
    return f"{label} must be an http(s) URL of at most {limit} characters"


def plugin_reload_failed(shown: str) -> str:
    return f"Failed to reload plugin '{shown}'"


# ---- the rate limiter (README §9) -------------------------------------------------------------


def in_timeout(seconds: str) -> str:
    return f"You are in timeout for {seconds} more seconds"


def in_cooldown(seconds: str) -> str:
    return f"You are in cooldown for {seconds} more seconds"


def rate_limit_exceeded(seconds: str) -> str:
    return f"Rate limit exceeded. Wait {seconds} seconds"


def burst_limit_exceeded(seconds: object) -> str:
    return f"Burst limit exceeded. You're in cooldown for {seconds} seconds"


# ---- operator commands (the admin socket) -----------------------------------------------------

NO_RESULT = "no result"
OPERATOR_USER_REQUIRED = "a user name is required"
OPERATOR_REASON_NOT_A_STRING = "the reason must be a string"
OPERATOR_PASSWORD_REQUIRED = "a new password is required"
OPERATOR_PASSWORD_LENGTH = "the password must be 4-72 characters"
OPERATOR_ACCOUNT_DELETED = "the account was deleted meanwhile"


def unknown_admin_command(cmd: object) -> str:
    return f"unknown admin command: {cmd}"


def no_such_user(shown: str) -> str:
    return f"no such user: {shown}"


def operator_reason_too_long(limit: int) -> str:
    return f"the reason must be at most {limit} characters"


def rotur_has_no_password(username: str) -> str:
    return f"{username} signs in with Rotur: it has no password here"


# ---- not in the protocol's tables -------------------------------------------------------------

#: Entries whose text README §7/§9 does not spell out: this server's additions (docs/compatibility.md
#: says where each comes from), the operator's answers, and the details inside a documented text
#: (`Embed <i>: <detail>`). Every other entry is checked against the protocol's spelling.
UNDOCUMENTED = frozenset({
    # frames, the dispatcher, failed commits
    "INVALID_JSON", "NOT_AN_OBJECT", "CMD_NOT_A_STRING", "FAILED_TO_SAVE", "wrong_type", "expected_string_array",
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
    # the details of `Embed <i>: <detail>` (pydantic's wording, as the original sent them)
    "EMBED_FIELD_REQUIRED", "EMBED_NOT_A_STRING", "EMBED_NOT_AN_INTEGER", "EMBED_NOT_AN_OBJECT", "EMBED_NOT_A_LIST",
    "EMBED_NOT_A_BOOLEAN", "EMBED_NOT_A_NUMBER", "EMBED_NOT_FINITE", "EMBED_POLL_OPTIONS", "EMBED_OPTION_ID",
    "EMBED_COLOR_RANGE", "EMBED_TOO_MANY_FIELDS", "EMBED_POLL_DATA", "EMBED_LINK_URL", "EMBED_IMAGE", "EMBED_TOTAL",
    "embed_string_too_long", "embed_integer_range", "embed_type",
    # the operator's answers (the admin socket, not the wire)
    "NO_RESULT", "OPERATOR_USER_REQUIRED", "OPERATOR_REASON_NOT_A_STRING", "OPERATOR_PASSWORD_REQUIRED",
    "OPERATOR_PASSWORD_LENGTH", "OPERATOR_ACCOUNT_DELETED", "unknown_admin_command", "no_such_user",
    "operator_reason_too_long", "rotur_has_no_password",
})
