"""The TOML configuration: a frozen tree with defaults, loaded strictly.

`load_config(path)` rejects a missing file, unknown keys and wrong types with a `ConfigError`
whose message names the file, the key and the problem (the CLI prints it and exits with 2).
"""

from __future__ import annotations

import ipaddress
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs


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


@attrs.frozen(kw_only=True)
class StorageSection:
    data_dir: str = "data"
    # FULL: every commit is fsynced (a group of messages shares one fsync). NORMAL survives a crash
    # of the process but may lose the last commits on power loss.
    synchronous: Literal["full", "normal"] = "full"
    # Commands' writes that may wait for the single writer; when full, the connection whose command
    # writes waits (is not read) until there is room. Nothing is dropped.
    write_queue: int = 4096


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
    timeout_seconds: float = 5.0


#: The largest `limits.message_bytes`: a `messages_around` page (200 + 1 + 200 messages) of
#: messages this size stays well under the 16 MiB a socket may have queued (server/ws_send.py
#: MAX_OUTBOX_BYTES; tests/test_stored_content.py checks the arithmetic).
MESSAGE_BYTES_MAX = 32 * 1024
#: The most a whole `channels_get` or `roles_list` may take: `max_channels` (`max_roles`) records
#: of `record_bytes` each must fit (half the 16 MiB outgoing cap).
LIST_BYTES_MAX = 8 * 1024 * 1024
#: What `channels_get` adds to each stored channel object (last_message, last_message_id, ...).
CHANNEL_LISTING_EXTRA = 256


@attrs.frozen(kw_only=True)
class AuthSection:
    """Limits of the auth path (docs/security.md "Authentication"). A count of 0 turns that limit off."""

    # password hashing (argon2id, for login, register, password_change)
    hash_threads: int = 2  # hashes computed at once
    hash_queue: int = 32  # hashes waiting, all addresses together; beyond: refused at once
    hash_per_ip: int = 4  # hashes waiting or running per address
    # Rotur `auth`
    rotur_concurrency: int = 32  # validations in flight, all addresses together
    rotur_per_ip: int = 4  # validations in flight per address
    rotur_cache_seconds: float = 30.0  # reuse an answer for the same key and validator this long
    rotur_cache_entries: int = 10000
    # per address
    registrations_per_ip_per_hour: int = 10
    ip_failures: int = 50
    ip_failure_window_seconds: float = 900.0
    # per account
    lockout_failures: int = 10
    lockout_window_seconds: float = 900.0
    backoff_after: int = 10
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0


@attrs.frozen(kw_only=True)
class LimitsSection:
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
    # stored content (docs/security.md "Stored content")
    message_bytes: int = 32 * 1024  # one message as read back: content, embeds, reactions
    url_length: int = 2048  # characters of each URL in an embed
    json_depth: int = 8  # nesting of JSON stored as sent (channel keys, role permission objects)
    record_bytes: int = 8192  # one channel or role as stored
    reactions_per_message: int = 20  # distinct emoji on one message
    emoji_length: int = 32  # characters of one reaction emoji
    # administration (docs/security.md "Broadcasts and administration")
    max_channels: int = 500
    max_roles: int = 250


@attrs.frozen(kw_only=True)
class NetworkSection:
    """Admission of TCP connections, per client address (IPv6: per /64 network)."""

    max_connections_per_ip: int = 64  # open at once; 0: no limit
    new_connections_per_second: float = 10.0  # sustained rate of new connections per address...
    new_connections_burst: int = 40  # ...with this many at once; 0 per second: no limit
    # addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed
    trusted_proxies: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class RateLimitingSection:
    enabled: bool = True
    messages_per_minute: int = 60
    burst_limit: int = 10
    cooldown_seconds: float = 30
    # status_set, nickname_update/remove, pfp_set, message_react_add/remove (each reaches every
    # socket): a bucket of their own, same algorithm
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
    rate_limiting: RateLimitingSection = attrs.Factory(RateLimitingSection)
    heartbeat: HeartbeatSection = attrs.Factory(HeartbeatSection)
    log: LogSection = attrs.Factory(LogSection)
    modlog: ModlogSection = attrs.Factory(ModlogSection)


def _strict(expected: type) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is not expected:
            raise TypeError(f"expected {expected.__name__}, got {type(value).__name__} {value!r}")
        return value

    return hook


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    for t in (str, int, float, bool):
        conv.register_structure_hook(t, _strict(t))
    return conv


_CONVERTER = _converter()


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _describe(exc: BaseException, typ: Any, value: Any) -> str:
    if isinstance(exc, TypeError) and str(exc).startswith("expected "):
        return str(exc)  # from the strict scalar hooks: "expected int, got str 'x'"
    if typing.get_origin(typ) is Literal:
        choices = ", ".join(repr(c) for c in typing.get_args(typ))
        return f"expected one of {choices}, got {value!r}"
    if attrs.has(typ) or typing.get_origin(typ) is dict:
        return f"expected a table, got {type(value).__name__} {value!r}"
    return str(exc)


def _problems(exc: BaseException, path: str, typ: Any, value: Any) -> list[str]:
    """One `key.path: problem` line per leaf of a cattrs validation error tree."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [f"{_join(path, key)}: unknown key" for key in sorted(exc.extra_fields)]
    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        lines: list[str] = []
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            # a field of a section (note.name) or an entry of a table/list (note.index)
            key = note.name if isinstance(exc, cattrs.ClassValidationError) else note.index
            sub = value.get(key) if isinstance(value, dict) else None
            lines += _problems(inner, _join(path, key), note.type, sub)
        for inner in without:
            lines += _problems(inner, path, typ, value)
        return lines
    return [f"{path or '(top level)'}: {_describe(exc, typ, value)}"]


def parse_config(data: dict[str, Any]) -> Config:
    """A `Config` from parsed TOML, or `ConfigError` with one `key.path: problem` line each."""
    try:
        config = _CONVERTER.structure(data, Config)
    except cattrs.BaseValidationError as exc:
        lines = _problems(exc, "", Config, data)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    problems = []
    if not 0 <= config.listen.port < 65536:
        problems.append(f"listen.port: {config.listen.port} is not a port (0-65535)")
    if config.limits.post_content < 1:
        problems.append(f"limits.post_content: must be at least 1, got {config.limits.post_content}")
    if config.limits.search_results < 1:
        problems.append(f"limits.search_results: must be at least 1, got {config.limits.search_results}")
    if config.limits.max_frame_size < 1024:
        problems.append(f"limits.max_frame_size: must be at least 1024, got {config.limits.max_frame_size}")
    lim = config.limits
    if not 1024 <= lim.max_frame_size_before_login <= lim.max_frame_size:
        problems.append("limits.max_frame_size_before_login: must be at least 1024 and at most "
                        f"limits.max_frame_size, got {lim.max_frame_size_before_login}")
    if lim.login_timeout_seconds <= 0:
        problems.append(f"limits.login_timeout_seconds: must be positive, got {lim.login_timeout_seconds}")
    if lim.max_buffered_input < lim.max_frame_size:
        problems.append("limits.max_buffered_input: must be at least limits.max_frame_size, "
                        f"got {lim.max_buffered_input}")
    if lim.max_rejected_per_minute < 1:
        problems.append(f"limits.max_rejected_per_minute: must be at least 1, got {lim.max_rejected_per_minute}")
    net = config.network
    if net.max_connections_per_ip < 0 or net.new_connections_per_second < 0 or net.new_connections_burst < 0:
        problems.append("network: max_connections_per_ip, new_connections_per_second and "
                        "new_connections_burst must not be negative")
    elif net.new_connections_per_second > 0 and net.new_connections_burst < 1:
        problems.append("network.new_connections_burst: must be at least 1 when new_connections_per_second is set")
    for i, entry in enumerate(net.trusted_proxies):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(f"network.trusted_proxies.{i}: not an address or network, got {entry!r}")
    if config.log.max_field_chars < 16 or config.log.rejections_per_minute < 0:
        problems.append("log: max_field_chars must be at least 16 and rejections_per_minute at least 0")
    problems += _content_problems(config.limits)
    if config.storage.write_queue < 1:
        problems.append(f"storage.write_queue: must be at least 1, got {config.storage.write_queue}")
    if config.heartbeat.interval_seconds <= 0:
        problems.append(f"heartbeat.interval_seconds: must be positive, got {config.heartbeat.interval_seconds}")
    if config.rotur.timeout_seconds <= 0:
        problems.append(f"rotur.timeout_seconds: must be positive, got {config.rotur.timeout_seconds}")
    if config.cracked.argon2_memory_kib < 8 or config.cracked.argon2_time_cost < 1:
        problems.append("cracked: argon2_memory_kib must be at least 8 and argon2_time_cost at least 1")
    a = config.auth
    for key in ("hash_threads", "hash_per_ip", "rotur_concurrency", "rotur_per_ip", "rotur_cache_entries"):
        if getattr(a, key) < 1:
            problems.append(f"auth.{key}: must be at least 1, got {getattr(a, key)}")
    for key in ("hash_queue", "registrations_per_ip_per_hour", "ip_failures", "lockout_failures", "backoff_after"):
        if getattr(a, key) < 0:
            problems.append(f"auth.{key}: must be at least 0 (0 turns it off), got {getattr(a, key)}")
    for key in ("rotur_cache_seconds", "backoff_base_seconds", "backoff_max_seconds"):
        if getattr(a, key) < 0:
            problems.append(f"auth.{key}: must be at least 0, got {getattr(a, key)}")
    for key in ("ip_failure_window_seconds", "lockout_window_seconds"):
        if getattr(a, key) <= 0:
            problems.append(f"auth.{key}: must be positive, got {getattr(a, key)}")
    rl = config.rate_limiting
    if rl.messages_per_minute < 1 or rl.burst_limit < 1 or rl.cooldown_seconds < 0:
        problems.append("rate_limiting: messages_per_minute and burst_limit must be at least 1, "
                        "cooldown_seconds at least 0")
    if rl.broadcasts_per_minute < 1 or rl.broadcast_burst_limit < 1 or rl.broadcast_cooldown_seconds < 0:
        problems.append("rate_limiting: broadcasts_per_minute and broadcast_burst_limit must be at least 1, "
                        "broadcast_cooldown_seconds at least 0")
    for category, days in config.modlog.retention.items():
        if days < 1:
            problems.append(f"modlog.retention.{category}: must be at least 1 day, got {days}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return attrs.evolve(config, modlog=ModlogSection(retention={**RETENTION_DAYS, **config.modlog.retention}))


def _content_problems(limits: LimitsSection) -> list[str]:
    problems = []
    if not 2048 <= limits.message_bytes <= MESSAGE_BYTES_MAX:
        problems.append(f"limits.message_bytes: must be 2048-{MESSAGE_BYTES_MAX}, got {limits.message_bytes}")
    for key, low, high in (("url_length", 16, 65536), ("json_depth", 1, 32), ("reactions_per_message", 1, 1000),
                           ("emoji_length", 1, 200), ("max_channels", 1, 100000), ("max_roles", 4, 100000),
                           ("record_bytes", 1024, 1024 * 1024)):
        value = getattr(limits, key)
        if not low <= value <= high:
            problems.append(f"limits.{key}: must be {low}-{high}, got {value}")
    if limits.max_channels * (limits.record_bytes + CHANNEL_LISTING_EXTRA) > LIST_BYTES_MAX:
        problems.append(f"limits: max_channels x (record_bytes + {CHANNEL_LISTING_EXTRA}) must be at most "
                        f"{LIST_BYTES_MAX} bytes (one channels_get)")
    if limits.max_roles * limits.record_bytes > LIST_BYTES_MAX:
        problems.append(f"limits: max_roles x record_bytes must be at most {LIST_BYTES_MAX} bytes (one roles_list)")
    return problems


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
