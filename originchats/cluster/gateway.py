"""A gateway of a cluster (`--role gateway`): it holds WebSockets and the HTTP routes, and keeps no
chat state beyond its connections.

`GatewayHub` stands where server/hub.py `Hub` stands for server/connection.py: the connection task,
the WebSocket codec with its input limits, the crash barrier and the heartbeat are the same code as
in a single process. What differs is where a command goes: each text frame is decoded here (a frame
that is not a command is answered in order by the core, without ever being parsed there) and added
to this tick's `Inbound` batch; `GatewayNode` sends the batch to the core through Redis and writes
what comes back (wire.py `Outbound`: frames with their receivers, closes, `DONE` marks) to the
sockets. HTTP requests are passed to the core's HTTP port (cluster/http_proxy.py).

A connection has at most `window` commands at the core at once; its next frame is read when one is
`DONE`, so a client that floods is slowed by TCP as on one process.

When the gateway cannot reach the core (Redis away, or no core beat), a command is answered at once
with the error `Server unavailable, try again` (never silence), and a new connection is closed with
1013 (try again later). When what the core knew of this gateway is gone (the core restarted, Redis
restarted, batches were lost, the core dropped us), every client is closed with 1012 (service
restart) and the gateway starts over as a new boot: clients reconnect (the official client does by
itself) and load what they missed from history. docs/deploy.md, "Scale-out", says why this was
chosen over holding them.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

import attrs
import structlog
import trio

from ..core import packets, texts
from ..protocol import codec
from ..server.ws_send import Flusher
from . import wire
from .redis_link import Link

log = structlog.get_logger("originchats.cluster")
RESTART_CODE, RESTART_REASON = 1012, "service restart"
NOT_READY_CODE, NOT_READY_REASON = 1013, "server unavailable, try again later"
LOOK_AGAIN = 0.25  # seconds between looks for a core while there is none


@attrs.define(eq=False)
class GatewayHub:
    node: GatewayNode
    flusher: Flusher = attrs.Factory(Flusher)
    sockets: dict[int, Any] = attrs.Factory(dict)  # local id -> its WebSocket
    all_closed: trio.Event = attrs.Factory(trio.Event)
    _next_id: int = 1

    def open(self, ws: Any, ip: str = "") -> int:
        local = self._next_id
        self._next_id += 1
        self.sockets[local] = ws
        ws.use_flusher(self.flusher)
        if not self.node.ready:
            ws.close(NOT_READY_CODE, NOT_READY_REASON)
        else:
            self.node.opened(local, ip, ws.deflate is not None)
        return local

    def close(self, local: int) -> None:
        self.sockets.pop(local, None)
        self.node.closed(local)
        if not self.sockets:
            self.all_closed.set()

    def close_all(self, code: int, reason: str) -> None:
        for ws in list(self.sockets.values()):
            ws.close(code, reason)

    async def handle_text(self, local: int, text: str) -> None:
        node = self.node
        try:
            req = codec.decode(text)
        except codec.Undecodable as exc:
            if node.ready and local in node.open_here:
                node.batch.bad(local, exc.val, exc.reason, exc.listener, exc.fields)
                node.sent(local)
            return
        if not node.ready or local not in node.open_here:
            ws = self.sockets.get(local)
            if ws is not None:
                ws.send_text(codec.encode_reply(packets.error(texts.SERVER_UNAVAILABLE, req.cmd), req.listener))
            return
        node.batch.text(local, text)
        await node.sent_wait(local)

    def busy(self, local: int) -> bool:
        return self.node.inflight.get(local, 0) > 0

    def logged_in(self, local: int) -> bool:
        """As the socket itself was last told (the core's `DONE` marks set it)."""
        ws = self.sockets.get(local)
        return ws is not None and ws.login_deadline is None

    async def serve_http(self, ex: Any, target: bytes) -> None:
        from ..server import http
        from .http_proxy import forward

        if target.split(b"?", 1)[0] == b"/" and b"websocket" in ex.headers.get(b"upgrade", b"").lower():
            await http.dispatch(ex, target)  # a broken upgrade: its 400 needs no chat state
            return
        await forward(ex, target, self.node.connect_core_http())

    #: the client's greeting (handshake) comes from the core: the upgrade's 101 waits for it, and
    #: both leave in one write (server/ws_send.py `preface`)
    greets_later = True


@attrs.define(eq=False)
class GatewayNode:
    link: Link
    prefix: bytes
    name: str
    window: int = 32
    beat: float = 1.0
    dead_after: float = 5.0
    hub: GatewayHub = attrs.field(init=False)
    boot: int = 0
    epoch: int = 0  # the core this gateway works with (0: none)
    core_http: str = ""
    core_ok: bool = False
    batch: wire.Inbound = attrs.field(init=False)
    unsent: list = attrs.Factory(list)  # packed inbound batches not yet stored in Redis
    open_here: set = attrs.Factory(set)  # locals the core was told of in this boot
    inflight: dict[int, int] = attrs.Factory(dict)
    waiters: dict[int, trio.Event] = attrs.Factory(dict)
    out_seq: int = 0
    after: bytes = b""
    wake: trio.Event = attrs.Factory(trio.Event)
    _seq: int = 0
    _last_beat: bytes | None = None
    _beat_changed: float = -math.inf
    found: trio.Event = attrs.Factory(trio.Event)  # set once this gateway first works with a core
    # how HTTP requests reach the core: None, a TCP connection to the address it advertises (tests
    # give an in-memory one)
    core_http_connector: Any = None

    def __attrs_post_init__(self) -> None:
        self.hub = GatewayHub(node=self)
        self._new_boot()

    def connect_core_http(self) -> Any:
        from .http_proxy import tcp_connector

        return self.core_http_connector or tcp_connector(self.core_http)

    @property
    def ready(self) -> bool:
        return self.link.up and self.core_ok and self.epoch != 0

    @property
    def stream(self) -> bytes:
        return self.prefix + b"out:" + self.name.encode()

    def _new_boot(self) -> None:
        self.boot = secrets.randbits(63) or 1
        self._seq = 0
        self.out_seq = 0
        self.batch = self._fresh()
        self.unsent.clear()
        self.open_here.clear()
        for event in self.waiters.values():
            event.set()
        self.waiters.clear()
        self.inflight.clear()

    def _fresh(self) -> wire.Inbound:
        return wire.Inbound(gateway=self.name, boot=self.boot, epoch=self.epoch, seq=0)

    def reset(self, why: str) -> None:
        """Start over as a new boot: every client is closed with 1012 and reconnects."""
        log.warning("gateway_reset", reason=why, connections=len(self.hub.sockets))
        self._new_boot()
        self.hub.close_all(RESTART_CODE, RESTART_REASON)

    # ---- what the sockets do ------------------------------------------------------------------

    def opened(self, local: int, ip: str, deflate: bool = False) -> None:
        self.batch.open(local, ip, deflate)
        self.open_here.add(local)
        self.wake.set()

    def closed(self, local: int) -> None:
        self.inflight.pop(local, None)
        waiter = self.waiters.pop(local, None)
        if waiter is not None:
            waiter.set()
        if local in self.open_here:
            self.open_here.discard(local)
            self.batch.closed(local)
            self.wake.set()

    def sent(self, local: int) -> None:
        self.inflight[local] = self.inflight.get(local, 0) + 1
        self.wake.set()

    async def sent_wait(self, local: int) -> None:
        self.sent(local)
        if self.inflight[local] >= self.window:
            event = self.waiters[local] = trio.Event()
            await event.wait()

    # ---- the link -----------------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.link.run(self._session, task_status=task_status)

    async def _session(self, link: Link, restarted: bool) -> None:
        if restarted and self.epoch:
            self.reset("redis_restarted")
            # the core's beat went with Redis: take no client until the core is seen in this one
            # (else a client let in now is closed again with 1012 when the first look finds no beat)
            self.epoch, self.core_ok = 0, False
        self.after = await link.last_id(self.stream) if not self.after or restarted else self.after
        async with trio.open_nursery() as session:
            session.start_soon(self._watch_core)
            session.start_soon(self._sender)
            while True:
                last, batches = await link.batches(self.stream, self.after, wire.Outbound.unpack)
                for entry_id, batch in batches:
                    self.after = entry_id
                    self._take(batch)
                self.after = last

    async def _watch_core(self) -> None:
        """Every beat: is the core there, and is it still the same one?"""
        while True:
            value = await self.link.get(self.prefix + b"core")
            now = trio.current_time()
            if value != self._last_beat:
                self._last_beat, self._beat_changed = value, now
            alive = value is not None and now - self._beat_changed <= self.dead_after
            if alive:
                epoch_text, http, _count = value.decode().split(" ", 2)  # type: ignore[union-attr]
                epoch = int(epoch_text)
                self.core_http = http
                if epoch != self.epoch:
                    before, self.epoch = self.epoch, epoch
                    if before:
                        self.reset("core_restarted")
                    else:
                        log.info("core_found", gateway=self.name)
                        self._new_boot()
            elif self.epoch:
                self.epoch = 0
                self.reset("core_silent")
            self.core_ok = alive
            if self.ready:
                self.found.set()
            await trio.sleep(self.beat if alive else min(self.beat, LOOK_AGAIN))

    def _take(self, batch: wire.Outbound) -> None:
        if batch.boot != self.boot or batch.epoch != self.epoch:
            return  # for an earlier boot of ours, or from a core we no longer work with
        if any(kind == wire.RESET for kind, _a, _b in batch.records):
            self.reset("core_asked")
            return
        if batch.seq <= self.out_seq:
            return  # a copy (the core retried a send)
        if batch.seq != self.out_seq + 1:
            log.warning("cluster_gap", expected=self.out_seq + 1, got=batch.seq)
            self.reset("batches_lost")
            return
        self.out_seq = batch.seq
        sockets = self.hub.sockets
        for kind, a, b in batch.records:
            if kind == wire.FRAME:
                for local in b:
                    ws = sockets.get(local)
                    if ws is not None:
                        ws.push(a)
            elif kind == wire.DONE:
                left = self.inflight.get(a, 0) - 1
                if left > 0:
                    self.inflight[a] = left
                else:
                    self.inflight.pop(a, None)
                ws = sockets.get(a)
                if ws is not None:
                    ws.set_logged_in(b)
                    ws.busy = left > 0
                waiter = self.waiters.get(a)
                if waiter is not None and left < self.window:
                    del self.waiters[a]
                    waiter.set()
            elif kind == wire.CLOSE:
                ws = sockets.get(a)
                if ws is not None:
                    ws.close(*b)

    async def _sender(self) -> None:
        """Send the batches in order, one tick's records each, and an empty one every beat (the
        core drops a gateway it has not heard of for `dead_after` seconds)."""
        link = self.link
        while True:
            if not self.unsent and not self.batch.records:
                with trio.move_on_after(self.beat):
                    await self.wake.wait()
                self.wake = trio.Event()
                await trio.lowlevel.checkpoint()  # one more tick: the records of this one together
            if self.epoch:  # with no core, what the batch holds is for nobody
                self._seq += 1
                self.batch.seq = self._seq
                self.batch.epoch = self.epoch
                self.unsent.append(self.batch.pack())
            self.batch = self._fresh()
            while self.unsent:  # a failed send ends the session: the batch is sent again in the next
                await link.xadd(self.prefix + b"in", self.unsent[0])  # one (the core drops a copy)
                self.unsent.pop(0)
