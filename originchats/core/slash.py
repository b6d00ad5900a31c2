"""Slash commands (extended/slash.md): the registry of bots' commands, the check of a definition
and of a call's arguments, and the calls waiting for a bot's `slash_response`.

Everything here is in memory: a bot's commands live as long as the connection that registered
them (core/dispatch.py `disconnect` drops them and tells everyone with `slash_remove`). A call of
a bot's command is remembered as `Pending` until the bot answers it once, its deadline
(`[slash] response_seconds`) passes, or the registering connection closes; `slash_response` is
accepted only against such a call (flaw 1 of slash.md: anyone could post anything anywhere).
"""

from __future__ import annotations

import math
from typing import Any

from . import texts
from .errors import ProtocolError
from .settings import SlashSettings
from .slash_records import SlashState

OPTION_TYPES = ("str", "int", "bool", "enum", "float")
#: the built-ins, in the order slash_list shows them (handlers/slash_builtins.py runs them)
BUILTIN_NAMES = ("ban", "help", "mute", "nick", "unban", "unmute")
SYSTEM_REGISTRANT = "originChats"


def menu_changes(before: SlashState, after: SlashState) -> tuple[list[str], list[dict[str, Any]]]:
    """(names gone from everyone's menu, definitions new or changed) between two registries."""
    old, new = before.effective(), after.effective()
    removed = [name for name in old if name not in new]
    added = [d for name, (_, d) in new.items() if name not in old or old[name][1] != d]
    return removed, added


# ---- definitions ------------------------------------------------------------------------------


def _bad(detail: str) -> ProtocolError:
    return ProtocolError(texts.invalid_command_schema(detail))


def _text(value: Any, where: str, limit: int, *, empty_ok: bool = True) -> str:
    if not isinstance(value, str):
        raise _bad(f"{where}: must be a string")
    if not empty_ok and not value.strip():
        raise _bad(f"{where}: must not be empty")
    if len(value) > limit:
        raise _bad(f"{where}: at most {limit} characters")
    return value


def _name(value: Any, where: str, limit: int) -> str:
    name = _text(value, where, limit, empty_ok=False)
    if any(c.isspace() or c == "/" or not c.isprintable() for c in name):
        raise _bad(f"{where}: no spaces, slashes or control characters")
    return name


def _roles(value: Any, where: str, cfg: SlashSettings) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad(f"{where}: must be a list of role names or null")
    if len(value) > cfg.roles_per_list:
        raise _bad(f"{where}: at most {cfg.roles_per_list} roles")
    return [_text(r, where, cfg.text_length, empty_ok=False) for r in value]


def _option(value: Any, where: str, cfg: SlashSettings) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where}: must be an object")
    name = _name(value.get("name"), f"{where}.name", cfg.name_length)
    description = _text(value.get("description", ""), f"{where}.description", cfg.text_length)
    kind = value.get("type")
    if kind not in OPTION_TYPES:
        raise _bad(f"{where}.type: must be one of {', '.join(OPTION_TYPES)}")
    choices = value.get("choices")
    if choices == []:  # what chats.py sends for "no choices"
        choices = None
    if choices is not None:
        if not isinstance(choices, list) or not choices:
            raise _bad(f"{where}.choices: must be a list of strings or null")
        if len(choices) > cfg.choices_per_option:
            raise _bad(f"{where}.choices: at most {cfg.choices_per_option} choices")
        choices = [_text(c, f"{where}.choices", cfg.text_length) for c in choices]
        if kind not in ("str", "enum"):
            raise _bad(f"{where}.choices: only for type str or enum")
    elif kind == "enum":
        raise _bad(f"{where}.choices: required for type enum")
    required = value.get("required", True)
    if not isinstance(required, bool):
        raise _bad(f"{where}.required: must be a boolean")
    return {"name": name, "description": description, "type": kind, "choices": choices, "required": required}


def definition(value: Any, index: int, cfg: SlashSettings, registrant: str) -> dict[str, Any]:
    """A command definition as slash_register accepts it, in the form slash_list shows it."""
    where = f"commands[{index}]"
    if not isinstance(value, dict):
        raise _bad(f"{where}: must be an object")
    name = _name(value.get("name"), f"{where}.name", cfg.name_length)
    if name in BUILTIN_NAMES:
        raise _bad(f"{where}.name: /{name} is a built-in command")
    description = _text(value.get("description"), f"{where}.description", cfg.text_length)
    options = value.get("options", [])
    if options is None:
        options = []
    if not isinstance(options, list):
        raise _bad(f"{where}.options: must be a list")
    if len(options) > cfg.options_per_command:
        raise _bad(f"{where}.options: at most {cfg.options_per_command} options")
    opts = [_option(o, f"{where}.options[{i}]", cfg) for i, o in enumerate(options)]
    names = [o["name"] for o in opts]
    if len(set(names)) != len(names):
        raise _bad(f"{where}.options: option names must be distinct")
    ephemeral = value.get("ephemeral", False)
    if not isinstance(ephemeral, bool):
        raise _bad(f"{where}.ephemeral: must be a boolean")
    return {"name": name, "description": description, "options": opts,
            "whitelistRoles": _roles(value.get("whitelistRoles"), f"{where}.whitelistRoles", cfg),
            "blacklistRoles": _roles(value.get("blacklistRoles"), f"{where}.blacklistRoles", cfg),
            "ephemeral": ephemeral, "registeredBy": registrant}


def definitions(value: Any, cfg: SlashSettings, registrant: str) -> tuple[dict[str, Any], ...]:
    """Every definition of a slash_register, all checked before any is kept."""
    if not isinstance(value, list):
        raise ProtocolError(texts.COMMANDS_NOT_A_LIST)
    if not value:
        raise _bad("commands: at least one command")
    if len(value) > cfg.commands_per_connection:
        raise _bad(f"commands: at most {cfg.commands_per_connection} per connection")
    out = tuple(definition(v, i, cfg, registrant) for i, v in enumerate(value))
    names = [d["name"] for d in out]
    if len(set(names)) != len(names):
        raise _bad("commands: command names must be distinct")
    return out


# ---- calls ------------------------------------------------------------------------------------


def roles_allow(d: dict[str, Any], roles: tuple[str, ...]) -> None:
    """The same rule for built-ins and bots' commands (flaw 4): no blacklisted role, and, when
    there is a whitelist, at least one of its roles."""
    black = d.get("blacklistRoles") or []
    if any(r in black for r in roles):
        raise ProtocolError(texts.SLASH_FORBIDDEN_ROLES)
    white = d.get("whitelistRoles")
    if white and not any(r in white for r in roles):
        raise ProtocolError(texts.slash_role_required(white[0]))


def checked_args(d: dict[str, Any], args: dict[str, Any], text_limit: int) -> dict[str, Any]:
    """The call's arguments against the command's options: names, required ones, types, choices."""
    options = {o["name"]: o for o in d["options"]}
    for key in args:
        if key not in options:
            raise ProtocolError(texts.unknown_argument(key))
    out: dict[str, Any] = {}
    for name, opt in options.items():
        if name not in args or args[name] is None:
            if opt["required"]:
                raise ProtocolError(texts.missing_argument(name))
            continue
        out[name] = _typed(name, opt, args[name], text_limit)
    return out


def _typed(name: str, opt: dict[str, Any], value: Any, text_limit: int) -> Any:
    kind = opt["type"]
    if kind in ("str", "enum"):
        if not isinstance(value, str):
            raise ProtocolError(texts.invalid_argument(name, "a string"))
        if len(value) > text_limit:
            raise ProtocolError(texts.invalid_argument(name, f"at most {text_limit} characters"))
        if opt["choices"] is not None and value not in opt["choices"]:
            raise ProtocolError(texts.invalid_argument(name, "one of " + ", ".join(opt["choices"])))
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(texts.invalid_argument(name, "an integer"))
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ProtocolError(texts.invalid_argument(name, "a number"))
        return value
    if not isinstance(value, bool):
        raise ProtocolError(texts.invalid_argument(name, "a boolean"))
    return value
