"""The hub: owns `ServerState` and the registry of open sockets, and runs effects.

`hub.state = step.state` happens synchronously right after the pure step, so no other task can
see or change the state in between (trio switches only at awaits). Effects then run in order:
`Send`/`Reply`/`Close` are synchronous pushes to per-socket queues; `Persist` awaits the writer's
commit; `Fetch` awaits its operation and feeds the result to the continuation, another pure step.

A step's state is in place before its writes commit. If the commit fails, the writer calls the
step's undo, which takes the step's changes back out of the current state (core/revert.py), and
then the `Persist`'s `failed` effects run (by default the caller gets `Failed to save changes`).
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import attrs
import structlog
import trio

from ..core import dispatch, packets, texts
from ..core.context import Context
from ..core.effects import ChannelsChanged, Close, Fetch, Persist, Reply, Send
from ..core.handlers.channels import channel_pushes
from ..core.revert import revert
from ..core.request import Request
from ..core.state import ServerState
from ..protocol import codec
from ..store.writer import Writer, WriteFailed
from .guard import Rejections
from .coalesce import ChannelPushes
from .ops import OpRunner
from .ws import Flusher, WebSocket, encode_text

log = structlog.get_logger("originchats.hub")
OPERATOR = 0  # the pseudo-connection id of operator commands (real connections start at 1)
PIPELINE_LIMIT = 64  # pipelined writes one connection may have committing at once
_SYNC_EFFECTS = (Reply, Send, Close, ChannelsChanged)  # effects `_run_one` runs without awaiting


_RANDOM = bytearray()
_PER_CONTEXT = 48  # 16 bytes for a UUID v4, 32 for a token


def _fresh_ids() -> tuple[str, str]:
    """A UUID v4 string and a `secrets.token_urlsafe(32)`-style token, both from os.urandom (the
    same source as `uuid.uuid4` and `secrets`), read 12 KB at a time: one syscall and one UUID
    object per command cost ~5% of the server's CPU per message (py-spy, bench ingest)."""
    global _RANDOM
    if len(_RANDOM) < _PER_CONTEXT:
        _RANDOM = bytearray(os.urandom(_PER_CONTEXT * 256))
    b = bytes(_RANDOM[-_PER_CONTEXT:])
    del _RANDOM[-_PER_CONTEXT:]
    h = b[:16].hex()
    new_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[b[8] & 3]}{h[17:20]}-{h[20:32]}"
    return new_id, base64.urlsafe_b64encode(b[16:]).rstrip(b"=").decode()


@attrs.define(eq=False)
class Hub:
    state: ServerState
    writer: Writer
    ops: OpRunner
    sockets: dict[int, WebSocket] = attrs.Factory(dict)
    flusher: Flusher = attrs.Factory(Flusher)  # writes the broadcasts of one tick together
    _pipelined: dict[int, int] = attrs.Factory(dict)  # conn id -> writes committing (see _pipeline)
    _settled: dict[int, trio.Event] = attrs.Factory(dict)
    _next_id: int = 1
    # Unix time = trio clock + offset, so the core's `now` follows trio's (mock) clock in tests.
    clock_offset: float = attrs.field(factory=lambda: time.time() - trio.current_time())
    all_closed: trio.Event = attrs.Factory(trio.Event)
    _operator_result: dict[str, Any] | None = None
    rejections: Rejections = attrs.Factory(Rejections)  # sampled logging; closes garbage floods
    channel_lists: ChannelPushes = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.channel_lists = ChannelPushes(self._push_channel_lists)

    def _push_channel_lists(self, before: ServerState, after: ServerState) -> None:
        for effect in channel_pushes(before, after):
            self._run_one(effect, OPERATOR, None)

    def now(self) -> float:
        return trio.current_time() + self.clock_offset

    def context(self, conn_id: int) -> Context:
        new_id, new_token = _fresh_ids()
        return Context(conn_id=conn_id, now=self.now(), new_id=new_id, new_token=new_token)

    # ---- connections --------------------------------------------------------------------------

    def open(self, ws: WebSocket, ip: str = "") -> int:
        conn_id = self._next_id
        self._next_id += 1
        self.sockets[conn_id] = ws
        ws.use_flusher(self.flusher)
        step = dispatch.connect(self.state, self.context(conn_id), ip)
        self.state = step.state
        self._run_sync(step.effects, conn_id, None)
        return conn_id

    def close(self, conn_id: int) -> None:
        step = dispatch.disconnect(self.state, self.context(conn_id))
        self.state = step.state
        self.sockets.pop(conn_id, None)
        self.rejections.forget(conn_id)
        self._run_sync(step.effects, conn_id, None)
        if not self.sockets:
            self.all_closed.set()

    def close_all(self, code: int, reason: str) -> None:
        for ws in list(self.sockets.values()):
            ws.close(code, reason)

    # ---- commands -----------------------------------------------------------------------------

    async def handle_text(self, conn_id: int, text: str) -> None:
        """One incoming text frame: decode, step, run effects. Bad JSON gets a clear error."""
        try:
            req = codec.decode(text)
        except codec.Undecodable as exc:
            await self.settle(conn_id)  # after the replies to earlier requests
            self._reply(conn_id, packets.error(exc.val, None), exc.listener)
            self.rejected(conn_id, reason=exc.reason, **exc.fields)
            return
        listener = req.listener
        ctx = self.context(conn_id)
        before = self.state
        step = dispatch.handle(before, ctx, req)
        self.state = step.state
        effects = step.effects
        undo = self._undo(before, step.state)
        if len(effects) == 1 and self._pipeline(effects[0], ctx, req, listener, undo):
            return
        # shielded: the state already holds this step; its writes must reach the writer even if
        # the connection is cancelled meanwhile (closed, server shutting down)
        with trio.CancelScope(shield=True):
            await self.settle(conn_id)
        await self.run_effects(effects, ctx, req, listener, undo)

    def _undo(self, before: ServerState, after: ServerState, earlier: Any = None) -> Any:
        """What the writer calls when this step's commit fails: take the step back out of the state,
        then the `earlier` steps of the same command (a continuation's first step, say)."""
        def undo() -> None:
            self.state = revert(self.state, before, after)
            if earlier is not None:
                earlier()
        return undo

    def _committed(self, effect: Persist, ctx: Context, listener: str | None) -> None:
        """A pipelined command's commit is done: its sends, then its `after` continuation."""
        self._run_sync(effect.then, ctx.conn_id, listener)
        if effect.after is not None:
            self._after(effect.after, ctx, listener)

    def _after(self, after: Any, ctx: Context, listener: str | None) -> None:
        """The pure continuation of a committed `Persist`, on the state of now."""
        step = after(self.state, ctx)
        self.state = step.state
        self._run_sync(step.effects, ctx.conn_id, listener)

    def _failed(self, effect: Persist, conn_id: int, req: Request, listener: str | None) -> None:
        """The answer to a command whose commit failed (its state change is already undone)."""
        if effect.failed:
            self._run_sync(effect.failed, conn_id, listener)
        else:
            self._reply(conn_id, packets.error(texts.FAILED_TO_SAVE, req.cmd), listener)
        self.rejected(conn_id, count=False, cmd=req.cmd, reason=texts.FAILED_TO_SAVE)

    # ---- pipelined writes ---------------------------------------------------------------------
    # A command whose only effect is a Persist followed by plain sends (message_new) does not wait
    # for its commit: the writer runs the sends right after the commit, in commit order. So one
    # connection may have up to PIPELINE_LIMIT messages committing at once, a commit serves more
    # messages, and a group's broadcasts are flushed together. Any other command of that connection
    # first waits (`settle`) until its pending writes are done, so replies keep the request order.

    def _pipeline(self, effect: Any, ctx: Context, req: Request, listener: str | None, undo: Any) -> bool:
        if not isinstance(effect, Persist) or not all(isinstance(e, _SYNC_EFFECTS) for e in effect.then):
            return False
        conn_id = ctx.conn_id
        pending = self._pipelined.get(conn_id, 0)
        if pending >= PIPELINE_LIMIT or conn_id == OPERATOR:
            return False
        self._pipelined[conn_id] = pending + 1

        def committed(failure: BaseException | None) -> None:
            left = self._pipelined[conn_id] - 1
            if left:
                self._pipelined[conn_id] = left
            else:
                del self._pipelined[conn_id]
                settled = self._settled.pop(conn_id, None)
                if settled is not None:
                    settled.set()
            if failure is not None:
                self._failed(effect, conn_id, req, listener)
                return
            self._committed(effect, ctx, listener)

        if self.writer.submit_nowait(effect.writes, committed, undo):
            return True
        self._pipelined[conn_id] = pending  # the inbox is full: the caller awaits the commit
        if not pending:
            del self._pipelined[conn_id]
        return False

    async def settle(self, conn_id: int) -> None:
        """Wait until every pipelined write of this connection is committed and its sends ran."""
        if conn_id in self._pipelined:
            settled = self._settled.get(conn_id)
            if settled is None:
                settled = self._settled[conn_id] = trio.Event()
            await settled.wait()

    async def run_effects(self, effects: tuple, ctx: Context, req: Request, listener: str | None,
                          undo: Any = None) -> None:
        """Run one step's effects; `undo` takes the step back if its `Persist` fails to commit."""
        for effect in effects:
            if isinstance(effect, Persist):
                # The sends that follow a commit run in the writer task, in commit order: two
                # commands committed in one group (an edit and a delete of the same message, say)
                # are announced in the order they were stored, whichever task trio wakes first.
                then = effect.then
                n = 0
                while n < len(then) and isinstance(then[n], _SYNC_EFFECTS):
                    n += 1
                announced, rest = then[:n], then[n:]

                def committed(failure: BaseException | None, announced: tuple = announced,
                              effect: Persist = effect) -> None:
                    if failure is None:
                        self._run_sync(announced, ctx.conn_id, listener)
                        if effect.after is not None:
                            self._after(effect.after, ctx, listener)

                try:
                    # shielded: once queued, a write commits; its broadcast must not be lost
                    # because the sender's connection went away meanwhile
                    with trio.CancelScope(shield=True):
                        await self.writer.submit(effect.writes, committed, undo)
                except WriteFailed:
                    self._failed(effect, ctx.conn_id, req, listener)
                    return
                await self.run_effects(rest, ctx, req, listener)
            elif isinstance(effect, Fetch):
                result = await self.ops.run(effect.op)
                before = self.state
                step = dispatch.run_guarded(effect.then, before, ctx, req, result)
                self.state = step.state
                await self.run_effects(step.effects, ctx, req, listener, self._undo(before, step.state, undo))
            else:
                self._run_one(effect, ctx.conn_id, listener)
            if isinstance(effect, (Reply, Send)) and effect.rejected is not None:  # an error answer
                self.rejected(ctx.conn_id, cmd=req.cmd, reason=effect.rejected)

    def rejected(self, conn_id: int, count: bool = True, **fields: Any) -> None:
        """Log a rejected command (sampled per address, client text clipped: see guard.Rejections);
        a socket that keeps sending what gets rejected is closed (1008)."""
        conn = self.state.conns.get(conn_id)
        ws = self.sockets.get(conn_id)
        flooding = self.rejections.note(conn_id, conn.ip if conn is not None else "", trio.current_time(), fields,
                                        count=count and ws is not None)
        if flooding and ws is not None:
            ws.close(1008, "too many invalid requests")

    def _run_sync(self, effects: tuple, conn_id: int, listener: str | None) -> None:
        for effect in effects:
            self._run_one(effect, conn_id, listener)

    def _run_one(self, effect: Any, conn_id: int, listener: str | None) -> None:
        if isinstance(effect, Reply):
            self._reply(conn_id, effect.packet, listener)
        elif isinstance(effect, Send):
            if not effect.conns:
                if effect.reply:
                    self._reply(conn_id, effect.packet, listener)
                return
            text = codec.encode(effect.packet)  # once, whatever the number of receivers
            frame = encode_text(text)
            sockets = self.sockets
            for cid in effect.conns:
                ws = sockets.get(cid)
                if ws is not None:
                    ws.push(frame)
            if effect.reply:  # the caller's copy: the same text, with its listener
                self._reply(conn_id, effect.packet, listener, text)
        elif isinstance(effect, Close):
            for cid in effect.conns:
                ws = self.sockets.get(cid)
                if ws is not None:
                    ws.close(effect.code, effect.reason)
        elif isinstance(effect, ChannelsChanged):
            self.channel_lists.mark(effect.before, effect.after)  # pushed once per tick (server/coalesce.py)
        else:
            raise TypeError(f"effect {type(effect).__name__} cannot run synchronously")

    async def operator(self, data: dict[str, Any]) -> dict[str, Any]:
        """Run an operator command (admin socket); returns its result packet."""
        req = codec.operator_request(data)
        ctx = self.context(OPERATOR)
        before = self.state
        step = dispatch.operator(before, ctx, req)
        self.state = step.state
        self._operator_result = None
        await self.run_effects(step.effects, ctx, req, None, self._undo(before, step.state))
        return self._operator_result or packets.operator_error(texts.NO_RESULT)

    def _reply(self, conn_id: int, packet: dict[str, Any], listener: str | None, text: str | None = None) -> None:
        """To the caller, with its listener; `text` is the packet's encoding when it was just sent
        to others (a `Send` with `reply`)."""
        if conn_id == OPERATOR:
            self._operator_result = packet
            return
        ws = self.sockets.get(conn_id)
        if ws is None:
            return
        ws.send_text(codec.encode_reply(packet, listener) if text is None else codec.reply_from(text, packet, listener))
