"""Runs the core's `Fetch` operations: reads on the reader connection, argon2id in worker threads,
the Rotur check over HTTP. None of them runs on the trio thread."""

from __future__ import annotations

from typing import Any

import argon2
import attrs
import httpx
import structlog
import trio

from ..core import ops
from ..store import sql
from ..store.reader import Reader

log = structlog.get_logger("originchats.ops")


@attrs.define(eq=False)
class OpRunner:
    reader: Reader
    rotur_url: str
    rotur_timeout: float = 5.0
    hasher: argon2.PasswordHasher = attrs.Factory(argon2.PasswordHasher)
    # Password work gets at most two threads, so a login storm leaves the event loop its share.
    hash_limiter: trio.CapacityLimiter = attrs.Factory(lambda: trio.CapacityLimiter(2))
    # made on the first Rotur check: building an HTTP client (TLS context) costs ~0.1 s, which a
    # server that never sees `auth` need not pay at start
    _http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.rotur_timeout)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run(self, op: Any) -> Any:
        if isinstance(op, ops.GetMessage):
            return await self.reader.run(sql.get_message, op.channel_id, op.message_id, op.thread_id)
        if isinstance(op, ops.History):
            return await self.reader.run(sql.history, op.channel_id, op.start, op.limit, op.thread_id)
        if isinstance(op, ops.Around):
            return await self.reader.run(sql.around, op.channel_id, op.message_id, op.above, op.below, op.thread_id)
        if isinstance(op, ops.LastMessages):
            return await self.reader.run(sql.last_messages, op.channel_ids)
        if isinstance(op, ops.HashPassword):
            return await trio.to_thread.run_sync(self.hasher.hash, op.password, limiter=self.hash_limiter)
        if isinstance(op, ops.VerifyPassword):
            return await trio.to_thread.run_sync(self._verify, op.password_hash, op.password, limiter=self.hash_limiter)
        if isinstance(op, ops.RoturValidate):
            return await self._rotur(op)
        runner = EXTRA_OPS.get(type(op))
        if runner is not None:
            return await runner(self, op)
        raise TypeError(f"no runner for operation {type(op).__name__}")

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    async def _rotur(self, op: ops.RoturValidate) -> Any:
        # httpx's timeout bounds each connect/read/write step; a server dripping bytes could keep
        # one request alive forever, so the whole exchange gets the same bound as well.
        total = self.rotur_timeout
        with trio.move_on_after(total) as scope:
            try:
                resp = await self.http.get(self.rotur_url, params={"key": op.key, "v": op.validator})
            except httpx.HTTPError as exc:
                log.warning("rotur_unreachable", error=type(exc).__name__)
                return "error"
        if scope.cancelled_caught:
            log.warning("rotur_unreachable", error="deadline")
            return "error"
        if resp.status_code != 200:
            log.info("rotur_refused", status=resp.status_code)
            return None
        try:
            body = resp.json()
        except ValueError:
            log.warning("rotur_bad_answer", status=resp.status_code)
            return "error"
        return body if isinstance(body, dict) else "error"


#: Runners for operations added by later features: type -> async fn(runner, op).
EXTRA_OPS: dict[type, Any] = {}
