"""The live sink of the effect interpreter (server/interpreter.py): the registry of open sockets,
and where the effects of a running server land.

* `send`: the packet is encoded once (one text, one frame) and the frame pushed to each socket;
  a big one is also compressed once, for the sockets that negotiated permessage-deflate;
  `reply`: the caller's copy carries its `listener` (the codec splices it into the same text);
  `close`: a close frame after what is queued for the socket.
* `commit`: the single writer (store/writer.py): once queued, a write commits and its `then` (the
  broadcast) runs in the writer task, so it is not lost because the sender's connection went away.
  The entry is queued without a scheduler trip when the inbox has room; waiting for it is shielded
  from cancellation only while more of the command must still be queued after it (else a
  cancelled sender simply stops waiting), and waiting for room in a full inbox is shielded too.
* `fetch`: the op runner (server/ops.py).
* `channels_changed`: the per-tick coalesced `channels_get` pushes (server/coalesce.py).
* `rejected`: the sampled rejection log; a socket that keeps sending what gets refused is closed.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from ..core.views import channel_pushes
from ..core.ops import Op
from ..core.state import ServerState
from ..core.writes import Write
from ..protocol import codec
from ..store.writer import Writer
from .coalesce import ChannelPushes
from .guard import Rejections
from .interpreter import Committed, StateOwner, Undo
from .ops import OpRunner
from .deflate import Deflate
from .metrics import Metrics
from .ws import WebSocket
from .ws_send import compressed_frame, text_frame


@attrs.define(eq=False)
class SocketSink:
    owner: StateOwner
    writer: Writer
    ops: OpRunner
    rejections: Rejections
    sockets: dict[int, WebSocket] = attrs.Factory(dict)  # conn id -> its socket (hub.open/close)
    # web pushes: queued without waiting (server/push.py `Pusher.offer`); None: push is off
    pusher: Any = None
    # permessage-deflate settings (server/deflate.py); None: `[compression]` is off
    deflate: Deflate | None = None
    metrics: Metrics | None = None  # GET /metrics (server/metrics.py); None: off
    channel_lists: ChannelPushes = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.channel_lists = ChannelPushes(self._push_channel_lists)

    def send(self, conns: tuple[int, ...], packet: dict[str, Any]) -> str | None:
        if not conns:
            return None
        text = codec.encode(packet)
        data = text.encode("utf-8", "replace")  # a lone surrogate must not crash a broadcast
        frame = text_frame(data)
        sockets = self.sockets
        deflate = self.deflate
        metrics = self.metrics
        if deflate is None or len(data) < deflate.threshold:
            for cid in conns:
                ws = sockets.get(cid)
                if ws is not None:
                    ws.push(frame)
        else:  # compressed once, for every receiver that negotiated it (server/deflate.py)
            packed = None
            for cid in conns:
                ws = sockets.get(cid)
                if ws is not None:
                    if ws.deflate is None:
                        ws.push(frame)
                    else:
                        if packed is None:
                            packed = compressed_frame(deflate, data)
                        ws.push(packed)
            if packed is not None and metrics is not None:
                metrics.compressed += 1
                metrics.compressed_in += len(data)
                metrics.compressed_out += len(packed)
        if metrics is not None:  # per broadcast, not per receiver
            metrics.broadcasts += 1
            metrics.deliveries += len(conns)
        return text

    def reply(self, conn_id: int, packet: dict[str, Any], listener: str | None, text: str | None) -> None:
        ws = self.sockets.get(conn_id)
        if ws is None:
            return
        ws.send_text(codec.encode_reply(packet, listener) if text is None else codec.reply_from(text, packet, listener))

    def close(self, conns: tuple[int, ...], code: int, reason: str) -> None:
        for cid in conns:
            ws = self.sockets.get(cid)
            if ws is not None:
                ws.close(code, reason)

    def channels_changed(self, before: ServerState, after: ServerState) -> None:
        self.channel_lists.mark(before, after)  # pushed once per tick

    def push(self, effect: Any) -> None:
        if self.pusher is not None:
            self.pusher.offer(effect)

    def _push_channel_lists(self, before: ServerState, after: ServerState) -> None:
        for push in channel_pushes(before, after):
            self.send(push.conns, push.packet)

    def limited(self, conn_id: int) -> None:
        """A rate limiter refused a command of `conn_id` (counted by /metrics)."""
        if self.metrics is not None:
            self.metrics.rate_limited += 1
            self.metrics.outcome[conn_id] = "rate_limited"

    def rejected(self, conn_id: int, count: bool, fields: dict[str, Any]) -> None:
        """Log a refusal (sampled per address, client text clipped: see guard.Rejections); a socket
        that keeps sending what gets refused is closed (1008)."""
        if self.metrics is not None:
            self.metrics.outcome[conn_id] = "error"
        conn = self.owner.state.conns.get(conn_id)
        ws = self.sockets.get(conn_id)
        flooding = self.rejections.note(conn_id, conn.ip if conn is not None else "", trio.current_time(), fields,
                                        count=count and ws is not None)
        if flooding and ws is not None:
            ws.close(1008, "too many invalid requests")

    async def commit(self, writes: tuple[Write, ...], then: Committed, undo: Undo | None, last: bool = False) -> None:
        entry = self.writer.enqueue(writes, then, undo)
        if entry is None:  # the inbox is full: wait for room (back-pressure), shielded
            with trio.CancelScope(shield=True):
                await self.writer.submit(writes, then, undo)
            return
        if last:  # queued: it commits and `then` runs whatever becomes of this task
            await self.writer.wait(entry)
        else:  # the writes of the rest of the command must still be queued, even if cancelled
            with trio.CancelScope(shield=True):
                await self.writer.wait(entry)

    async def fetch(self, op: Op) -> Any:
        return await self.ops.run(op)
