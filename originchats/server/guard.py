"""The shell's defences against one client (or one address) taking more than its share.

* `Admission`: connections per client address: how many may be open at once, and a token bucket
  for new ones (`[network]` in config.toml). IPv6 addresses are counted per /64, the block one
  subscriber usually gets. `client_ip` believes `X-Forwarded-For` only from trusted proxies.
* `Rejections`: every rejected command (invalid JSON, unknown command, error answer) goes through
  here: its log line is sampled per address (`LogSampler`) with client text clipped (`clip`), and a
  socket that causes more than `limits.max_rejected_per_minute` of them is closed.
* `serve_listeners`: trio's accept loop (on a TCP listener: server/fastsock.py `Acceptor`, which
  takes every waiting connection per wake-up), but when accept fails for want of file descriptors it logs
  one line per `ACCEPT_LOG_INTERVAL` (trio logs a traceback every 100 ms) and refuses the waiting
  connection with a 503 through a reserved descriptor, instead of leaving it in the backlog.

None of this is in the pure core: it is about sockets, addresses and the log, not chat state.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
import structlog
import trio

from .fastsock import Acceptor

log = structlog.get_logger("originchats.guard")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WINDOW = 60.0  # seconds of one log-sampling window and of the rejection rate
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_RETRY = 0.1  # seconds between accept attempts while descriptors are exhausted
ACCEPT_LOG_INTERVAL = 10.0  # at most one `accept_failed` line per this many seconds
REFUSED_503 = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"


def clip(value: Any, limit: int) -> Any:
    """`value` for a log line: a string longer than `limit` is cut, with its length noted."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}...[{len(value)} chars]"
    return value


# ---- addresses ------------------------------------------------------------------------------------


def normalize_ip(ip: str) -> str:
    """An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, from a dual-stack socket) as IPv4; else as is."""
    if ip.startswith("::ffff:"):
        try:
            mapped = ipaddress.IPv6Address(ip).ipv4_mapped
        except ValueError:
            return ip
        if mapped is not None:
            return str(mapped)
    return ip


def address_key(ip: str) -> str:
    """What per-address limits count on: an IPv4 address, an IPv6 address's /64 network, or (not an
    address: in-memory test streams) the label itself."""
    if ":" not in ip:
        return ip
    try:
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    except ValueError:
        return ip


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _in(ip: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def client_ip(peer: str, headers: Iterable[tuple[bytes, bytes]], trusted: tuple[Network, ...]) -> str:
    """The client's address: `peer` itself, unless `peer` is a trusted proxy; then the right-most
    `X-Forwarded-For` entry that is not itself a trusted proxy (entries to its left were written by
    the client or by proxies we do not know, so they prove nothing). A proxy chain of trusted
    proxies only gives its left-most entry; a malformed entry or no header gives `peer`."""
    if not _in(peer, trusted):
        return peer
    entries: list[str] = []
    for name, value in headers:
        if name.lower() == b"x-forwarded-for":
            entries += [e.strip() for e in value.decode("latin-1").split(",") if e.strip()]
    if not entries:
        return peer
    for entry in reversed(entries):
        try:
            ip = str(ipaddress.ip_address(entry))
        except ValueError:
            return peer  # our proxy would not write this: a misconfiguration; count the proxy
        if not _in(ip, trusted):
            return normalize_ip(ip)
    return normalize_ip(str(ipaddress.ip_address(entries[0])))


# ---- admission ------------------------------------------------------------------------------------


@attrs.define(eq=False)
class Admission:
    """Open connections and new-connection rate per address key (see `address_key`)."""

    max_open: int = 64  # 0: no limit
    rate: float = 10.0  # new connections per second, sustained; 0: no limit
    burst: int = 40
    trusted: tuple[Network, ...] = ()
    open: dict[str, int] = attrs.Factory(dict)
    _buckets: dict[str, tuple[float, float]] = attrs.Factory(dict)  # key -> (tokens, at)
    _prune_at: int = 1024

    def is_trusted(self, ip: str) -> bool:
        return _in(ip, self.trusted)

    def admit(self, key: str, now: float) -> tuple[str, int] | None:
        """Take a slot for a new connection from `key`: None, or (why not, seconds to retry after)."""
        if self.max_open and self.open.get(key, 0) >= self.max_open:
            return "too_many_connections", 10
        if self.rate > 0:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return "connection_rate", max(1, math.ceil((1.0 - tokens) / self.rate))
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self._prune_at:
                self._prune(now)
        self.open[key] = self.open.get(key, 0) + 1
        return None

    def release(self, key: str) -> None:
        left = self.open.get(key, 0) - 1
        if left > 0:
            self.open[key] = left
        else:
            self.open.pop(key, None)

    def _prune(self, now: float) -> None:
        """Forget the buckets that are full again (amortized: runs when the table doubled)."""
        full = float(self.burst)
        self._buckets = {k: (t, at) for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate < full}
        self._prune_at = max(1024, 2 * len(self._buckets))


# ---- log sampling and rejected commands -----------------------------------------------------------


@attrs.define(eq=False)
class LogSampler:
    """At most `per_window` lines of `event` per key and minute; the lines over that are counted and
    reported as one `<event>_suppressed` line per key and minute (by `flush`, or the key's next line)."""

    event: str
    per_window: int = 10
    _windows: dict[str, list[float]] = attrs.Factory(dict)  # key -> [start, logged, suppressed]

    def allow(self, key: str, now: float) -> bool:
        window = self._windows.get(key)
        if window is None or now - window[0] >= WINDOW:
            if window is not None:
                self._report(key, window, now)
            window = self._windows[key] = [now, 0, 0]
        if window[1] < self.per_window:
            window[1] += 1
            return True
        window[2] += 1
        return False

    def flush(self, now: float) -> None:
        """Report and forget the windows that are over."""
        for key, window in list(self._windows.items()):
            if now - window[0] >= WINDOW:
                self._report(key, window, now)
                del self._windows[key]

    def _report(self, key: str, window: list[float], now: float) -> None:
        if window[2]:
            log.info(f"{self.event}_suppressed", ip=key, count=int(window[2]),
                     seconds=round(min(now - window[0], WINDOW), 1))


@attrs.define(eq=False)
class Rejections:
    """Rejected commands: sampled log lines, and the socket that sends too many is closed."""

    max_per_minute: int = 100
    max_chars: int = 128
    sampler: LogSampler = attrs.Factory(lambda: LogSampler("command_rejected"))
    _buckets: dict[int, tuple[float, float]] = attrs.Factory(dict)  # conn id -> (tokens, at)

    def note(self, conn_id: int, ip: str, now: float, fields: Mapping[str, Any], count: bool = True) -> bool:
        """Log (maybe) one rejection; True when the connection has now sent too many (close it)."""
        if self.sampler.allow(address_key(ip), now):
            log.info("command_rejected", conn_id=conn_id,
                     **{k: clip(v, self.max_chars) for k, v in fields.items()})
        if not count:
            return False
        cap = float(self.max_per_minute)
        tokens, at = self._buckets.get(conn_id, (cap, now))
        tokens = min(cap, tokens + (now - at) * cap / WINDOW) - 1.0
        self._buckets[conn_id] = (tokens, now)
        if tokens < 0.0:
            log.info("connection_flooding", conn_id=conn_id, limit_per_minute=self.max_per_minute)
            return True
        return False

    def forget(self, conn_id: int) -> None:
        self._buckets.pop(conn_id, None)


# ---- accepting ------------------------------------------------------------------------------------


async def _run_handler(stream: trio.abc.Stream, handler: Callable[[trio.abc.Stream], Awaitable[object]]) -> None:
    try:
        await handler(stream)
    finally:
        await trio.aclose_forcefully(stream)


class _Reserve:
    """One descriptor kept open so that, when the process has no other, one waiting connection can
    still be accepted and told 503 rather than left to time out in the backlog."""

    def __init__(self) -> None:
        self.fd = self._open()

    @staticmethod
    def _open() -> int:
        try:
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return -1

    async def refuse_one(self, listener: trio.abc.Listener) -> bool:
        sock = getattr(listener, "socket", None)
        if self.fd < 0 or sock is None:
            self.fd = self._open() if self.fd < 0 else self.fd
            return False
        os.close(self.fd)
        self.fd = -1
        refused = False
        try:
            with trio.move_on_after(ACCEPT_RETRY):
                conn, _ = await sock.accept()
                with conn:
                    try:
                        os.write(conn.fileno(), REFUSED_503)  # non-blocking: what fits, or nothing
                    except OSError:
                        pass
                refused = True
        except OSError:
            pass
        finally:
            self.fd = self._open()
        return refused

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


async def _serve_one(listener: trio.abc.Listener, handler: Callable[[trio.abc.Stream], Awaitable[object]],
                     nursery: trio.Nursery) -> None:
    reserve = _Reserve()
    failures = refused = 0
    logged_at = -math.inf
    acceptor = Acceptor(listener) if isinstance(listener, trio.SocketListener) else None
    try:
        async with listener:
            while True:
                try:
                    if acceptor is not None:
                        streams: list[trio.abc.Stream] = await acceptor.accept_batch()  # type: ignore[assignment]
                    else:
                        streams = [await listener.accept()]
                except OSError as exc:
                    if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                        raise
                    failures += 1
                    refused += await reserve.refuse_one(listener)
                    now = trio.current_time()
                    if now - logged_at >= ACCEPT_LOG_INTERVAL:
                        log.warning("accept_failed", error=errno.errorcode.get(exc.errno, str(exc.errno)),
                                    failures=failures, refused=refused)
                        logged_at, failures, refused = now, 0, 0
                    await trio.sleep(ACCEPT_RETRY)
                    continue
                for stream in streams:
                    nursery.start_soon(_run_handler, stream, handler)
    finally:
        if acceptor is not None:
            acceptor.detach()
        reserve.close()


async def serve_listeners(handler: Callable[[trio.abc.Stream], Awaitable[object]], listeners: list[Any], *,
                          handler_nursery: trio.Nursery,
                          task_status: trio.TaskStatus[list[Any]] = trio.TASK_STATUS_IGNORED) -> None:
    """Like `trio.serve_listeners`, with the file-descriptor handling described above."""
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_serve_one, listener, handler, handler_nursery)
        task_status.started(listeners)
