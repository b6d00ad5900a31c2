"""The configuration tree: one frozen section per TOML table, with its defaults (config.toml documents
every key). Loading and checking are in config/loading.py."""


from __future__ import annotations

from typing import Literal

import attrs

from ..core.settings import (AssetSettings, AttachmentSettings, AuthSettings, ContentLimits, EmojiSettings, PollLimits,
                             PushSettings, SlashSettings, VoiceSettings, WebhookSettings, WelcomeSettings)


class ConfigError(Exception):
    pass


@attrs.frozen(kw_only=True)
class ServerSection:
    name: str = "My OriginChats Server"
    owner: str = "Admin"  # display name only (handshake `server.owner.name`, /info)
    icon: str = ""
    banner: str = ""
    url: str = ""


@attrs.frozen(kw_only=True)
class ListenSection:
    host: str = "127.0.0.1"
    port: int = 5613


#: The largest `storage.search_batch`: a search reads that many waiting messages at worst (one by
#: one, about a microsecond each), beside what the index answers.
SEARCH_BATCH_MAX = 16384


@attrs.frozen(kw_only=True)
class StorageSection:
    data_dir: str = "data"
    # FULL: every commit is fsynced (a group of messages shares one fsync). NORMAL survives a crash
    # of the process but may lose the last commits on power loss.
    synchronous: Literal["full", "normal"] = "full"
    # Commands' writes that may wait for the single writer; when full, the connection whose command
    # writes waits (is not read) until there is room. Nothing is dropped.
    write_queue: int = 4096
    # New and edited messages wait for the search index until this many wait; the writer then
    # indexes them all in one statement. A search reads the waiting ones one by one.
    search_batch: int = 256


@attrs.frozen(kw_only=True)
class CrackedSection:
    allow_registration: bool = True
    # A deleted account's name stays reserved, so nobody can take over its id and history.
    allow_name_reuse: bool = False
    # argon2id cost (RFC 9106 second recommendation by default: 64 MiB, 3 passes)
    argon2_memory_kib: int = 65536
    argon2_time_cost: int = 3


@attrs.frozen(kw_only=True)
class RoturSection:
    validate_url: str = "https://api.rotur.dev/validate"
    # the subscription lookup of attachments' permanent tiers (`?include_posts=0&name=<username>`)
    profile_url: str = "https://api.rotur.dev/profile"
    timeout_seconds: float = 5.0


#: The largest `limits.message_bytes`: a `messages_around` page (200 + 1 + 200 messages) of
#: messages this size stays well under the 16 MiB a socket may have queued (server/ws_send.py
#: MAX_OUTBOX_BYTES; tests/test_stored_content.py checks the arithmetic).
MESSAGE_BYTES_MAX = 32 * 1024
#: The most a whole `channels_get` or `roles_list` may take: `max_channels` (`max_roles`) records
#: of `record_bytes` each must fit (half the 16 MiB outgoing cap).
LIST_BYTES_MAX = 8 * 1024 * 1024
#: The most messages one reply lists without paging (`messages_pinned`, `messages_search`): like a
#: `messages_around` page, this many messages of `MESSAGE_BYTES_MAX` fit the outgoing cap.
LISTED_MESSAGES_MAX = 400
#: The most `auth.hash_inline_max_cost` may be: an argon2 hash of 1 MiB x 1 pass takes ~1 ms here,
#: during which the event loop serves nobody.
INLINE_HASH_COST_MAX = 1024
#: What `channels_get` adds to each stored channel object (last_message, last_message_id, ...).
CHANNEL_LISTING_EXTRA = 256
#: The largest `limits.thread_list_bytes`: with the channels' own LIST_BYTES_MAX, a whole
#: `channels_get` stays under the 16 MiB a socket may have queued.
THREAD_LIST_BYTES_MAX = 7 * 1024 * 1024


@attrs.frozen(kw_only=True)
class AuthSection(AuthSettings):
    """Limits of the auth path (docs/security.md "Authentication"). A count of 0 turns that limit off.
    The per-address and per-account limits the core applies are inherited from core/settings.py
    `AuthSettings` (their one home); the shell's own are here."""

    # password hashing (argon2id, for login, register, password_change)
    hash_threads: int = 2  # hashes computed at once
    hash_queue: int = 32  # hashes waiting, all addresses together; beyond: refused at once
    hash_per_ip: int = 4  # hashes waiting or running per address
    # a check or hash costing at most this (argon2 memory KiB x passes) runs on the event loop,
    # skipping the queue and the thread hand-offs; 0: every one goes to the worker threads
    hash_inline_max_cost: int = 128
    # Rotur `auth`
    rotur_concurrency: int = 32  # validations in flight, all addresses together
    rotur_per_ip: int = 4  # validations in flight per address
    rotur_cache_seconds: float = 30.0  # reuse an answer for the same key and validator this long
    rotur_cache_entries: int = 10000


@attrs.frozen(kw_only=True)
class LimitsSection(ContentLimits):
    """`[limits]`: the bounds on stored content are inherited from core/settings.py `ContentLimits`
    (their one home, with their defaults); the wire and input limits are here."""

    post_content: int = 2000
    search_results: int = 30
    max_frame_size: int = 4 * 1024 * 1024  # bytes of one incoming WebSocket message; larger: close 1009
    # the same before the socket is logged in (a login needs a few hundred bytes); larger: close 1009
    max_frame_size_before_login: int = 16 * 1024
    # a socket not logged in this long after it opened is closed (1008 "login timeout")
    login_timeout_seconds: float = 30
    # bytes of unfinished incoming messages held across all connections; a socket whose next fragment
    # would go past it is closed (1013 "server busy"): the "refuse the newcomer" policy
    max_buffered_input: int = 128 * 1024 * 1024
    # error answers (`command_rejected`) one socket may cause per minute; more: close 1008
    max_rejected_per_minute: int = 100


@attrs.frozen(kw_only=True)
class NetworkSection:
    """Admission of TCP connections, per client address (IPv6: per /64 network)."""

    max_connections_per_ip: int = 64  # open at once; 0: no limit
    new_connections_per_second: float = 10.0  # sustained rate of new connections per address...
    new_connections_burst: int = 40  # ...with this many at once; 0 per second: no limit
    # addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed
    trusted_proxies: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class HttpSection:
    """Plain HTTP on the WebSocket port (uploads, downloads; docs/security.md, "HTTP transport")."""

    # seconds a request body may stall (no byte in) or an answer may (no byte taken) before the
    # connection is dropped; renewed while bytes flow, so a large upload is not cut for its size
    idle_timeout_seconds: float = 30.0
    # bytes of an upload's JSON besides the file itself (name, channel, ..., keys included)
    upload_fields_bytes: int = 64 * 1024


@attrs.frozen(kw_only=True)
class RateLimitingSection:
    enabled: bool = True
    messages_per_minute: int = 60
    burst_limit: int = 10
    cooldown_seconds: float = 30
    # status_set, nickname_update/remove, pfp_set, message_react_add/remove, and the thread commands
    # that change a thread (each reaches many sockets): a bucket of their own, same algorithm
    broadcasts_per_minute: int = 30
    broadcast_burst_limit: int = 10
    broadcast_cooldown_seconds: float = 30


@attrs.frozen(kw_only=True)
class HeartbeatSection:
    interval_seconds: float = 30


@attrs.frozen(kw_only=True)
class LogSection:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"
    # client-supplied text in a log line (a command name, a reason quoting one) is cut to this length
    max_field_chars: int = 128
    # `command_rejected` lines per client address per minute; the rest are counted in one summary line
    rejections_per_minute: int = 10


#: The one home of the audit-log retention defaults (days); the core gets the merged table.
RETENTION_DAYS = {"default": 90, "user_moderation": 365, "role_management": 365, "channel_management": 180,
                  "message_moderation": 90, "server_management": 180}


@attrs.frozen(kw_only=True)
class ModlogSection:
    # days to keep audit entries, per category ("default" for the rest); a file that names only
    # some categories keeps these for the others (parse_config)
    retention: dict[str, int] = attrs.Factory(lambda: dict(RETENTION_DAYS))


#: `[polls]` and `[welcome]` are the core's own settings (core/settings.py), loaded as they are.
PollsSection = PollLimits
WelcomeSection = WelcomeSettings
SlashSection = SlashSettings
#: `[attachments]` too (the upload body's bound, `max_size`, is applied by the shell as well).
AttachmentsSection = AttachmentSettings
EmojisSection = EmojiSettings
AssetsSection = AssetSettings
WebhooksSection = WebhookSettings


@attrs.frozen(kw_only=True)
class PluginsSection:
    """`[plugins]`: Python modules in `<data_dir>/plugins/` (docs/plugins.md); the shell runs them."""

    enabled: bool = True
    # the account whose name plugins act under (their messages, deletions, timeouts go through the
    # same permission checks, rate limits and audit log as that member's); "": plugins cannot act
    account: str = ""
    # seconds one plugin callback (or a module's import) may take; after that it is abandoned
    deadline_seconds: float = 5.0
    # events waiting per plugin; when full, new events for that plugin are dropped (and logged)
    queue_size: int = 100
    # callbacks run when the server is idle (after the broadcasts); one waits this long at most
    max_lag_seconds: float = 0.5


@attrs.frozen(kw_only=True)
class MediaSection:
    """`[media]`: decoding limits for every image the server re-encodes (attachments, emoji, the
    server icon and banner); the shell applies them (originchats/media)."""

    # pixels of one image (width x height), checked from its header before decoding: a small file
    # claiming huge dimensions (a decompression bomb) is refused; Pillow's own guard uses it too
    max_pixels: int = 40_000_000
    # pixels of all the frames of an animated image together
    max_animation_pixels: int = 100_000_000
    # images decoded at once (worker threads)
    threads: int = 2


@attrs.frozen(kw_only=True)
class PushSection(PushSettings):
    """`[push]` (extended/push.md): the core's part (PushSettings) and the sender's (server/push.py)."""

    # the VAPID `sub` claim: how a push service can reach the operator ("mailto:you@example.org")
    claims_email: str = "mailto:admin@localhost"
    # one push's whole time (resolve, connect, send, answer); then it is given up
    send_timeout_seconds: float = 10.0
    # pushes in flight at once
    concurrency: int = 8
    # pushes waiting to be sent; beyond, new ones are dropped
    queue: int = 1000
    # how long a push service keeps an undelivered push (seconds)
    ttl_seconds: int = 86400
    # pushes are sent when the server is idle (after the broadcasts); one waits this long at most
    max_lag_seconds: float = 5.0


VoiceSection = VoiceSettings


# -- [metrics] and [compression] (issue 11, parts 3 and 5) ------------------------------------
@attrs.frozen(kw_only=True)
class MetricsSection:
    """`[metrics]`: `GET /metrics` in Prometheus' text format (server/metrics.py). Off by default;
    when on, it is served either only on a separate local address (`bind`) or on the chat port to
    scrapers that send the bearer `token` (or both), never to the public."""

    enabled: bool = False
    # "HOST:PORT" ("127.0.0.1:9613", "[::1]:9613"): serve /metrics only there, a listener of its own,
    # and not on the chat port; a non-loopback HOST needs `token` too. "": on the chat port, with `token`
    bind: str = ""
    # the bearer token a scraper sends (`Authorization: Bearer <token>`), at least 16 characters;
    # compared in constant time. "": none (only allowed with a loopback `bind`)
    token: str = ""


@attrs.frozen(kw_only=True)
class ClusterSection:
    """`[cluster]` (issue 12): run as one process (`all`), or as the core or a gateway of a cluster
    that talks through Redis (originchats/cluster/, docs/deploy.md "Scale-out")."""

    # "all": the whole server in this process (no Redis); "core": the only process that holds the
    # data and runs the commands; "gateway": holds client connections and passes them to the core
    role: str = "all"
    redis: str = ""  # redis://HOST:PORT[/DB]; needed by "core" and "gateway"
    prefix: str = "originchats:"  # of every Redis key this cluster uses (several clusters may share one Redis)
    # a gateway's name, unique in the cluster; "": the host name and listen port
    name: str = ""
    # core: the HOST:PORT of this process's listener that gateways send HTTP requests to;
    # "": 127.0.0.1 and listen.port (a core and gateways on one machine)
    advertise: str = ""
    beat_seconds: float = 1.0  # how often the core and each gateway tell the other they are alive
    # a gateway (or the core) not heard of for this long is taken for dead; at most heartbeat.interval_seconds
    dead_after_seconds: float = 5.0
    window: int = 32  # commands of one connection at the core at once; the next frame waits


@attrs.frozen(kw_only=True)
class CompressionSection:
    """`[compression]`: WebSocket permessage-deflate (RFC 7692), negotiated with clients that offer
    it (browsers do), without context takeover either way: every frame is compressed on its own,
    so a broadcast is compressed once and the same bytes go to every receiver (server/deflate.py)."""

    enabled: bool = True
    # frames of at least this many bytes (UTF-8, before compression) are compressed; smaller ones
    # (most chat frames) go out as they are, costing nothing
    threshold_bytes: int = 1024
    # zlib level 1 (fastest) to 9 (smallest); on a 35 KB messages_get page, 1 takes ~0.1 ms for 28%
    # of the size, 6 ~0.5 ms for 24% (docs/performance.md, "Compression")
    level: int = 1


@attrs.frozen(kw_only=True)
class TlsSection:
    """`[tls]` (issue 11, edge): built-in TLS on the listening port (server/tls.py). Both paths, or neither."""

    cert: str = ""  # PEM certificate chain (the server's certificate first)
    key: str = ""   # PEM private key of that certificate


@attrs.frozen(kw_only=True)
class BackupSection:
    # scheduled backups by the running server (originchats/server/backup_schedule.py)
    enabled: bool = False
    dir: str = ""  # "" = <data dir>/backups
    at: str = "03:30"  # HH:MM UTC, daily
    interval_hours: float = 0  # above 0: every this many hours instead of daily at `at`
    keep: int = 7  # scheduled backups kept; the oldest beyond are deleted
    step_pages: int = 1024  # database pages copied per step (also `originchats backup`)


@attrs.frozen(kw_only=True)
class Config:
    auth_mode: Literal["rotur", "cracked", "cracked-only"] = "cracked"
    server: ServerSection = attrs.Factory(ServerSection)
    listen: ListenSection = attrs.Factory(ListenSection)
    storage: StorageSection = attrs.Factory(StorageSection)
    cracked: CrackedSection = attrs.Factory(CrackedSection)
    rotur: RoturSection = attrs.Factory(RoturSection)
    auth: AuthSection = attrs.Factory(AuthSection)
    limits: LimitsSection = attrs.Factory(LimitsSection)
    network: NetworkSection = attrs.Factory(NetworkSection)
    http: HttpSection = attrs.Factory(HttpSection)
    rate_limiting: RateLimitingSection = attrs.Factory(RateLimitingSection)
    heartbeat: HeartbeatSection = attrs.Factory(HeartbeatSection)
    log: LogSection = attrs.Factory(LogSection)
    modlog: ModlogSection = attrs.Factory(ModlogSection)
    polls: PollsSection = attrs.Factory(PollsSection)
    welcome: WelcomeSection = attrs.Factory(WelcomeSection)
    slash: SlashSection = attrs.Factory(SlashSection)
    attachments: AttachmentsSection = attrs.Factory(AttachmentsSection)
    emojis: EmojisSection = attrs.Factory(EmojisSection)
    assets: AssetsSection = attrs.Factory(AssetsSection)
    media: MediaSection = attrs.Factory(MediaSection)
    push: PushSection = attrs.Factory(PushSection)
    voice: VoiceSection = attrs.Factory(VoiceSection)
    plugins: PluginsSection = attrs.Factory(PluginsSection)
    webhooks: WebhooksSection = attrs.Factory(WebhooksSection)
    tls: TlsSection = attrs.Factory(TlsSection)
    metrics: MetricsSection = attrs.Factory(MetricsSection)
    compression: CompressionSection = attrs.Factory(CompressionSection)
    cluster: ClusterSection = attrs.Factory(ClusterSection)
    backup: BackupSection = attrs.Factory(BackupSection)
