"""Pipelined writes: a command whose only effect is a `Persist` followed by synchronous sends
(message_new) does not wait for its commit. The writer runs the sends right after the commit, in
commit order (store/writer.py `submit_nowait`), so one connection may have up to `PIPELINE_LIMIT`
messages committing at once, a commit serves more messages, and a group's broadcasts are flushed
together (docs/performance.md).

Any other command of that connection first waits (`settle`) until its pipelined writes are
committed and announced, so its replies keep the request order. When the writer's inbox is full
the command is not pipelined: the caller awaits the commit like any other (back-pressure).
"""

from __future__ import annotations

import attrs
import trio

from ..core.context import Context
from ..core.effects import Effect, Persist
from ..core.request import Request
from ..store.writer import Writer
from .interpreter import OPERATOR, SYNC_EFFECTS, Interpreter, Undo

PIPELINE_LIMIT = 64  # pipelined writes one connection may have committing at once


@attrs.define(eq=False)
class Pipeline:
    writer: Writer
    interpreter: Interpreter
    limit: int = PIPELINE_LIMIT
    _pending: dict[int, int] = attrs.Factory(dict)  # conn id -> its writes committing
    _settled: dict[int, trio.Event] = attrs.Factory(dict)  # conn id -> set when none is left

    def start(self, effect: Effect, ctx: Context, req: Request, listener: str | None, undo: Undo) -> bool:
        """Queue `effect` (a step's only effect) without waiting, if it can be pipelined; False
        when the caller must run it itself."""
        if not isinstance(effect, Persist) or not all(isinstance(e, SYNC_EFFECTS) for e in effect.then):
            return False
        conn_id = ctx.conn_id
        pending = self._pending.get(conn_id, 0)
        if pending >= self.limit or conn_id == OPERATOR:
            return False
        self._pending[conn_id] = pending + 1
        interpreter = self.interpreter

        def committed(failure: BaseException | None) -> None:
            left = self._pending[conn_id] - 1
            if left:
                self._pending[conn_id] = left
            else:
                del self._pending[conn_id]
                settled = self._settled.pop(conn_id, None)
                if settled is not None:
                    settled.set()
            if failure is not None:
                interpreter.failed(effect, conn_id, req, listener)
            else:
                interpreter.committed(effect, ctx, listener)

        if self.writer.submit_nowait(effect.writes, committed, undo):
            return True
        self._pending[conn_id] = pending  # the inbox is full: the caller awaits the commit
        if not pending:
            del self._pending[conn_id]
        return False

    def pending(self, conn_id: int) -> bool:
        """Whether the connection has pipelined writes not yet committed and announced."""
        return conn_id in self._pending

    async def settle(self, conn_id: int) -> None:
        """Wait until every pipelined write of this connection is committed and its sends ran."""
        if conn_id in self._pending:
            settled = self._settled.get(conn_id)
            if settled is None:
                settled = self._settled[conn_id] = trio.Event()
            await settled.wait()
