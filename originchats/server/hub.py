"""The hub: owns the `ServerState` and the open sockets, and is where a command enters.

`hub.state = step.state` happens synchronously right after the pure step, so no other task can
see or change the state in between (trio switches only at awaits). The step's effects then run
through the interpreter (server/interpreter.py) against the socket sink (server/sockets.py);
a lone `Persist` followed by sends is pipelined instead (server/pipeline.py). Operator commands
enter through `hub.operator` (server/operator.py); each command's ids come from server/ids.py.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import trio

from ..core import dispatch, packets
from ..core.context import Context
from ..core.state import ServerState
from ..protocol import codec
from ..store.writer import Writer
from .guard import Rejections
from .ids import fresh_ids
from .interpreter import Interpreter
from .operator import OperatorBridge
from .ops import OpRunner
from .pipeline import Pipeline
from .sockets import SocketSink
from .idle import IdleGate
from .ws import Flusher, WebSocket


LOGINS = frozenset(("auth", "login", "register"))  # the commands that may log a socket in


@attrs.define(eq=False)
class Hub:
    state: ServerState
    writer: Writer
    ops: OpRunner
    rejections: Rejections = attrs.Factory(Rejections)  # sampled logging; closes garbage floods
    flusher: Flusher = attrs.Factory(Flusher)  # writes the broadcasts of one tick together
    # Unix time = trio clock + offset, so the core's `now` follows trio's (mock) clock in tests.
    clock_offset: float = attrs.field(factory=lambda: time.time() - trio.current_time())
    all_closed: trio.Event = attrs.Factory(trio.Event)
    _next_id: int = 1
    plugins: Any = None  # server/plugins.py `PluginHost` (told of logins), or None
    metrics: Any = None  # server/metrics.py `Metrics` (GET /metrics), or None when off
    cluster: Any = None  # cluster/core.py `CoreNode` when this is a cluster's core
    sink: SocketSink = attrs.field(init=False)
    interpreter: Interpreter = attrs.field(init=False)
    pipeline: Pipeline = attrs.field(init=False)
    operator: OperatorBridge = attrs.field(init=False)
    idle: IdleGate = attrs.field(init=False)  # when pushes and plugin callbacks may run (server/idle.py)

    def __attrs_post_init__(self) -> None:
        self.idle = IdleGate(self.writer)
        self.sink = SocketSink(self, self.writer, self.ops, self.rejections)
        self.interpreter = Interpreter(self, self.sink)
        self.pipeline = Pipeline(self.writer, self.interpreter)
        self.operator = OperatorBridge(self.interpreter, self.context)

    @property
    def sockets(self) -> dict[int, WebSocket]:
        """Conn id -> its open socket."""
        return self.sink.sockets

    def now(self) -> float:
        return trio.current_time() + self.clock_offset

    def context(self, conn_id: int) -> Context:
        new_id, new_token = fresh_ids()
        return Context(conn_id=conn_id, now=self.now(), new_id=new_id, new_token=new_token)

    # ---- connections --------------------------------------------------------------------------

    def new_conn_id(self) -> int:
        conn_id = self._next_id
        self._next_id += 1
        return conn_id

    def open(self, ws: WebSocket, ip: str = "") -> int:
        conn_id = self.new_conn_id()
        self.sockets[conn_id] = ws
        ws.use_flusher(self.flusher)
        step = dispatch.connect(self.state, self.context(conn_id), ip)
        self.state = step.state
        self.interpreter.run_sync(step.effects, conn_id, None)
        return conn_id

    def close(self, conn_id: int) -> None:
        step = dispatch.disconnect(self.state, self.context(conn_id))
        self.state = step.state
        ws = self.sockets.pop(conn_id, None)
        if self.metrics is not None:
            self.metrics.outcome.pop(conn_id, None)  # a refusal noted after its last command
            if ws is not None and ws.too_slow:
                self.metrics.slow_drops += 1
        self.rejections.forget(conn_id)
        if self.plugins is not None:
            self.plugins.closed(conn_id)
        self.interpreter.run_sync(step.effects, conn_id, None)
        if not self.sockets:
            self.all_closed.set()

    def close_all(self, code: int, reason: str) -> None:
        for ws in list(self.sockets.values()):
            ws.close(code, reason)

    # ---- commands -----------------------------------------------------------------------------

    async def handle_text(self, conn_id: int, text: str) -> None:
        """One incoming text frame: decode, step, run effects. Bad JSON gets a clear error.
        With metrics on, the command is counted and timed (server/metrics.py)."""
        metrics = self.metrics
        if metrics is None:
            await self._handle_text(conn_id, text)
            return
        metrics.outcome.pop(conn_id, None)
        conn = self.state.conns.get(conn_id)
        authed = conn is not None and conn.authed
        started = time.perf_counter()
        cmd = await self._handle_text(conn_id, text)
        metrics.command(conn_id, cmd, time.perf_counter() - started)
        if cmd in LOGINS and not authed:
            conn = self.state.conns.get(conn_id)
            metrics.login(conn is not None and conn.authed)

    async def undecodable(self, conn_id: int, exc: codec.Undecodable) -> None:
        """A frame that is not a command (decoded here, or at a gateway): its error answer."""
        await self.pipeline.settle(conn_id)  # after the replies to earlier requests
        self.sink.reply(conn_id, packets.error(exc.val, None), exc.listener, None)
        self.sink.rejected(conn_id, True, {"reason": exc.reason, **exc.fields})

    greets_later = False  # `open` queues the handshake itself (cluster/gateway.py: not there)

    def busy(self, conn_id: int) -> bool:
        """Whether a command of the socket is still under way once `handle_text` returned (never
        here; a gateway's commands are, until the core is through: cluster/gateway.py)."""
        return False

    def logged_in(self, conn_id: int) -> bool:
        conn = self.state.conns.get(conn_id)
        return conn is not None and conn.authed

    async def serve_http(self, ex: Any, target: bytes) -> None:
        """Answer a plain HTTP request from the route table (server/http.py)."""
        from . import http

        await http.dispatch(ex, target)

    async def _handle_text(self, conn_id: int, text: str) -> str | None:
        """`handle_text`; the command's name, or None when the text was not a command."""
        try:
            req = codec.decode(text)
        except codec.Undecodable as exc:
            await self.undecodable(conn_id, exc)
            return None
        listener = req.listener
        ctx = self.context(conn_id)
        before = self.state
        step = dispatch.handle(before, ctx, req)
        self.state = step.state
        effects = step.effects
        interpreter = self.interpreter
        undo = interpreter.undo(before, step.state)
        if len(effects) == 1 and self.pipeline.start(effects[0], ctx, req, listener, undo):
            return req.cmd
        if self.pipeline.pending(conn_id):
            # shielded: the state already holds this step; its writes must reach the writer even
            # if the connection is cancelled meanwhile (closed, server shutting down)
            with trio.CancelScope(shield=True):
                await self.pipeline.settle(conn_id)
        await interpreter.run(effects, ctx, req, listener, undo)
        if self.plugins is not None and req.cmd in LOGINS:  # a login that stored nothing (Rotur)
            self.plugins.authenticated(conn_id)
        return req.cmd
