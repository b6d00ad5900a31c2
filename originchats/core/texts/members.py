"""Texts of roles, members, moderation, the server's settings and the rate limiter."""

from __future__ import annotations

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
