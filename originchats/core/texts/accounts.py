"""Texts about who asks: authentication, the account, the caller's permissions, the reasons a
socket is told before it is closed, and the operator's answers."""

from __future__ import annotations

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
