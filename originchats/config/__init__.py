"""The TOML configuration: a frozen tree with defaults (config/sections.py), loaded strictly
(config/loading.py).

`load_config(path)` rejects a missing file, unknown keys and wrong types with a `ConfigError`
whose message names the file, the key and the problem (the CLI prints it and exits with 2).
"""

from .loading import load_config, parse_config
from .sections import (CHANNEL_LISTING_EXTRA, LIST_BYTES_MAX, MESSAGE_BYTES_MAX, RETENTION_DAYS, AuthSection,
                       Config, ConfigError, CrackedSection, HeartbeatSection, HttpSection, LimitsSection, ListenSection,
                       LogSection, ModlogSection, NetworkSection, RateLimitingSection, RoturSection,
                       ServerSection, StorageSection)
from .sections import (AssetsSection, AttachmentsSection, EmojisSection, MediaSection, PluginsSection, PollsSection,
                       PushSection, VoiceSection, WebhooksSection, WelcomeSection)
from .sections import TlsSection
from .sections import ClusterSection, CompressionSection, MetricsSection
from .sections import BackupSection

__all__ = [
    "load_config", "parse_config", "CHANNEL_LISTING_EXTRA", "LIST_BYTES_MAX", "MESSAGE_BYTES_MAX", "RETENTION_DAYS",
    "AuthSection", "Config", "ConfigError", "CrackedSection", "HeartbeatSection", "HttpSection", "LimitsSection", "ListenSection",
    "LogSection", "ModlogSection", "NetworkSection", "RateLimitingSection", "RoturSection", "ServerSection",
    "StorageSection", "PollsSection", "WelcomeSection", "AttachmentsSection", "EmojisSection", "AssetsSection", "WebhooksSection",
    "MediaSection", "PushSection", "VoiceSection",
    "PluginsSection",
    "TlsSection",
    "MetricsSection", "CompressionSection", "ClusterSection",
    "BackupSection",
]
