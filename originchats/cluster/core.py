"""The core of a cluster: the one process that runs the pure step and the SQLite writer for clients
held by gateways (`--role core`).

Gateways add batches of records (wire.py `Inbound`) to one stream, `<prefix>in`; `CoreNode` reads
it and plays each record into the hub as if the socket were local: a `RemoteSocket` stands for each
client (duck-typed like server/ws.py `WebSocket`), and what the hub pushes to it lands in its
gateway's `Outbound` batch, sent once per tick to `<prefix>out:<gateway>`. A broadcast is encoded
once and goes to each gateway once, with that gateway's list of receivers.

Commands of one connection run in order, one at a time, in a task of their own while any are
queued (as a local socket's read loop does); a `DONE` record tells the gateway each one is through,
with whether the socket is now logged in (its input limits and login deadline live there). Replies
still leave only after their commit: the hub is unchanged.

Sessions and failure (docs/deploy.md, "Scale-out"):
* the core announces itself every `beat_seconds` in `<prefix>core` ("epoch http-address count");
  a restarted core has a new epoch, and gateways close their clients with 1012 when the epoch
  changes or the count stops moving;
* a gateway is known by (name, boot); a batch from a new boot replaces the old one's connections;
  a gateway not heard of for `dead_after_seconds` is dropped: each of its connections is closed in
  the hub (`user_disconnect` only for users left with none). Silence is measured on Redis's clock,
  in the stream itself: every beat the core adds a tick of its own to `<prefix>in`, and when it
  reads that tick, a gateway whose newest batch was added more than `dead_after_seconds` before it
  is dead (entry ids are Redis's milliseconds). A core that is behind on its stream (a burst, a
  stalled loop) has not read its recent ticks either, so it never takes a gateway for dead for
  that: only a gateway that stopped adding batches;
* batch sequence numbers drop a batch taken already (a retried XADD) and reveal lost ones (Redis
  restarted, or trimmed a stream a reader was too far behind on): the gateway is then told to
  start over (`RESET`), which it does by closing its clients with 1012;
* batches that could not be sent (Redis away) are kept, up to `MAX_UNSENT` per gateway, and sent
  when Redis is back; beyond that the gateway is dropped.
"""

from __future__ import annotations

import math
import secrets
from collections import deque
from typing import Any

import attrs
import structlog
import trio

from ..protocol import codec
from ..server.ws_send import reply_frame
from . import wire
from .redis_link import Link

log = structlog.get_logger("originchats.cluster")
MAX_UNSENT = 10_000  # batches kept for a gateway while Redis is away
TICK = ""  # the gateway name of the core's own tick in `<prefix>in` (a gateway's name is never empty)


@attrs.define(eq=False)
class RemoteSocket:
    """A client held by a gateway, as the hub sees it (the methods the hub and sink call)."""

    peer: Peer
    local: int
    conn_id: int = 0
    queue: deque = attrs.Factory(deque)  # (kind, value) records waiting to run
    running: bool = False
    gone: bool = False  # closed in the hub (or about to be)
    # server/deflate.py `Deflate` when the client negotiated permessage-deflate at its gateway: the
    # sink compresses a big broadcast once, here, as on one process (and /metrics counts it)
    deflate: Any = None
    last_seen = math.inf  # the gateway runs the heartbeat of its sockets
    too_slow: bool = False
    busy: bool = False

    def push(self, frame: bytes) -> None:
        # once per receiver of every broadcast: the next receiver of the frame the batch ends with
        # is one append (the sender was woken by the record's first receiver); 0.18 -> 0.11 µs
        if not self.gone:
            out = self.peer.out
            if frame is out.last_frame:
                out.last_locals.append(self.local)  # type: ignore[union-attr]
            else:
                out.frame(frame, self.local)
                self.peer.arm()

    def send_text(self, text: str) -> None:
        self.push(reply_frame(self.deflate, text))

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.gone:
            self.peer.out.close(self.local, code, reason)
            self.peer.arm()

    def ping(self, payload: bytes = b"") -> None:
        pass

    def use_flusher(self, flusher: Any) -> None:
        pass


@attrs.define(eq=False)
class Peer:
    """One gateway instance (name and boot), its connections and what goes out to it."""

    name: str
    boot: int
    epoch: int
    stream: bytes
    heard: int | None  # Redis's ms of its newest batch read (None: counted from the next tick)
    seq: int = 0  # the last inbound batch taken
    out_seq: int = 0
    out: wire.Outbound = attrs.field(init=False)
    conns: dict[int, RemoteSocket] = attrs.Factory(dict)
    unsent: deque = attrs.Factory(deque)  # packed outbound batches not stored in Redis yet
    outbox: Outbox | None = None  # the node's: told when this peer has something to send
    dropped: bool = False

    def __attrs_post_init__(self) -> None:
        self.out = wire.Outbound(epoch=self.epoch, boot=self.boot)

    def arm(self) -> None:
        if self.outbox is not None:
            self.outbox.arm(self)

    def take(self) -> None:
        """Seal the current batch into `unsent`."""
        if self.out:
            self.out_seq += 1
            self.out.seq = self.out_seq
            self.unsent.append(self.out.pack())
            self.out = wire.Outbound(epoch=self.epoch, boot=self.boot)


@attrs.define(eq=False)
class Outbox:
    """The gateways that have something to send: all of a tick's batches go to Redis in one
    pipelined round trip (one system call for every gateway; two XADDs one after the other cost
    ~350 µs of CPU, pipelined ~210: docs/performance.md, "Scale-out")."""

    dirty: dict[Peer, None] = attrs.Factory(dict)  # an ordered set
    wake: trio.Event = attrs.Factory(trio.Event)

    def arm(self, peer: Peer) -> None:
        self.dirty[peer] = None
        self.wake.set()


@attrs.define(eq=False)
class CoreNode:
    hub: Any  # server/hub.py Hub
    link: Link
    prefix: bytes
    advertise: str  # HOST:PORT where gateways send HTTP requests
    beat: float = 1.0
    dead_after: float = 5.0
    epoch: int = attrs.Factory(lambda: secrets.randbits(63) or 1)
    peers: dict[str, Peer] = attrs.Factory(dict)
    after: bytes = b""  # the id of the last inbound entry read ("" : start at the stream's end)
    beats: int = 0
    announced: trio.Event = attrs.Factory(trio.Event)  # set once gateways can find this core
    outbox: Outbox = attrs.Factory(Outbox)
    _tasks: trio.Nursery | None = None

    @property
    def in_stream(self) -> bytes:
        return self.prefix + b"in"

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as tasks:
            self._tasks = tasks
            await tasks.start(self.link.run, self._session)
            task_status.started()

    async def _session(self, link: Link, restarted: bool) -> None:
        if restarted:  # what Redis held is gone: every gateway starts over
            log.warning("cluster_reset", reason="redis_restarted")
            for peer in list(self.peers.values()):
                self._drop(peer, "redis_restarted")
            self.after = b"0-0"
        if not self.after:
            self.after = await link.last_id(self.in_stream)
        for peer in self.peers.values():
            peer.heard = None  # silence while Redis was away is not the gateways' fault
        async with trio.open_nursery() as session:
            await self._announce()
            session.start_soon(self._beats)
            session.start_soon(self._sender)
            while True:
                last, batches = await link.batches(self.in_stream, self.after, wire.Inbound.unpack)
                for entry_id, batch in batches:  # an entry id is Redis's ms when it was added, "-", a count
                    self.after = entry_id
                    self._take(batch, session, int(entry_id.split(b"-", 1)[0]))
                self.after = last

    async def _announce(self) -> None:
        self.beats += 1
        await self.link.set(self.prefix + b"core", f"{self.epoch} {self.advertise} {self.beats}".encode())
        self.announced.set()

    async def _beats(self) -> None:
        tick = wire.Inbound(gateway=TICK, boot=0, epoch=self.epoch, seq=0).pack()
        while True:
            await trio.sleep(self.beat)
            await self._announce()
            await self.link.xadd(self.in_stream, tick)  # read back in turn: `_judge`

    def _judge(self, now_ms: int) -> None:
        """Our tick, added at `now_ms` (Redis's clock), is read: drop the gateways silent since
        `dead_after` before it."""
        for peer in list(self.peers.values()):
            if peer.heard is None:
                peer.heard = now_ms
            elif now_ms - peer.heard > self.dead_after * 1000:
                self._drop(peer, "gateway_silent")

    # ---- inbound ------------------------------------------------------------------------------

    def _take(self, batch: wire.Inbound, session: trio.Nursery, added_ms: int) -> None:
        if batch.epoch != self.epoch:
            return  # meant for a core before this one; that gateway starts over when it sees our beat
        if batch.gateway == TICK:
            self._judge(added_ms)
            return
        peer = self.peers.get(batch.gateway)
        if peer is not None and peer.boot != batch.boot:
            self._drop(peer, "gateway_restarted")
            peer = None
        if peer is None:
            peer = Peer(name=batch.gateway, boot=batch.boot, epoch=self.epoch,
                        stream=self.prefix + b"out:" + batch.gateway.encode(), heard=added_ms,
                        outbox=self.outbox)
            self.peers[peer.name] = peer
            if batch.seq != 1:  # its earlier batches are lost: it must start over
                log.warning("cluster_gap", gateway=peer.name, expected=1, got=batch.seq)
                peer.out.reset()
                peer.arm()
                peer.seq = math.inf  # type: ignore[assignment]  (nothing more from this boot)
                return
            log.info("gateway_joined", gateway=peer.name)
        peer.heard = added_ms
        if batch.seq <= peer.seq:
            return  # a copy of a batch already taken (a retried send)
        if batch.seq != peer.seq + 1:
            log.warning("cluster_gap", gateway=peer.name, expected=peer.seq + 1, got=batch.seq)
            self._drop(peer, "batches_lost", tell=True)
            return
        peer.seq = batch.seq
        for kind, local, value in batch.records:
            self._record(peer, kind, local, value)

    def _record(self, peer: Peer, kind: int, local: int, value: Any) -> None:
        hub = self.hub
        if kind == wire.OPEN:
            if local in peer.conns:
                return
            ip, deflate = value
            socket = RemoteSocket(peer=peer, local=local, deflate=hub.sink.deflate if deflate else None)
            peer.conns[local] = socket
            socket.conn_id = hub.open(socket, ip)
            return
        socket = peer.conns.get(local)
        if socket is None or socket.gone:
            return
        socket.queue.append((kind, value))
        if kind == wire.CLOSED:
            socket.gone = True
        self._drain_soon(peer, socket)

    def _drain_soon(self, peer: Peer, socket: RemoteSocket) -> None:
        """Start the task that runs the socket's queue, unless it is running."""
        if not socket.running:
            socket.running = True
            assert self._tasks is not None
            self._tasks.start_soon(self._drain, peer, socket)

    async def _drain(self, peer: Peer, socket: RemoteSocket) -> None:
        """Run a connection's queued records in order (a local socket's read loop, remotely)."""
        try:
            await self._drain_queue(peer, socket)  # (it sets `running` back when it ends)
        except Exception:  # crash barrier: never the core's task tree
            log.exception("connection_crashed", conn_id=socket.conn_id)

    async def _drain_queue(self, peer: Peer, socket: RemoteSocket) -> None:
        hub = self.hub
        conn_id = socket.conn_id
        try:
            while socket.queue:
                kind, value = socket.queue.popleft()
                if kind == wire.CLOSED:
                    socket.queue.clear()
                    peer.conns.pop(socket.local, None)
                    hub.close(conn_id)
                    return
                try:
                    if kind == wire.TEXT:
                        socket.busy = True
                        await hub.handle_text(conn_id, value)
                    else:  # BAD: a frame the gateway found is not a command; answered in order here
                        val, reason, listener, fields = value
                        await hub.undecodable(conn_id, codec.Undecodable(val, reason, listener=listener, **fields))
                except Exception:  # crash barrier: a bug closes this connection only (1011)
                    log.exception("connection_crashed", conn_id=conn_id)
                    socket.close(1011, "internal error")
                finally:
                    socket.busy = False
                if not socket.gone:
                    conn = hub.state.conns.get(conn_id)
                    peer.out.done(socket.local, conn is not None and conn.authed)
                    peer.arm()
        finally:
            socket.running = False

    def _drop(self, peer: Peer, reason: str, tell: bool = False) -> None:
        """Forget a gateway: each of its connections is closed in the hub (after the command it
        is running, if any). `tell`: the gateway is alive, and is told to start over."""
        if self.peers.get(peer.name) is peer:
            del self.peers[peer.name]
        peer.dropped = True
        log.warning("gateway_dropped", gateway=peer.name, reason=reason, connections=len(peer.conns))
        for socket in list(peer.conns.values()):
            if socket.gone:
                continue
            socket.gone = True
            socket.queue.clear()
            socket.queue.append((wire.CLOSED, None))
            self._drain_soon(peer, socket)
        if tell:  # a last batch of its own, outside the dropped boot's sequence
            reset = wire.Outbound(epoch=self.epoch, boot=peer.boot, seq=0)
            reset.reset()
            peer.unsent.clear()
            peer.unsent.append(reset.pack())
            peer.arm()
        else:
            peer.unsent.clear()
            self.outbox.dirty.pop(peer, None)
        peer.out = wire.Outbound(epoch=self.epoch, boot=peer.boot)

    # ---- outbound -----------------------------------------------------------------------------

    async def _sender(self) -> None:
        """Send each gateway its batches in order, one tick's records each, every gateway's in one
        pipelined request; what could not be sent is kept for the next session (a copy that did
        reach Redis is dropped by the gateway, by its sequence number)."""
        outbox = self.outbox
        while True:
            if not outbox.dirty:
                await outbox.wake.wait()
                outbox.wake = trio.Event()
                await trio.lowlevel.checkpoint()  # one more tick: the records of this one together
            peers = list(outbox.dirty)
            for peer in peers:
                if not peer.dropped:
                    peer.take()
                if len(peer.unsent) > MAX_UNSENT:
                    self._drop(peer, "too_far_behind")
            items = [(peer.stream, blob) for peer in peers for blob in peer.unsent]
            if items:
                await self.link.xadd_many(items)
            for peer in peers:
                peer.unsent.clear()
                if not peer.out or peer.dropped:
                    outbox.dirty.pop(peer, None)
