"""Loading `config.toml` strictly: unknown keys and wrong types are refused, then the values are
checked against each other; every problem is one `key.path: problem` line of the `ConfigError`."""

from __future__ import annotations

import ipaddress
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs

from .sections import (CHANNEL_LISTING_EXTRA, INLINE_HASH_COST_MAX, Config, ConfigError, LIST_BYTES_MAX, LISTED_MESSAGES_MAX,
                       LimitsSection, MESSAGE_BYTES_MAX, ModlogSection, RETENTION_DAYS)
from .sections import SEARCH_BATCH_MAX, THREAD_LIST_BYTES_MAX


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
    if config.http.idle_timeout_seconds <= 0 or config.http.upload_fields_bytes < 1024:
        problems.append("http: idle_timeout_seconds must be positive and upload_fields_bytes at least 1024")
    if config.log.max_field_chars < 16 or config.log.rejections_per_minute < 0:
        problems.append("log: max_field_chars must be at least 16 and rejections_per_minute at least 0")
    problems += _content_problems(config.limits)
    problems += _thread_problems(config.limits)
    if config.storage.write_queue < 1:
        problems.append(f"storage.write_queue: must be at least 1, got {config.storage.write_queue}")
    if not 1 <= config.storage.search_batch <= SEARCH_BATCH_MAX:
        problems.append(f"storage.search_batch: must be 1-{SEARCH_BATCH_MAX}, got {config.storage.search_batch}")
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
    if not 0 <= a.hash_inline_max_cost <= INLINE_HASH_COST_MAX:
        problems.append(f"auth.hash_inline_max_cost: must be from 0 to {INLINE_HASH_COST_MAX} (a hash on the event "
                        f"loop stalls every connection), got {a.hash_inline_max_cost}")
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
    problems += _poll_and_welcome_problems(config)
    problems += _slash_problems(config)
    pl = config.plugins
    if pl.deadline_seconds <= 0 or pl.queue_size < 1:
        problems.append("plugins: deadline_seconds must be positive and queue_size at least 1")
    problems += _wire_problems(config)
    problems += _backup_problems(config)
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
    for key, low, high in (("search_results", 1, LISTED_MESSAGES_MAX), ("pins_per_channel", 1, LISTED_MESSAGES_MAX),
                           ("search_scan", 100, 100000)):
        value = getattr(limits, key)
        if not low <= value <= high:
            problems.append(f"limits.{key}: must be {low}-{high}, got {value}")
    if limits.max_channels * (limits.record_bytes + CHANNEL_LISTING_EXTRA) > LIST_BYTES_MAX:
        problems.append(f"limits: max_channels x (record_bytes + {CHANNEL_LISTING_EXTRA}) must be at most "
                        f"{LIST_BYTES_MAX} bytes (one channels_get)")
    if limits.max_roles * limits.record_bytes > LIST_BYTES_MAX:
        problems.append(f"limits: max_roles x record_bytes must be at most {LIST_BYTES_MAX} bytes (one roles_list)")
    return problems


def _thread_problems(limits: LimitsSection) -> list[str]:
    problems = []
    for key, low, high in (("thread_name_length", 1, 1000), ("thread_participants", 1, 10000),
                           ("thread_list_bytes", 64 * 1024, THREAD_LIST_BYTES_MAX)):
        value = getattr(limits, key)
        if not low <= value <= high:
            problems.append(f"limits.{key}: must be {low}-{high}, got {value}")
    return problems


#: The longest welcome text (before `{username}` is filled in): well within any message budget.
WELCOME_TEXT_MAX = 2000


def _slash_problems(config: Config) -> list[str]:
    s = config.slash
    problems = [f"slash.{key}: must be 1-{high}, got {getattr(s, key)}"
                for key, high in (("commands_per_connection", 1000), ("options_per_command", 100),
                                  ("choices_per_option", 100), ("name_length", 100), ("text_length", 2000),
                                  ("roles_per_list", 100), ("pending_per_command", 100_000))
                if not 1 <= getattr(s, key) <= high]
    if not 1 <= s.response_seconds <= 86400:
        problems.append(f"slash.response_seconds: must be 1-86400, got {s.response_seconds}")
    return problems


def _poll_and_welcome_problems(config: Config) -> list[str]:
    problems = []
    for key, high in (("question_length", 4000), ("option_length", 1000), ("option_id_length", 200)):
        value = getattr(config.polls, key)
        if not 1 <= value <= high:
            problems.append(f"polls.{key}: must be 1-{high}, got {value}")
    a = config.attachments
    if a.max_size < 1:
        problems.append(f"attachments.max_size: must be at least 1, got {a.max_size}")
    if a.max_attachments_per_user < -1:
        problems.append(f"attachments.max_attachments_per_user: must be -1 or more, got {a.max_attachments_per_user}")
    for key in ("uploads_in_progress", "uploads_in_progress_per_ip"):
        if getattr(a, key) < 1:
            problems.append(f"attachments.{key}: must be at least 1, got {getattr(a, key)}")
    for key in ("uploads_per_minute", "max_per_message"):
        if getattr(a, key) < 0:
            problems.append(f"attachments.{key}: must be 0 or more, got {getattr(a, key)}")
    for key in ("permanent_expiration_days", "free_tier_max_expiration_days", "subscription_cache_ttl"):
        if not getattr(a, key) >= 0:
            problems.append(f"attachments.{key}: must be 0 or more, got {getattr(a, key)}")
    if not config.welcome.channel.strip():
        problems.append("welcome.channel: must name a channel")
    if not 1 <= len(config.welcome.text) <= WELCOME_TEXT_MAX or not config.welcome.text.strip():
        problems.append(f"welcome.text: must be 1-{WELCOME_TEXT_MAX} characters, not blank")
    return problems


# -- [metrics] and [compression] (issue 11, parts 3 and 5) ------------------------------------
METRICS_TOKEN_MIN = 16


def split_bind(bind: str) -> tuple[str, int] | None:
    """(host, port) of a `metrics.bind` "HOST:PORT" ("[::1]:9613" for IPv6), or None when malformed."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            return None
    return host, int(port)


def _wire_problems(config: Config) -> list[str]:
    problems = []
    m = config.metrics
    if m.token and len(m.token) < METRICS_TOKEN_MIN:
        problems.append(f"metrics.token: must be at least {METRICS_TOKEN_MIN} characters")
    if m.bind:
        where = split_bind(m.bind)
        if where is None:
            problems.append(f"metrics.bind: expected HOST:PORT with an IP address (or localhost), got {m.bind!r}")
        elif m.enabled and not m.token and where[0] != "localhost" and not ipaddress.ip_address(where[0]).is_loopback:
            problems.append("metrics.bind: a non-loopback address needs metrics.token too (metrics must not be public)")
    elif m.enabled and not m.token:
        problems.append("metrics.enabled: needs metrics.token, or metrics.bind on a loopback address "
                        "(metrics must not be public)")
    c = config.compression
    if not 1 <= c.level <= 9:
        problems.append(f"compression.level: must be 1-9, got {c.level}")
    if c.threshold_bytes < 0:
        problems.append(f"compression.threshold_bytes: must be at least 0, got {c.threshold_bytes}")
    return problems + _cluster_problems(config)


def _cluster_problems(config: Config) -> list[str]:
    from ..cluster.redis_link import parse_url

    c, problems = config.cluster, []
    if c.role not in ("all", "core", "gateway"):
        problems.append(f"cluster.role: must be all, core or gateway, got {c.role!r}")
    elif c.role != "all":
        try:
            parse_url(c.redis)
        except ValueError as exc:
            problems.append(f"cluster.redis: {exc} (needed by role {c.role})")
    if c.beat_seconds <= 0 or c.dead_after_seconds < 2 * c.beat_seconds:
        problems.append("cluster: beat_seconds must be positive and dead_after_seconds at least twice it")
    if c.dead_after_seconds > config.heartbeat.interval_seconds:
        problems.append("cluster.dead_after_seconds: at most heartbeat.interval_seconds (a dead gateway's "
                        "connections go within one heartbeat)")
    if c.window < 1:
        problems.append(f"cluster.window: must be at least 1, got {c.window}")
    if c.advertise and split_bind(c.advertise) is None:
        problems.append(f"cluster.advertise: expected HOST:PORT, got {c.advertise!r}")
    return problems


def _backup_problems(config: Config) -> list[str]:
    from ..backup import parse_at

    b, problems = config.backup, []
    try:
        parse_at(b.at)
    except ValueError as exc:
        problems.append(f"backup.at: {exc} (24-hour HH:MM, UTC)")
    if b.interval_hours < 0:
        problems.append(f"backup.interval_hours: must be at least 0 (0: daily at backup.at), got {b.interval_hours}")
    if not 1 <= b.keep <= 1000:
        problems.append(f"backup.keep: must be 1-1000, got {b.keep}")
    if not 1 <= b.step_pages <= 1_000_000:
        problems.append(f"backup.step_pages: must be 1-1000000, got {b.step_pages}")
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
