"""Sending web pushes (extended/push.md): the VAPID keys, and the background sender.

The core decides who is pushed (core/push.py) and puts a `PushNotify` after the broadcast in a
message's `then`; the socket sink hands it to `Pusher.offer`, which only queues it. When the server
is idle, its recipients are worked out (`push_items`, with the state of that moment) and queued:
one push waits per subscription at most (a newer one takes the older one's place: the notification
shows the newest message), and beyond `push.queue` subscriptions waiting, new ones are dropped and
counted (past `push.queue` messages waiting, the oldest one's recipients are worked out at once).
`push.concurrency` workers send them, each once the server is idle (server/idle.py), each push under
a deadline of `push.send_timeout_seconds` for the whole of it (resolve, connect, send, answer). So
a push never delays a broadcast, and a slow or dead push service holds at most one worker for one
deadline. The requests go through server/push_http.py (keep-alive HTTP/1.1 per push service).

Endpoint rules, at each new connection: the host is resolved and EVERY address must be public (no
private, loopback, link-local, unspecified or multicast address, unless `push.allow_private`); the
connection then goes to the first checked address itself (the URL's host stays in `Host` and in
TLS's SNI and certificate check), so a name that resolves differently a moment later (DNS
rebinding) cannot redirect it; a kept-alive connection is reused only for the same scheme, host
and port. Redirects are not followed.

Answers: 2xx refreshes `last_used`; 404 and 410 delete the subscription; anything else is logged.
These are recorded by one pure step per batch (core/handlers/push.py `push_results`).
"""

from __future__ import annotations

import base64
import collections
import ipaddress
import json
import os
import ssl
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import h11
import http_ece
import structlog
import trio
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02, VapidException


from ..core.effects import PushNotify
from ..core.push import address_allowed, push_items, push_results
from ..core.push_records import PushSub
from ..core.request import Request
from ..core.settings import PushSettings
from .push_http import PushHTTP

log = structlog.get_logger("originchats.push")

#: answers are recorded (last_used, dead subscriptions) at most this often, in one commit
RECORD_EVERY = 1.0
#: how long a VAPID signature is valid (push services refuse more than 24 h)
VAPID_LIFETIME = 12 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_vapid(data_dir: Path) -> tuple[Vapid02, str]:
    """The server's VAPID key pair: `<data dir>/vapid/private_key.pem` (made on first start, mode
    0600 in a 0700 folder), and the public key as the browser wants it (uncompressed point,
    base64url without padding)."""
    folder = Path(data_dir) / "vapid"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "private_key.pem"
    if not path.exists():
        fresh = Vapid02()
        fresh.generate_keys()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(fresh.private_pem())
    vapid = Vapid02.from_pem(path.read_bytes())
    public = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return vapid, b64url(public)


def claims_ok(vapid: Vapid02, claims_email: str) -> bool:
    """Whether `push.claims_email` is a `sub` push services accept (a mailto: or https: URL)."""
    try:
        vapid.sign({"aud": "https://push.example.com", "sub": claims_email})
    except VapidException:
        return False
    return True


def encrypt(payload: dict[str, Any], sub: PushSub) -> bytes:
    """RFC 8291 (aes128gcm) with a fresh sender key and salt."""
    sender = ec.generate_private_key(ec.SECP256R1())
    return http_ece.encrypt(json.dumps(payload, ensure_ascii=False).encode(), salt=os.urandom(16),
                            private_key=sender, dh=unb64url(sub.p256dh), auth_secret=unb64url(sub.auth),
                            version="aes128gcm")


class Refused(Exception):
    """The endpoint's host is (or resolves to) an address pushes may not go to."""


@attrs.define(eq=False)
class Pusher:
    hub: Any
    vapid: Vapid02
    settings: PushSettings
    claims_email: str
    timeout: float
    concurrency: int
    queue: int
    ttl: int
    max_lag: float = 5.0  # a push waits this long at most for the server to be idle
    sent: int = 0
    dropped: int = 0
    merged: int = 0  # pushes folded into a push still waiting for the same subscription
    refused: int = 0  # pushes not sent: their endpoint resolved to an address not allowed
    # messages whose recipients are still to be worked out, oldest first
    _jobs: collections.deque[PushNotify] = attrs.Factory(collections.deque)
    # endpoint -> (subscription, payload): what waits to be sent, oldest first, one per endpoint
    _pending: dict[str, tuple[PushSub, dict[str, Any]]] = attrs.Factory(dict)
    _waiting: trio.lowlevel.ParkingLot = attrs.Factory(trio.lowlevel.ParkingLot)  # workers with nothing to send
    _jobs_waiting: trio.lowlevel.ParkingLot = attrs.Factory(trio.lowlevel.ParkingLot)  # `_decide`, with no message
    _results: list[tuple[str, bool]] = attrs.Factory(list)
    _results_ready: trio.Event = attrs.Factory(trio.Event)
    _http: PushHTTP | None = None
    # origin -> (VAPID headers, when they stop being reused): one signature per origin per hour
    _signed: dict[str, tuple[dict[str, str], float]] = attrs.Factory(dict)

    def offer(self, notify: PushNotify) -> None:
        """Queue a message's pushes without waiting: its recipients are worked out later, when the
        server is idle (`_decide`). Past `push.queue` messages waiting, the oldest one's recipients
        are worked out at once, so a long busy spell keeps memory bounded and loses nobody."""
        jobs = self._jobs
        jobs.append(notify)
        if len(jobs) > self.queue:
            self._expand(jobs.popleft())
        if self._jobs_waiting:
            self._jobs_waiting.unpark()

    def _expand(self, notify: PushNotify) -> None:
        """Queue the pushes of `notify`. A subscription has at most one push waiting: a newer one
        takes its place (its notification shows the newest message, as a push service's `Topic`
        would do). Beyond `push.queue` subscriptions waiting, new ones are dropped and counted."""
        pending = self._pending
        for sub, payload in push_items(self.hub.state, notify):
            endpoint = sub.endpoint
            if endpoint in pending:
                pending[endpoint] = (sub, payload)
                self.merged += 1
            elif len(pending) < self.queue:
                pending[endpoint] = (sub, payload)
            else:
                self.dropped += 1
                if self.dropped % 1000 == 1:  # the first, then one line per 1,000
                    log.warning("push_dropped", reason="queue full", queued=self.queue, dropped_so_far=self.dropped)
        if pending and self._waiting:
            self._waiting.unpark(count=len(pending))

    @property
    def http(self) -> PushHTTP:
        """The connections to push services (made in `run`)."""
        assert self._http is not None
        return self._http

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._http = PushHTTP(self.concurrency)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._decide)
                for _ in range(self.concurrency):
                    nursery.start_soon(self._worker)
                nursery.start_soon(self._recorder)
                task_status.started()
        finally:
            log.info("push_sender_stopped", sent=self.sent, merged=self.merged, dropped=self.dropped,
                     refused=self.refused, waiting=len(self._pending), messages_waiting=len(self._jobs))
            with trio.CancelScope(shield=True):
                await self._http.aclose()

    async def _decide(self) -> None:
        """Work out the recipients of the waiting messages, one message per idle moment (a piece of
        background work of its own, beside the workers: while they wait for a slow push service,
        newer pushes still take the place of those waiting for the same subscription)."""
        while True:
            while not self._jobs:
                await self._jobs_waiting.park()
            await self.hub.idle.wait(self.max_lag)
            if self._jobs:
                self._expand(self._jobs.popleft())

    async def _next(self) -> tuple[PushSub, dict[str, Any]]:
        """The oldest waiting push, once the server is idle or it has waited `max_lag` seconds
        (server/idle.py): pushes go after the broadcasts."""
        while True:
            while not self._pending:
                await self._waiting.park()
            await self.hub.idle.wait(self.max_lag)
            if self._pending:  # another worker may have taken the last one meanwhile
                endpoint = next(iter(self._pending))
                return self._pending.pop(endpoint)

    async def _worker(self) -> None:
        while True:
            sub, payload = await self._next()
            outcome = None
            with trio.move_on_after(self.timeout):
                try:
                    outcome = await self._deliver(sub, payload)
                except Refused:
                    self.refused += 1
                    log.info("push_refused", reason="endpoint address not allowed")
                except (OSError, ValueError, ssl.SSLError, h11.ProtocolError, trio.BrokenResourceError) as exc:
                    log.info("push_failed", error=type(exc).__name__)
                except Exception:  # a barrier: one bad push never stops the sender or the server
                    log.exception("push_crashed")
            if outcome is None:
                continue
            if 200 <= outcome < 300:
                self.sent += 1
                self._record(sub.endpoint, False)
            elif outcome in (404, 410):
                self._record(sub.endpoint, True)
            else:
                log.info("push_rejected", status=outcome)

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            ipaddress.ip_address(host)
            found = [host]
        except ValueError:
            infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
            found = [str(info[4][0]) for info in infos]
        if not found or not all(address_allowed(a, self.settings) for a in found):
            raise Refused
        return found

    async def _deliver(self, sub: PushSub, payload: dict[str, Any]) -> int:
        parts = urlsplit(sub.endpoint)
        scheme, host = parts.scheme, parts.hostname or ""
        if scheme != "https" and not (self.settings.allow_http and scheme == "http"):
            raise Refused
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        assert self._http is not None
        conn = self._http.pooled(key)  # a pooled connection went to a checked address
        if conn is None:
            address = (await self._addresses(host, port))[0]  # connect to the address that was checked
            conn = await self._http.connect(key, address)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = encrypt(payload, sub)
        headers = [("Host", parts.netloc), *self._vapid_headers(f"{scheme}://{parts.netloc}").items(),
                   ("TTL", str(self.ttl)), ("Content-Encoding", "aes128gcm"),
                   ("Content-Type", "application/octet-stream"), ("Urgency", "normal"),
                   ("Content-Length", str(len(body)))]
        return await self._http.post(key, conn, target, headers, body)

    def _vapid_headers(self, origin: str) -> dict[str, str]:
        """The signed VAPID header for `origin`, reused for an hour of its 12 (push services hold
        many subscriptions under one origin: one ES256 signature serves them all)."""
        now = time.time()
        hit = self._signed.get(origin)
        if hit is None or hit[1] <= now:
            if len(self._signed) > 1000:  # a bound on distinct origins remembered
                self._signed.clear()
            signed = self.vapid.sign({"aud": origin, "sub": self.claims_email, "exp": int(now) + VAPID_LIFETIME})
            hit = (signed, now + 3600)
            self._signed[origin] = hit
        return hit[0]

    def _record(self, endpoint: str, gone: bool) -> None:
        self._results.append((endpoint, gone))
        self._results_ready.set()

    async def _recorder(self) -> None:
        """One pure step per batch of answers: `last_used` refreshed, dead subscriptions removed."""
        hub = self.hub
        while True:
            await self._results_ready.wait()
            await trio.sleep(RECORD_EVERY)  # one commit for all the answers of a second, not one each
            self._results_ready = trio.Event()
            batch, self._results = self._results, []
            used = tuple(dict.fromkeys(e for e, gone in batch if not gone))
            gone = tuple(dict.fromkeys(e for e, g in batch if g))
            ctx = hub.context(-1)
            before = hub.state  # read and replaced with no await in between
            step = push_results(before, ctx, used, gone)
            hub.state = step.state
            try:
                await hub.interpreter.run(step.effects, ctx, Request(cmd="push_results", data={}), None,
                                          hub.interpreter.undo(before, step.state))
            except Exception:  # a failed commit: the next answers record again
                log.exception("push_results_failed")
