"""Records of web push (extended/push.md) and voice signalling (extended/voice.md) kept in the state."""

from __future__ import annotations

import attrs


@attrs.frozen
class PushSub:
    """One browser's push subscription (migrations/0015). `endpoint` is unique server-wide."""
    endpoint: str
    user_id: str
    p256dh: str
    auth: str
    created_at: float
    last_used: float


@attrs.frozen
class VoiceSeat:
    """One connection's place in a voice channel (per connection, never per user)."""
    channel_id: str
    peer_id: str
    muted: bool = False
