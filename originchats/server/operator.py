"""The operator bridge: one operator command (`originchats admin …`), from its request to its
answer, online (the admin socket, server/admin_socket.py) and offline (server/offline.py) alike.

The command's step runs on the owner's state through the interpreter like any command; its answer
is the last packet it addressed to `OPERATOR`. Operator commands run one at a time (a lock), so
two `originchats admin` calls at once cannot take each other's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from ..core import dispatch, packets, texts
from ..core.context import Context
from ..protocol import codec
from .interpreter import OPERATOR, Interpreter


@attrs.define(eq=False)
class OperatorBridge:
    interpreter: Interpreter
    context: Callable[[int], Context]  # a fresh Context for a connection id
    _lock: trio.Lock = attrs.Factory(trio.Lock)

    async def run(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Run an operator command; its answer packet (`{"ok": bool, "message": str, …}`)."""
        async with self._lock:
            interpreter = self.interpreter
            owner = interpreter.owner
            req = codec.operator_request(data)
            ctx = self.context(OPERATOR)
            before = owner.state
            step = dispatch.operator(before, ctx, req)
            owner.state = step.state
            interpreter.operator_answer = None
            try:
                await interpreter.run(step.effects, ctx, req, None, interpreter.undo(before, step.state))
                answer = interpreter.operator_answer
            finally:
                interpreter.operator_answer = None
            return answer if answer is not None else packets.operator_error(texts.NO_RESULT)
