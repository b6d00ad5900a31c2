"""Runs the core's `Fetch` operations: reads on the reader connection, argon2id in worker threads,
the Rotur check over HTTP. None of them runs on the trio thread.

One table maps each operation type to its runner (`OpRunner.table`, built once in
`runner_table`): every read of `store/reads.py` `READS`, run on the reader connection, plus this
module's own runners for what is not a read (hashing, verifying, the Rotur check).
tests/test_effect_tables.py checks that the table covers `core.ops.Op` exactly.

Hashing and Rotur checks are bounded by the two limiters of server/limiters.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import argon2
import attrs
import bcrypt
import httpx
import structlog
import trio

from ..core import ops, texts
from ..core.passwords import legacy_hash
from ..core.emoji_records import ImageRefused
from ..store.reader import Reader
from .blobs import BlobStore
from .files import FileStore
from .limiters import HashScheduler, RoturGate, argon2_cost
from ..store.reads import READS

log = structlog.get_logger("originchats.ops")


@attrs.define(eq=False)
class OpRunner:
    reader: Reader
    rotur_url: str
    rotur_timeout: float = 5.0
    hasher: argon2.PasswordHasher = attrs.Factory(argon2.PasswordHasher)
    hashing: HashScheduler = attrs.Factory(HashScheduler)
    inline_max_cost: int = 0  # a hash costing at most this (KiB x passes) runs here, not in a thread
    rotur: RoturGate = attrs.Factory(RoturGate)
    # made on the first Rotur check: building an HTTP client (TLS context) costs ~0.1 s, which a
    # server that never sees `auth` need not pay at start
    _http: httpx.AsyncClient | None = None
    _nursery: trio.Nursery | None = None  # where Rotur calls run (`run_services`)
    # attachments: the blob store (None: no data directory, blobs are never dropped) and the Rotur
    # subscription lookup of permanent tiers, cached per username
    blobs: BlobStore | None = None
    profile_url: str = "https://api.rotur.dev/profile"
    tier_cache_seconds: float = 300.0
    _tiers: dict[str, tuple[float, str]] = attrs.Factory(dict)  # username -> (until, tier), oldest first
    # emoji and server-asset images (server/files.py); None: no data directory (refused)
    files: FileStore | None = None
    # the plugin host (server/plugins.py); None: no plugins (an empty list, nothing to reload)
    plugins: Any = None
    #: operation type -> async runner(op): see `runner_table`
    table: dict[type, Callable[[Any], Awaitable[Any]]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.table = runner_table(self._read, {
            ops.HashPassword: self._hash_password,
            ops.VerifyPassword: self._verify_password,
            ops.RoturValidate: self._rotur_validate,
            ops.DropBlobs: self._drop_blobs,
            ops.RoturTier: self._rotur_tier,
            ops.PrepareImage: self._prepare_image,
            ops.RemoveFile: self._remove_file,
            ops.PluginsInfo: self._plugins_info,
            ops.PluginsReload: self._plugins_reload,
        })

    async def _plugins_info(self, op: ops.PluginsInfo) -> dict[str, Any]:
        return self.plugins.listing() if self.plugins is not None else {}

    async def _plugins_reload(self, op: ops.PluginsReload) -> tuple[str, ...]:
        if self.plugins is None:
            return (op.name,) if op.name else ()
        return await self.plugins.reload(op.name)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            # the gate bounds the calls; the pool must never make one wait beyond that
            limits = httpx.Limits(max_connections=self.rotur.total, max_keepalive_connections=self.rotur.total)
            self._http = httpx.AsyncClient(timeout=self.rotur_timeout, limits=limits)
        return self._http

    async def run_services(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The background tasks of Rotur calls live here until the server stops."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run(self, op: ops.Op) -> Any:
        runner = self.table.get(type(op))
        if runner is None:
            raise TypeError(f"no runner for operation {type(op).__name__}")
        return await runner(op)

    async def _read(self, fn: Callable[[Any, Any], Any], op: ops.Op) -> Any:
        return await self.reader.run(fn, op)

    async def _hash_password(self, op: ops.HashPassword) -> Any:
        if self.hasher.memory_cost * self.hasher.time_cost <= self.inline_max_cost:
            return self._compute_hash(op.password)
        return await self.hashing.run(op.source, self._hash, op.password)

    async def _verify_password(self, op: ops.VerifyPassword) -> Any:
        cost = argon2_cost(op.password_hash)
        if cost is not None and cost <= self.inline_max_cost:
            return self._check(op.password_hash, op.password)
        return await self.hashing.run(op.source, self._verify, op.password_hash, op.password)

    async def _prepare_image(self, op: ops.PrepareImage) -> Any:
        if self.files is None:
            return ImageRefused(texts.FILES_UNAVAILABLE)
        return await self.files.prepare_image(op)

    async def _remove_file(self, op: ops.RemoveFile) -> None:
        if self.files is not None:
            await self.files.remove_file(op)

    async def _rotur_validate(self, op: ops.RoturValidate) -> Any:
        return await self.rotur.run(op, self._rotur, self._nursery)

    async def _drop_blobs(self, op: ops.DropBlobs) -> None:
        if self.blobs is not None:
            await self.blobs.drop(op.shas, self.reader)

    async def _rotur_tier(self, op: ops.RoturTier) -> str:
        """The account's subscription, lower-case; "error" is not cached. Bounded like `auth`'s
        checks (the same client, its timeout); the cache keeps at most `rotur.cache_entries`."""
        now = trio.current_time()
        hit = self._tiers.get(op.username)
        if hit is not None and hit[0] > now:
            return hit[1]
        tier = "error"
        with trio.move_on_after(self.rotur_timeout):
            try:
                resp = await self.http.get(self.profile_url, params={"include_posts": "0", "name": op.username})
                body = resp.json() if resp.status_code == 200 else None
                if isinstance(body, dict):
                    sub = body.get("subscription")
                    tier = sub.lower() if isinstance(sub, str) else ""
                elif resp.status_code == 404:
                    tier = ""
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("rotur_tier_unavailable", error=type(exc).__name__)
        if tier != "error" and self.tier_cache_seconds > 0:
            self._tiers.pop(op.username, None)
            self._tiers[op.username] = (now + self.tier_cache_seconds, tier)
            while len(self._tiers) > self.rotur.cache_entries:
                del self._tiers[next(iter(self._tiers))]
        return tier

    def _hash(self, password: str) -> str:  # in a worker thread
        return self._compute_hash(password)

    def _verify(self, password_hash: str, password: str) -> bool:  # in a worker thread
        return self._check(password_hash, password)

    def _compute_hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def _check(self, password_hash: str, password: str) -> bool:
        if legacy_hash(password_hash):
            return bcrypt_check(password_hash, password)
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


def runner_table(read: Callable[[Callable[[Any, Any], Any], Any], Awaitable[Any]],
                 own: dict[type, Callable[[Any], Awaitable[Any]]]) -> dict[type, Callable[[Any], Awaitable[Any]]]:
    """The one runner table: each read of `READS` through `read(fn, op)`, plus the shell's `own`
    runners for the operations that are not reads. An operation in both is a bug: it fails here."""
    both = READS.keys() & own.keys()
    if both:
        raise RuntimeError(f"operations with two runners: {sorted(t.__name__ for t in both)}")
    return {**{op: partial(read, fn) for op, fn in READS.items()}, **own}


def bcrypt_check(password_hash: str, password: str) -> bool:
    """The check of a bcrypt hash the original server stored (`originchats import` keeps them until
    the next login rehashes them with argon2id). bcrypt reads at most 72 bytes of a password; the
    original's library cut longer ones there silently, today's refuses them, so they are cut here."""
    try:
        return bcrypt.checkpw(password.encode("utf-8", "surrogatepass")[:72], password_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
