"""`serve(config)`: the whole server in one trio task tree.

Nurseries are nested by lifetime: the writer outermost (it drains last), then the hub's timers,
the listeners and the connection tasks. `stop` (an Event; the CLI sets it on SIGINT/SIGTERM)
starts a graceful shutdown: stop accepting, close every WebSocket with 1001, give the connections
a moment to flush, then close the writer's inbox and let it commit what is queued.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import argon2
import attrs
import structlog
import trio

from ..config import Config
from ..media import MediaLimits
from ..core.settings import AuthSettings, ContentLimits, PushSettings, RateLimitSettings, Settings
from ..store import load
from ..store.db import db_path, open_db, open_to_others
from ..store.migrate import apply_migrations
from ..store.recheck import recheck_stored_content
from ..store.reader import Reader
from ..store.writer import Writer
from .admin_socket import serve_admin
from ..backup import SNAPSHOTS_DIR
from .backup_schedule import drop_snapshots_after_start, scheduled_backups
from .blobs import BlobStore
from ..config.loading import split_bind
from .connection import Guards, serve_connection
from .deflate import Deflate
from .metrics import Metrics, serve_separately as serve_metrics_separately
from .files import FileStore
from .httpio import HttpSettings
from . import audit_prune
from .guard import Admission, LogSampler, Rejections, parse_networks, serve_listeners
from .hub import Hub
from .limiters import HashScheduler, RoturGate
from .ops import OpRunner
from .push import Pusher, claims_ok, load_vapid
from .plugins import FOLDER as PLUGIN_FOLDER, PluginHost
from .tls import Tls
from .timers import (attachment_cleanup, auth_records_supervisor, flush_log_samplers, heartbeat, poll_expiry,
                     rate_limit_supervisor)
from .ws import InputBudget, InputLimits

log = structlog.get_logger("originchats.app")
SHUTDOWN_GRACE = 3.0


def project(cls: type, section: object) -> Any:
    """An instance of the attrs class `cls` with its fields' values taken from `section` (a config
    section that extends `cls`, so has them all)."""
    return cls(**{f.name: getattr(section, f.name) for f in attrs.fields(cls)})


def settings_from(config: Config) -> Settings:
    s = config.server
    server: dict = {"name": s.name, "owner": {"name": s.owner}}
    if s.url:
        server["url"] = s.url
    if s.icon:
        server["icon"] = s.icon
    if s.banner:
        server["banner"] = s.banner
    rl = config.rate_limiting
    return Settings(
        server=server,
        limits={"post_content": config.limits.post_content, "search_results": config.limits.search_results},
        auth_mode=config.auth_mode,
        allow_registration=config.cracked.allow_registration,
        allow_name_reuse=config.cracked.allow_name_reuse,
        rate_limit=RateLimitSettings(enabled=rl.enabled, messages_per_minute=rl.messages_per_minute,
                                     burst_limit=rl.burst_limit, cooldown_seconds=rl.cooldown_seconds),
        broadcast_limit=RateLimitSettings(enabled=rl.enabled, messages_per_minute=rl.broadcasts_per_minute,
                                          burst_limit=rl.broadcast_burst_limit,
                                          cooldown_seconds=rl.broadcast_cooldown_seconds),
        content=project(ContentLimits, config.limits),
        modlog_retention_days=dict(config.modlog.retention),
        polls=config.polls,
        welcome=config.welcome,
        slash=config.slash,
        files=config.attachments,
        auth=project(AuthSettings, config.auth),
        emojis=config.emojis,
        assets=config.assets,
        webhooks=config.webhooks,
        public_base=public_base(config),
        push=project(PushSettings, config.push),
        voice=config.voice,
    )


def public_base(config: Config) -> str:
    """The HTTP base of URLs this server makes (attachments.md §4): `server.url` lower-cased, with
    ws -> http and wss -> https (https stays, any other scheme becomes http), without a trailing
    slash; without `server.url`, `http://<listen.host>:<listen.port>`."""
    url = config.server.url.strip().lower().rstrip("/")
    if not url:
        return f"http://{config.listen.host}:{config.listen.port}"
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    return ("https" if scheme in ("https", "wss") else "http") + "://" + rest


def media_limits(config: Config) -> MediaLimits:
    m = config.media
    return MediaLimits(max_pixels=m.max_pixels, max_animation_pixels=m.max_animation_pixels, threads=m.threads)


def guards_from(config: Config) -> Guards:
    net, lim = config.network, config.limits
    per_minute = config.log.rejections_per_minute
    return Guards(
        admission=Admission(max_open=net.max_connections_per_ip, rate=net.new_connections_per_second,
                            burst=net.new_connections_burst, trusted=parse_networks(net.trusted_proxies)),
        input=InputLimits(max_message=lim.max_frame_size, max_message_before_login=lim.max_frame_size_before_login,
                          login_timeout=lim.login_timeout_seconds),
        budget=InputBudget(lim.max_buffered_input),
        refusals=LogSampler("connection_refused", per_minute), frames=LogSampler("frame_rejected", per_minute),
        http=HttpSettings(idle_timeout=config.http.idle_timeout_seconds,
                          upload_fields_bytes=config.http.upload_fields_bytes),
        deflate=deflate_from(config))


def deflate_from(config: Config) -> Deflate | None:
    """permessage-deflate settings (server/deflate.py); None when `[compression]` is off."""
    c = config.compression
    return Deflate(threshold=c.threshold_bytes, level=c.level) if c.enabled else None


def rejections_from(config: Config) -> Rejections:
    return Rejections(max_per_minute=config.limits.max_rejected_per_minute, max_chars=config.log.max_field_chars,
                      sampler=LogSampler("command_rejected", config.log.rejections_per_minute))


def open_store(config: Config) -> tuple:
    """Open (and create, migrate, seed) the database; returns (write con, read con, applied versions)."""
    path = db_path(config.storage.data_dir)
    con = open_db(path, synchronous=config.storage.synchronous.upper())
    try:
        applied = apply_migrations(con)
        load.refuse_unfinished_import(con)
        load.seed_if_new(con)
        recheck_stored_content(con, settings_from(config).content)  # once: content older limits let in
        reader = open_db(path, readonly=True)
    except BaseException:
        con.close()
        raise
    return con, reader, applied


async def serve(config: Config, *, listeners: list[trio.abc.Listener] | None = None,
                stop: trio.Event | None = None, tls: Tls | None = None,
                task_status: trio.TaskStatus[Hub] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the server until `stop` is set; `task_status.started(hub)` once it accepts connections.
    `tls`: the built-in TLS (server/tls.py), whose `reload` the caller may call (the CLI does on
    SIGHUP); by default made from `[tls]` in the config (none when it is not set)."""
    if stop is None:
        stop = trio.Event()
    if tls is None:
        tls = Tls.from_config(config.tls)  # ConfigError for unusable files, before the store is opened
    if config.cluster.role == "gateway":  # no store: connections only (originchats/cluster/)
        from ..cluster.serve import serve_gateway

        await serve_gateway(config, listeners=listeners, stop=stop, tls=tls, task_status=task_status)
        return

    from ..backup import snapshot_before_migrations  # a copy of the database before it is migrated

    snapshot = await trio.to_thread.run_sync(snapshot_before_migrations, Path(config.storage.data_dir))
    if snapshot is not None:
        log.info("migration_snapshot_taken", path=str(snapshot))
    con, read_con, applied = await trio.to_thread.run_sync(open_store, config)
    try:
        blobs = BlobStore(Path(config.storage.data_dir))
        await trio.to_thread.run_sync(blobs.sweep, con)  # before the state is loaded: no record without its file
        state = load.load_state(con, settings_from(config))
        log.info("store_opened", path=str(db_path(config.storage.data_dir)), migrations_applied=applied,
                 users=len(state.users), channels=len(state.channels))
        if open_to_others(config.storage.data_dir):
            log.warning("data_dir_open_to_others", path=str(config.storage.data_dir),
                        advice="chmod 700 it: other local users can see what it holds")
        writer = Writer(con, inbox_size=config.storage.write_queue, search_batch=config.storage.search_batch)
        files = FileStore(Path(config.storage.data_dir), media_limits(config))
        await trio.to_thread.run_sync(files.sweep, state)
        state = await trio.to_thread.run_sync(files.adopt_configured, state)
        runner = OpRunner(reader=Reader(read_con), rotur_url=config.rotur.validate_url,
                          rotur_timeout=config.rotur.timeout_seconds,
                          hasher=argon2.PasswordHasher(memory_cost=config.cracked.argon2_memory_kib,
                                                       time_cost=config.cracked.argon2_time_cost,
                                                       parallelism=1),
                          hashing=HashScheduler(threads=config.auth.hash_threads, queue_size=config.auth.hash_queue,
                                                per_source=config.auth.hash_per_ip),
                          inline_max_cost=config.auth.hash_inline_max_cost,
                          rotur=RoturGate(total=config.auth.rotur_concurrency, per_source=config.auth.rotur_per_ip,
                                          cache_seconds=config.auth.rotur_cache_seconds,
                                          cache_entries=config.auth.rotur_cache_entries),
                          blobs=blobs, profile_url=config.rotur.profile_url,
                          tier_cache_seconds=config.attachments.subscription_cache_ttl,
                          files=files)
        try:
            async with trio.open_nursery() as outer:
                await outer.start(writer.run)
                hub = Hub(state=state, writer=writer, ops=runner, rejections=rejections_from(config))
                pusher = await _pusher(config, hub)
                try:
                    await _run(config, hub, listeners, stop, task_status, pusher, tls, snapshot)
                finally:
                    writer.close()  # the writer drains its inbox, commits, and returns
        finally:
            with trio.CancelScope(shield=True):
                await runner.aclose()
        log.info("server_stopped", batches=writer.batches, writes=writer.committed)
    finally:
        con.close()
        read_con.close()


async def close_connections(hub: Any, listeners: list[trio.abc.Listener]) -> None:
    """Shutting down: stop listening, close every WebSocket with 1001, and give them
    `SHUTDOWN_GRACE` seconds to go (a gateway's hub as well: cluster/serve.py)."""
    for lst in listeners:
        await lst.aclose()
    hub.all_closed = trio.Event()
    hub.close_all(1001, "server shutting down")
    if hub.sockets:
        with trio.move_on_after(SHUTDOWN_GRACE):
            await hub.all_closed.wait()


def _metrics(config: Config, hub: Hub, guards: Guards) -> Metrics | None:
    """GET /metrics (server/metrics.py), counting from now on; None when `[metrics]` is off."""
    m = config.metrics
    if not m.enabled:
        return None
    metrics = Metrics(token=m.token, separate=bool(m.bind), db_file=db_path(config.storage.data_dir), hub=hub,
                      guards=guards)
    hub.metrics = hub.sink.metrics = metrics
    hub.writer.observe = metrics.committed
    return metrics


async def _pusher(config: Config, hub: Hub) -> Pusher | None:
    """The web push sender, with the VAPID keys (made on first start); None when push is off."""
    if not config.push.enabled:
        return None
    p = config.push
    vapid, public = await trio.to_thread.run_sync(load_vapid, Path(config.storage.data_dir))
    if not claims_ok(vapid, p.claims_email):
        log.error("push_disabled", reason="push.claims_email must be a mailto: or https: URL, e.g. mailto:you@example.org")
        return None
    hub.state = attrs.evolve(hub.state, settings=attrs.evolve(hub.state.settings, vapid_public_key=public))
    pusher = Pusher(hub=hub, vapid=vapid, settings=hub.state.settings.push, claims_email=p.claims_email,
                    timeout=p.send_timeout_seconds, concurrency=p.concurrency, queue=p.queue, ttl=p.ttl_seconds,
                    max_lag=p.max_lag_seconds)
    hub.sink.pusher = pusher
    return pusher


async def _run(config: Config, hub: Hub, listeners, stop: trio.Event, task_status,  # type: ignore[no-untyped-def]
               pusher: Pusher | None = None, tls: Tls | None = None,
               snapshot: Path | None = None) -> None:
    if listeners is None:
        listeners = await trio.open_tcp_listeners(config.listen.port, host=config.listen.host)
    guards = guards_from(config)
    guards.tls = tls
    if tls is not None:
        tls.log_enabled()
    hub.sink.deflate = guards.deflate
    metrics = _metrics(config, hub, guards)
    async with trio.open_nursery() as conns:
        if config.cluster.role == "core":  # clients held by gateways, through Redis (originchats/cluster/)
            from ..cluster.serve import core_node

            hub.cluster = core_node(config, hub)
            await conns.start(hub.cluster.run)
        handler = partial(serve_connection, hub=hub, guards=guards, tasks=conns)
        async with trio.open_nursery() as services:
            services.start_soon(guards.logins.run)
            services.start_soon(heartbeat, hub, config.heartbeat.interval_seconds)
            services.start_soon(rate_limit_supervisor, hub)
            services.start_soon(auth_records_supervisor, hub)
            services.start_soon(poll_expiry, hub)
            services.start_soon(attachment_cleanup, hub)
            if pusher is not None:
                await services.start(pusher.run)
            await services.start(hub.ops.run_services)
            services.start_soon(audit_prune.prune_periodically, hub)
            services.start_soon(flush_log_samplers, [hub.rejections.sampler, *guards.samplers()])
            await services.start(serve_admin, hub, config.storage.data_dir)
            if metrics is not None and metrics.separate:
                host, port = split_bind(config.metrics.bind)  # type: ignore[misc]
                await services.start(serve_metrics_separately, metrics, host, port)
            if config.plugins.enabled:  # loaded (and `server_start` fired) before clients come in
                plugins = PluginHost(Path(config.storage.data_dir) / PLUGIN_FOLDER, config.plugins)
                hub.plugins = hub.ops.plugins = plugins
                hub.interpreter.observe = plugins.committed
                await services.start(plugins.run, hub)
            await services.start(partial(serve_listeners, handler, listeners, handler_nursery=conns))
            for lst in listeners:
                sock = getattr(lst, "socket", None)
                if sock is not None:
                    log.info("listening", address=str(sock.getsockname()))
            # a successful start: earlier migration snapshots go (backup.py); scheduled backups begin
            if (Path(config.storage.data_dir) / SNAPSHOTS_DIR).is_dir():
                services.start_soon(drop_snapshots_after_start, Path(config.storage.data_dir), snapshot)
            if config.backup.enabled:
                services.start_soon(scheduled_backups, config)
            task_status.started(hub)
            await stop.wait()
            log.info("shutdown_started", connections=len(hub.sockets))
            services.cancel_scope.cancel()  # stop accepting; stop timers
        await close_connections(hub, listeners)
        conns.cancel_scope.cancel()
