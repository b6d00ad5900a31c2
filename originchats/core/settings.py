"""The parts of the configuration the core needs, as plain frozen values (built by the shell)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class RateLimitSettings:
    enabled: bool = True
    messages_per_minute: int = 60
    burst_limit: int = 10
    cooldown_seconds: float = 30


@attrs.frozen(kw_only=True)
class ContentLimits:
    """Bounds on what clients store (docs/security.md, "Stored content" and "Broadcasts and
    administration"): the one home of these `[limits]` keys and their defaults (config's
    `LimitsSection` extends this class with the shell's own limits)."""

    message_bytes: int = 32 * 1024  # one message as read back (content, embeds, reactions), user names at NAME_BYTES
    url_length: int = 2048  # characters of each URL stored in an embed
    reactions_per_message: int = 20  # distinct emoji on one message
    emoji_length: int = 32  # characters of one reaction emoji
    # administration (docs/security.md "Broadcasts and administration")
    max_channels: int = 500
    max_roles: int = 250
    record_bytes: int = 8192  # one channel or role as stored
    json_depth: int = 8  # nesting of JSON stored as sent (channel keys, role permission objects)
    # threads (docs/security.md "Threads")
    thread_name_length: int = 100  # characters of a thread's name
    thread_participants: int = 100  # participants of one thread
    thread_list_bytes: int = 6 * 1024 * 1024  # what the threads of all forums may add to a channels_get
    # pins and search (docs/security.md "Pins, replies and search")
    pins_per_channel: int = 100  # pinned messages in one channel or thread (messages_pinned lists them all)
    search_scan: int = 5000  # messages (or index candidates) one messages_search may look at


@attrs.frozen(kw_only=True)
class AuthSettings:
    """The per-address and per-account limits of the auth path (`[auth]`, core/authguard.py): their
    one home (config's `AuthSection` extends this class). A count of 0 turns that limit off."""

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
class PollLimits:
    """Bounds on what `poll_create` stores (`[polls]` in config.toml, docs/security.md "Polls")."""

    question_length: int = 300  # characters of the question (the poll embed schema's limit)
    option_length: int = 100  # characters of each option's text
    option_id_length: int = 50  # characters of each option's id


@attrs.frozen(kw_only=True)
class SlashSettings:
    """Bounds on bots' slash commands (`[slash]` in config.toml, docs/security.md "Slash commands
    and bots"; core/slash.py)."""

    commands_per_connection: int = 50  # definitions one connection may register
    options_per_command: int = 25  # options of one command
    choices_per_option: int = 25  # choices of one option
    name_length: int = 32  # characters of a command's or an option's name
    text_length: int = 200  # characters of a description, a role name or a choice
    roles_per_list: int = 25  # entries of whitelistRoles / blacklistRoles
    response_seconds: float = 300.0  # a call can be answered with slash_response for this long
    pending_per_command: int = 100  # unanswered calls of one registered command at once


@attrs.frozen(kw_only=True)
class WelcomeSettings:
    """The message posted as `originChats` when an account is created (`[welcome]` in config.toml,
    core/welcome.py)."""

    enabled: bool = True
    channel: str = "general"
    text: str = "Welcome {username}! Thanks for joining the server."


@attrs.frozen(kw_only=True)
class CompressionSettings:
    """How images are re-encoded on upload (`[attachments.compression]`; originchats/media)."""

    enabled: bool = True
    max_width: int = 1920
    max_height: int = 1920
    jpeg_quality: int = 85
    webp_quality: int = 85
    png_compression: int = 6


@attrs.frozen(kw_only=True)
class AttachmentSettings:
    """`[attachments]` in config.toml (extended/attachments.md §1, §3; docs/security.md
    "Attachments"): the core applies all but the upload body's own bounds, which the shell applies
    while it streams in (`max_size`)."""

    enabled: bool = True
    max_size: int = 104857600  # bytes of one decoded file (the body may be 4/3 of it, as base64)
    allowed_types: list[str] = attrs.Factory(lambda: ["image/*", "video/*", "audio/*", "application/pdf"])
    max_attachments_per_user: int = -1  # live uploads per user; -1 no limit, 0 no uploads; beyond: oldest goes
    permanent_tiers: list[str] = attrs.Factory(lambda: ["pro", "max"])  # Rotur subscriptions, lower-case
    permanent_expiration_days: float = 365
    free_tier_max_expiration_days: float = 7
    subscription_cache_ttl: float = 300  # seconds a Rotur subscription answer is reused
    uploads_per_minute: int = 10  # per user, over a sliding minute; 0: no limit
    max_per_message: int = 10  # attachments one message may reference
    # upload bodies being read at once (each may put ~4/3 max_size on disk before it is
    # authenticated), in all and per client address; beyond: 503 at once, before the body is read
    uploads_in_progress: int = 16
    uploads_in_progress_per_ip: int = 2
    compression: CompressionSettings = attrs.Factory(CompressionSettings)


def attachments_handshake(a: AttachmentSettings) -> dict[str, Any]:
    """The handshake's `attachments` object (extended/attachments.md §1)."""
    return {"enabled": a.enabled, "max_size": a.max_size, "allowed_types": list(a.allowed_types),
            "max_attachments_per_user": a.max_attachments_per_user, "permanent_tiers": list(a.permanent_tiers)}


@attrs.frozen(kw_only=True)
class EmojiSettings:
    """Custom emoji (`[emojis]` in config.toml, extended/emojis.md; docs/security.md "Emoji and
    server assets"). The image is decoded and re-encoded by the shell (originchats/media)."""

    # detected formats an emoji may have (png, jpeg/jpg, gif, webp), like the original's
    # `uploads.emoji_allowed_file_types`; an empty list means the default
    allowed_types: tuple[str, ...] = attrs.field(default=("gif", "jpg", "jpeg", "png"), converter=tuple)
    max_bytes: int = 512 * 1024  # decoded bytes of the image a client sends
    max_side: int = 256  # pixels: larger images are shrunk to fit max_side x max_side


@attrs.frozen(kw_only=True)
class AssetSettings:
    """Server icon and banner sent as images to `server_update` (`[assets]` in config.toml)."""

    max_bytes: int = 2 * 1024 * 1024  # decoded bytes of the image a client sends
    max_side: int = 1920  # pixels: larger images are shrunk to fit max_side x max_side


@attrs.frozen(kw_only=True)
class WebhookSettings:
    """Webhooks (`[webhooks]` in config.toml, extended/webhooks.md; docs/security.md "Webhooks")."""

    enabled: bool = True  # false: `POST /webhooks` answers 503 (the commands still manage records)
    max_webhooks: int = 100  # webhooks on the server, all channels together
    body_bytes: int = 256 * 1024  # bytes of one POST body; more: 413 before the rest is read
    # each webhook's own token bucket: `burst` posts at once, refilled at `posts_per_minute`;
    # beyond: 429 with Retry-After (0 posts_per_minute: no limit)
    posts_per_minute: int = 30
    burst: int = 10
    name_length: int = 80  # characters of a webhook's name and of a post's `username`
    secret_length: int = 256  # characters of a GitHub secret


@attrs.frozen(kw_only=True)
class PushSettings:
    """`[push]` (extended/push.md), the part the core applies; the shell's part is in
    config/sections.py `PushSection`."""

    enabled: bool = True
    # subscriptions one account may hold (one per browser); a new one beyond replaces the oldest
    subscriptions_per_user: int = 10
    # an endpoint URL's length
    endpoint_max_length: int = 1024
    # accounts one message may push to (mentions, replies, role members); the rest get none
    recipients_per_message: int = 100
    # test set-ups only: `http://` endpoints, and private/loopback/link-local addresses
    allow_http: bool = False
    allow_private: bool = False


@attrs.frozen(kw_only=True)
class VoiceSettings:
    """`[voice]` (extended/voice.md): the ICE servers handed to clients, and the core's limits."""

    # ICE servers for WebRTC, sent in `voice_join`'s reply: `{"urls": ..., "username"?, "credential"?}`
    ice_servers: tuple[dict[str, Any], ...] = ({"urls": "stun:stun.l.google.com:19302"},)
    # a peer id's length (PeerJS ids are 36 characters)
    peer_id_max_length: int = 128
    # participants of one voice channel
    max_participants: int = 50


@attrs.frozen(kw_only=True)
class Settings:
    server: dict[str, Any] = attrs.Factory(lambda: {"name": "OriginChats", "owner": {"name": "Admin"}})
    limits: dict[str, Any] = attrs.Factory(lambda: {"post_content": 2000, "search_results": 30})
    files: AttachmentSettings = attrs.Factory(AttachmentSettings)
    auth_mode: str = "cracked"
    allow_registration: bool = True
    allow_name_reuse: bool = False
    rate_limit: RateLimitSettings = attrs.Factory(RateLimitSettings)
    # status_set, nickname_update/remove, pfp_set, reactions: their own bucket (core/ratelimit.py)
    broadcast_limit: RateLimitSettings = attrs.Factory(lambda: RateLimitSettings(
        messages_per_minute=30, burst_limit=10, cooldown_seconds=30))
    content: ContentLimits = attrs.Factory(ContentLimits)
    auth: AuthSettings = attrs.Factory(AuthSettings)
    modlog_retention_days: dict[str, int] = attrs.Factory(dict)
    polls: PollLimits = attrs.Factory(PollLimits)
    welcome: WelcomeSettings = attrs.Factory(WelcomeSettings)
    slash: SlashSettings = attrs.Factory(SlashSettings)
    emojis: EmojiSettings = attrs.Factory(EmojiSettings)
    assets: AssetSettings = attrs.Factory(AssetSettings)
    webhooks: WebhookSettings = attrs.Factory(WebhookSettings)
    # the server's public HTTP base, for the URLs it makes itself (`/server-assets/icon`): from
    # `server.url` (ws -> http, wss -> https), else the listening address (server/app.py)
    public_base: str = ""
    push: PushSettings = attrs.Factory(PushSettings)
    # the VAPID public key (base64url, no padding), made or loaded at start by server/push.py
    vapid_public_key: str = ""
    voice: VoiceSettings = attrs.Factory(VoiceSettings)

    @property
    def attachments(self) -> dict[str, Any]:
        """The handshake's `attachments` object."""
        return attachments_handshake(self.files)

    @property
    def post_content(self) -> int:
        return int(self.limits.get("post_content", 2000))

