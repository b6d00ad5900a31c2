"""The effect interpreter: runs the effects of the core's steps (core/effects.py), in order, for the
live server and for the offline admin path alike.

What an effect does is decided here; where it lands is the `Sink`'s business:

* the live server (server/sockets.py `SocketSink`): packets go to the sockets, writes to the single
  writer, operations to the op runner, refusals to the rejection log;
* a stopped server (server/offline.py `OfflineSink`): writes are committed directly in one SQLite
  transaction per `Persist`, operations run on the same connection, and there is no socket.

Either way an operator command's answer is the `Reply` addressed to `OPERATOR`, kept in
`operator_answer` (server/operator.py), so it behaves the same online and offline: the sends
after a commit, a `Persist.after` continuation, a `Send(reply=True)`, a failed commit (its step
taken back, its `failed` effects or the `Failed to save changes` answer).

The state lives with its owner (the hub, or the offline run): `owner.state` is replaced right
after each pure step, with no await in between. A step's state is in place before its writes
commit; if the commit fails, its undo (`undo`) takes the step's changes back out of the current
state (core/revert.py), then the `Persist`'s `failed` effects run.

`Reply`, `Send`, `Close` and `ChannelsChanged` run synchronously (`run_one`); only `Persist` and
`Fetch` await (`run`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs

from ..core import dispatch, packets, texts
from ..core.context import Context
from ..core.effects import ChannelsChanged, Close, Effect, Fetch, Persist, PushNotify, Reply, Send
from ..core.ops import Op
from ..core.request import Request
from ..core.revert import revert
from ..core.state import ServerState
from ..core.writes import Write
from ..store.writer import WriteFailed

OPERATOR = 0  # the pseudo-connection id of operator commands (real connections start at 1)
SYNC_EFFECTS = (Reply, Send, Close, ChannelsChanged, PushNotify)  # the effects `run_one` runs without awaiting

Undo = Callable[[], None]
Committed = Callable[[BaseException | None], None]


class StateOwner(Protocol):
    state: ServerState


class Sink(Protocol):
    """Where effects land (see the module docstring)."""

    def send(self, conns: tuple[int, ...], packet: dict[str, Any]) -> str | None:
        """Deliver `packet` to each of `conns`; its encoding (None when `conns` is empty)."""

    def reply(self, conn_id: int, packet: dict[str, Any], listener: str | None, text: str | None) -> None:
        """Deliver `packet` to a connection as its answer, with `listener`; `text` is the packet's
        encoding when it was just sent to others."""

    def close(self, conns: tuple[int, ...], code: int, reason: str) -> None: ...

    def limited(self, conn_id: int) -> None:
        """A command of `conn_id` was refused by a rate limiter (answered `rate_limit`)."""

    def channels_changed(self, before: ServerState, after: ServerState) -> None: ...

    def push(self, effect: PushNotify) -> None:
        """Queue web pushes without waiting (server/push.py); offline: dropped."""

    def rejected(self, conn_id: int, count: bool, fields: dict[str, Any]) -> None:
        """A command of `conn_id` was refused (`count`: it counts against the socket's allowance)."""

    async def commit(self, writes: tuple[Write, ...], then: Committed, undo: Undo | None, last: bool = False) -> None:
        """Commit `writes`; call `then(None)` right after the commit, in commit order. On failure
        call `undo()`, then `then(error)`, and raise `WriteFailed`. `last`: nothing of the command
        runs after this commit but what `then` does (the caller may then stop waiting if cancelled)."""

    async def fetch(self, op: Op) -> Any: ...


@attrs.define(eq=False)
class Interpreter:
    owner: StateOwner
    sink: Sink
    #: the last packet answered to `OPERATOR` (server/operator.py reads it)
    operator_answer: dict[str, Any] | None = None
    #: told of each command's committed writes once its sends ran (server/plugins.py `committed`)
    observe: Callable[[tuple[Write, ...], Context], None] | None = None

    def undo(self, before: ServerState, after: ServerState, earlier: Undo | None = None) -> Undo:
        """What runs when this step's commit fails: take the step back out of the state, then the
        `earlier` steps of the same command (a continuation's first step, say)."""
        def undo() -> None:
            self.owner.state = revert(self.owner.state, before, after)
            if earlier is not None:
                earlier()
        return undo

    async def run(self, effects: tuple[Effect, ...], ctx: Context, req: Request, listener: str | None,
                  undo: Undo | None = None, tail: bool = True) -> None:
        """Run one step's effects; `undo` takes the step back if its `Persist` fails to commit.
        `tail`: nothing runs after these effects (the command ends with them)."""
        last_index = len(effects) - 1
        for index, effect in enumerate(effects):
            if isinstance(effect, Persist):
                # The sends that follow a commit run right after it (live: in the writer task, in
                # commit order): two commands committed in one group (an edit and a delete of the
                # same message, say) are announced in the order they were stored, whichever task
                # trio wakes first.
                then = effect.then
                n = 0
                while n < len(then) and isinstance(then[n], SYNC_EFFECTS):
                    n += 1
                announced, rest = then[:n], then[n:]

                def committed(failure: BaseException | None, announced: tuple = announced,
                              effect: Persist = effect) -> None:
                    if failure is None:
                        self.run_sync(announced, ctx.conn_id, listener)
                        if effect.after is not None:
                            self.after(effect.after, ctx, listener)
                        if self.observe is not None:
                            self.observe(effect.writes, ctx)

                last = tail and index == last_index and not rest
                try:
                    await self.sink.commit(effect.writes, committed, undo, last)
                except WriteFailed:
                    self.failed(effect, ctx.conn_id, req, listener)
                    return
                await self.run(rest, ctx, req, listener, None, tail and index == last_index)
            elif isinstance(effect, Fetch):
                result = await self.sink.fetch(effect.op)
                before = self.owner.state
                step = dispatch.run_guarded(effect.then, before, ctx, req, result)
                self.owner.state = step.state
                await self.run(step.effects, ctx, req, listener, self.undo(before, step.state, undo),
                               tail and index == last_index)
            else:
                self.run_one(effect, ctx.conn_id, listener)
            if isinstance(effect, (Reply, Send)) and effect.rejected is not None:  # an error answer
                self.sink.rejected(ctx.conn_id, True, {"cmd": req.cmd, "reason": effect.rejected})
            elif type(effect) is Reply and effect.limited:  # a rate-limit answer
                self.sink.limited(ctx.conn_id)

    def committed(self, effect: Persist, ctx: Context, listener: str | None) -> None:
        """A `Persist` whose `then` is all synchronous is committed: its sends, then its `after`."""
        self.run_sync(effect.then, ctx.conn_id, listener)
        if effect.after is not None:
            self.after(effect.after, ctx, listener)
        if self.observe is not None:
            self.observe(effect.writes, ctx)

    def after(self, after: Callable[..., Any], ctx: Context, listener: str | None) -> None:
        """The pure continuation of a committed `Persist`, on the state of now."""
        step = after(self.owner.state, ctx)
        self.owner.state = step.state
        self.run_sync(step.effects, ctx.conn_id, listener)

    def failed(self, effect: Persist, conn_id: int, req: Request, listener: str | None) -> None:
        """The answer to a command whose commit failed (its state change is already undone)."""
        if effect.failed:
            self.run_sync(effect.failed, conn_id, listener)
        elif conn_id == OPERATOR:  # a continuation's save (reset-password): the operator's shape
            self.reply(conn_id, packets.operator_error(texts.FAILED_TO_SAVE), listener)
        else:
            self.reply(conn_id, packets.error(texts.FAILED_TO_SAVE, req.cmd), listener)
        self.sink.rejected(conn_id, False, {"cmd": req.cmd, "reason": texts.FAILED_TO_SAVE})

    def run_sync(self, effects: tuple[Effect, ...], conn_id: int, listener: str | None) -> None:
        for effect in effects:
            self.run_one(effect, conn_id, listener)

    def run_one(self, effect: Effect, conn_id: int, listener: str | None) -> None:
        if isinstance(effect, Reply):
            self.reply(conn_id, effect.packet, listener)
        elif isinstance(effect, Send):
            text = self.sink.send(effect.conns, effect.packet)  # encoded once, whatever the receivers
            if effect.reply:  # the caller's copy: the same text, with its listener
                self.reply(conn_id, effect.packet, listener, text)
        elif isinstance(effect, Close):
            self.sink.close(effect.conns, effect.code, effect.reason)
        elif isinstance(effect, ChannelsChanged):
            self.sink.channels_changed(effect.before, effect.after)
        elif isinstance(effect, PushNotify):
            self.sink.push(effect)
        else:
            raise TypeError(f"effect {type(effect).__name__} cannot run synchronously")

    def reply(self, conn_id: int, packet: dict[str, Any], listener: str | None, text: str | None = None) -> None:
        if conn_id == OPERATOR:
            self.operator_answer = packet
        else:
            self.sink.reply(conn_id, packet, listener, text)
