"""The command tables: wire name -> pure handler, built once from an explicit list of modules.

A handler module marks each of its handlers with `@command(name)` (`auth=True`: a command of the
pre-auth gate; `operator=True`: an operator command of the admin socket). The mark only labels
the function; nothing is registered by importing the module. `build(modules)` then collects the
marked functions that each module defines, into one `Commands` (core/dispatch.py lists the
modules and builds it once). A name marked twice in the same table fails the build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType

import attrs

from .context import Context
from .effects import Step
from .request import Request
from .state import ServerState

Handler = Callable[[ServerState, Context, Request], Step]

USER, AUTH, OPERATOR = "user", "auth", "operator"  # the three tables (see `Commands`)


@attrs.frozen
class Mark:
    name: str
    table: str


def command(name: str, *, auth: bool = False, operator: bool = False) -> Callable[[Handler], Handler]:
    """Label a handler as the command `name` (see the module docstring)."""
    def mark(fn: Handler) -> Handler:
        fn.command_mark = Mark(name, OPERATOR if operator else AUTH if auth else USER)  # type: ignore[attr-defined]
        return fn

    return mark


@attrs.frozen
class Commands:
    #: Commands available after authentication (the handshake's `capabilities`).
    handlers: dict[str, Handler]
    #: Commands of the pre-auth gate (auth, login, register).
    auth: dict[str, Handler]
    #: Operator commands (`originchats admin …` through the admin socket or offline); they answer
    #: with one `Reply({"ok": bool, "message": str, ...})` and have no user behind them.
    operator: dict[str, Handler]


def marked(module: ModuleType) -> list[tuple[Mark, Handler]]:
    """The handlers `module` itself defines (not those it imports), in definition order."""
    found = []
    for value in vars(module).values():
        mark = getattr(value, "command_mark", None)
        if isinstance(mark, Mark) and getattr(value, "__module__", None) == module.__name__:
            found.append((mark, value))
    return found


def build(modules: Iterable[ModuleType]) -> Commands:
    tables: dict[str, dict[str, Handler]] = {USER: {}, AUTH: {}, OPERATOR: {}}
    where: dict[tuple[str, str], str] = {}
    for module in modules:
        for mark, fn in marked(module):
            key = (mark.table, mark.name)
            if key in where:
                raise RuntimeError(f"{mark.table} command {mark.name!r} is defined twice: "
                                   f"in {where[key]} and {module.__name__}")
            where[key] = module.__name__
            tables[mark.table][mark.name] = fn
    return Commands(handlers=tables[USER], auth=tables[AUTH], operator=tables[OPERATOR])
