"""Texts of the slash commands (extended/slash.md): the documented ones, and this server's
checks the original lacked (docs/compatibility.md "Slash commands and bots")."""

from __future__ import annotations

# ---- documented (README §7, extended/slash.md) ------------------------------------------------

COMMANDS_NOT_A_LIST = "Commands must be provided as a list"
SLASH_CHANNEL_REQUIRED = "Channel parameter is required for slash commands"
SLASH_ARGS_NOT_AN_OBJECT = "Command args must be an object"
SLASH_COMMAND_NOT_A_STRING = "Command name must be a string"
SLASH_FORBIDDEN_ROLES = "Access denied: forbidden roles"
SLASH_RESPONSE_EMPTY = "Slash response must have content or embeds"
SLASH_RESPONSE_NOT_A_STRING = "Slash response must be a string"
SLASH_RESPONSE_COMMAND_REQUIRED = "Command parameter is required for slash responses"
SLASH_USERNAME_REQUIRED = "Username is required"
SLASH_DURATION_REQUIRED = "Duration is required"
SLASH_DURATION_POSITIVE = "Duration must be a positive number"


def invalid_command_schema(detail: str) -> str:
    return f"Invalid command schema: {detail}"


def slash_role_required(role: str) -> str:
    return f"Access denied: '{role}' role required"


def unknown_slash_command(name: str) -> str:
    return f"Unknown slash command: /{name}"


def unknown_argument(name: str) -> str:
    return f"Unknown argument: {name}"


def missing_argument(name: str) -> str:
    return f"Missing required argument: {name}"


def invalid_argument(name: str, expected: str) -> str:
    return f"Invalid value for '{name}': Expected {expected}"


def slash_user_not_found(name: str) -> str:
    return f"User '{name}' not found"


def already_banned(name: str) -> str:
    return f"User '{name}' is already banned"


def not_banned(name: str) -> str:
    return f"User '{name}' is not banned"


# ---- this server's own checks -----------------------------------------------------------------

SLASH_PERMISSION_DENIED = "You do not have permission to use slash commands"


def too_many_pending_calls(name: str) -> str:
    return f"Too many unanswered calls of /{name}; try again later"


def not_your_command(name: str) -> str:
    return f"You have no slash command /{name} registered"


def no_pending_call(name: str) -> str:
    return f"No call of /{name} is waiting for a response in this channel (or its deadline passed)"
