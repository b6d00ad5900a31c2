"""The command table: wire name -> pure handler. Handler modules register with `@command`."""

from __future__ import annotations

from collections.abc import Callable

from .context import Context
from .effects import Step
from .request import Request
from .state import ServerState

Handler = Callable[[ServerState, Context, Request], Step]

#: Commands available after authentication.
HANDLERS: dict[str, Handler] = {}
#: Commands of the pre-auth gate (auth, login, register).
AUTH_HANDLERS: dict[str, Handler] = {}


#: Operator commands (`originchats admin …` through the admin socket); they answer with one
#: `Reply({"ok": bool, "message": str, ...})` and have no user behind them.
OPERATOR_HANDLERS: dict[str, Handler] = {}


def command(name: str, *, auth: bool = False, operator: bool = False) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        table = OPERATOR_HANDLERS if operator else AUTH_HANDLERS if auth else HANDLERS
        if name in table:
            raise RuntimeError(f"command {name!r} registered twice")
        table[name] = fn
        return fn

    return register
