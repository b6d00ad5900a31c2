"""`GET /metrics`: what an operator watches, in Prometheus' text format (prometheus-client).

Off by default (`[metrics] enabled`); when on it is never public: it is served either only on a
listener of its own on a local address (`bind`, `serve_separately`), or on the chat port to a
scraper that sends `Authorization: Bearer <token>` (compared in constant time); a `bind` on another
address needs the token too (config/loading.py checks it). Elsewhere `/metrics` is a plain 404.

Counting is cheap, because the hot paths stay what they were: the counters are plain integers
bumped where things happen, and turned into metric families only when scraped (`collect`). A
broadcast adds its number of receivers once (server/sockets.py `send`), not one call per receiver,
and a compressed broadcast its size before and after compression once;
a command costs two clock reads and a histogram bucket (server/hub.py `handle_text`); a writer
group one observation (store/writer.py). What can be read off the live server (open sockets, the
writer's queue, the SQLite files) is read at scrape time.

Command names are the ones the server knows; anything else is counted as "unknown" (a client
cannot grow the label set).
"""

from __future__ import annotations

import bisect
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import attrs
import h11
import structlog
import trio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from ..core import dispatch

if TYPE_CHECKING:
    from .connection import Guards
    from .hub import Hub

log = structlog.get_logger("originchats.metrics")
# the classic text format (our names need no escaping), which every Prometheus version reads
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4.encode()
KNOWN_COMMANDS = frozenset(dispatch.HANDLERS) | frozenset(dispatch.AUTH_HANDLERS)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
SCRAPE_TIMEOUT = 10.0  # a scraper of the separate listener gets this long for its request


class Histogram:
    """Bucket counts of one histogram (upper bounds `bounds`, then +Inf), and the sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # the first bound >= value
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts):
            running += count
            out.append((bound, running))
        return out


@attrs.define(eq=False)
class Metrics:
    """The live counters of one server; `collect` turns them into metric families."""

    token: str = ""  # required of scrapers on the chat port ("": none, only with a separate bind)
    separate: bool = False  # served on its own listener only (`bind`): 404 on the chat port
    db_file: Path | None = None
    hub: Hub | None = None
    guards: Guards | None = None
    logins: dict[str, int] = attrs.Factory(lambda: {"ok": 0, "failed": 0})
    commands: dict[tuple[str, str], int] = attrs.Factory(dict)  # (command, result) -> count
    latency: dict[str, Histogram] = attrs.Factory(dict)  # command -> seconds
    outcome: dict[int, str] = attrs.Factory(dict)  # conn id -> the result of the command it runs
    broadcasts: int = 0
    deliveries: int = 0  # sum of the receivers of each broadcast
    compressed: int = 0  # broadcasts compressed (once each, for the receivers that negotiated it)
    compressed_in: int = 0  # their bytes before compression
    compressed_out: int = 0  # and after
    slow_drops: int = 0
    rate_limited: int = 0  # commands answered `rate_limit`
    batch_sizes: Histogram = attrs.Factory(lambda: Histogram(BATCH_BUCKETS))
    commit_seconds: Histogram = attrs.Factory(lambda: Histogram(LATENCY_BUCKETS))
    registry: CollectorRegistry = attrs.field(init=False)
    bound: list[tuple[str, int]] = attrs.Factory(list)  # the separate listener's addresses

    def __attrs_post_init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    # ---- counting (the hot paths call these) ----------------------------------------------------

    def command(self, conn_id: int, cmd: str | None, seconds: float) -> None:
        """One command ended after `seconds`; its result is what the sink noted for the connection."""
        name = "invalid" if cmd is None else cmd if cmd in KNOWN_COMMANDS else "unknown"
        result = self.outcome.pop(conn_id, "ok")
        key = (name, result)
        self.commands[key] = self.commands.get(key, 0) + 1
        hist = self.latency.get(name)
        if hist is None:
            hist = self.latency[name] = Histogram(LATENCY_BUCKETS)
        hist.observe(seconds)

    def login(self, ok: bool) -> None:
        self.logins["ok" if ok else "failed"] += 1

    def committed(self, entries: int, seconds: float) -> None:
        """The writer committed a group of `entries` in `seconds` (store/writer.py `observe`)."""
        self.batch_sizes.observe(entries)
        self.commit_seconds.observe(seconds)

    # ---- the scrape ---------------------------------------------------------------------------

    def allowed(self, authorization: bytes | None) -> bool:
        """Whether a request with this `Authorization` header may read the metrics."""
        if not self.token:
            return True
        expected = b"Bearer " + self.token.encode()
        return authorization is not None and hmac.compare_digest(authorization.strip(), expected)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Any]:
        hub = self.hub
        if hub is not None:
            yield GaugeMetricFamily("originchats_connections_open", "Open WebSocket connections.",
                                    value=len(hub.sockets))
            yield GaugeMetricFamily("originchats_connections_authenticated", "Logged-in WebSocket connections.",
                                    value=len(hub.state.conns.authed_ids()))
            yield GaugeMetricFamily("originchats_writer_queue_depth", "Writes waiting for the single writer.",
                                    value=hub.writer.queued)
        logins = CounterMetricFamily("originchats_logins", "Logins (auth, login, register) by result.",
                                     labels=["result"])
        for result, n in self.logins.items():
            logins.add_metric([result], n)
        yield logins
        commands = CounterMetricFamily("originchats_commands", "Commands by name and result.",
                                       labels=["command", "result"])
        for (name, result), n in sorted(self.commands.items()):
            commands.add_metric([name, result], n)
        yield commands
        latency = HistogramMetricFamily("originchats_command_seconds",
                                        "Time from a command's arrival to the end of its handling "
                                        "(a pipelined message_new: until its write is queued).", labels=["command"])
        for name, hist in sorted(self.latency.items()):
            latency.add_metric([name], hist.buckets(), hist.total)
        yield latency
        batch = HistogramMetricFamily("originchats_writer_batch_size", "Writes committed per SQLite transaction.")
        batch.add_metric([], self.batch_sizes.buckets(), self.batch_sizes.total)
        yield batch
        commit = HistogramMetricFamily("originchats_writer_commit_seconds", "Time to commit one group of writes.")
        commit.add_metric([], self.commit_seconds.buckets(), self.commit_seconds.total)
        yield commit
        yield CounterMetricFamily("originchats_broadcasts", "Packets sent to a set of connections.",
                                  value=self.broadcasts)
        yield CounterMetricFamily("originchats_fanout_deliveries", "Broadcast packets queued for a connection "
                                  "(the receivers of each broadcast, summed).", value=self.deliveries)
        yield CounterMetricFamily("originchats_compressed_broadcasts", "Broadcasts compressed for the receivers "
                                  "that negotiated permessage-deflate (once per broadcast).", value=self.compressed)
        squeezed = CounterMetricFamily("originchats_compressed_broadcast_bytes", "Bytes of the compressed "
                                       "broadcasts, before and after compression.", labels=["side"])
        squeezed.add_metric(["before"], self.compressed_in)
        squeezed.add_metric(["after"], self.compressed_out)
        yield squeezed
        yield CounterMetricFamily("originchats_slow_consumer_drops", "Connections closed for not reading "
                                  "(1008 too slow).", value=self.slow_drops)
        limited = CounterMetricFamily("originchats_rate_limited", "Refusals by a rate limit: commands answered "
                                      "rate_limit, connections answered 429.", labels=["limit"])
        limited.add_metric(["commands"], self.rate_limited)
        limited.add_metric(["connections"], self.guards.refused if self.guards is not None else 0)
        yield limited
        if self.db_file is not None:
            size = GaugeMetricFamily("originchats_sqlite_bytes", "Size of the SQLite database files.",
                                     labels=["file"])
            for label, path in (("main", self.db_file), ("wal", Path(str(self.db_file) + "-wal"))):
                try:
                    size.add_metric([label], os.stat(path).st_size)
                except OSError:
                    size.add_metric([label], 0)
            yield size


# ---- the separate listener (`bind`) -----------------------------------------------------------

async def serve_separately(metrics: Metrics, host: str, port: int,
                           task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `GET /metrics` (only) on `host:port`, one request per connection."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    metrics.bound = [lst.socket.getsockname()[:2] for lst in listeners]
    for address in metrics.bound:
        log.info("metrics_listening", address=str(address))
    task_status.started()
    await trio.serve_listeners(lambda stream: _answer(metrics, stream), listeners)


async def _answer(metrics: Metrics, stream: trio.SocketStream) -> None:
    async with stream:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        try:
            with trio.move_on_after(SCRAPE_TIMEOUT):
                request = None
                while request is None:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await stream.receive_some(65536)
                        if not data:
                            return
                        conn.receive_data(data)
                    elif isinstance(event, h11.Request):
                        request = event
                    else:
                        return
                headers = dict(request.headers)
                path = request.target.split(b"?", 1)[0]
                if request.method not in (b"GET", b"HEAD") or path != b"/metrics":
                    status, body, kind, extra = 404, b'{"error": "Not found"}', b"application/json", []
                elif not metrics.allowed(headers.get(b"authorization")):
                    status, body, kind, extra = 401, b'{"error": "Unauthorized"}', b"application/json", \
                        [(b"WWW-Authenticate", b'Bearer realm="metrics"')]
                else:
                    status, body, kind, extra = 200, metrics.render(), CONTENT_TYPE, []
                out = conn.send(h11.Response(status_code=status, headers=[
                    (b"Content-Type", kind), (b"Content-Length", str(len(body)).encode()),
                    (b"Cache-Control", b"no-store"), (b"Connection", b"close"), *extra]))
                if request.method != b"HEAD":
                    out += conn.send(h11.Data(data=body))
                out += conn.send(h11.EndOfMessage())
                await stream.send_all(out)
        except (h11.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
