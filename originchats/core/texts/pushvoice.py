"""Texts of web push and voice signalling (extended/push.md, extended/voice.md)."""

from __future__ import annotations

# ---- push -------------------------------------------------------------------------------------

VAPID_NOT_CONFIGURED = "VAPID keys not configured on this server"
MISSING_SUBSCRIPTION = "Missing subscription object"
SUBSCRIPTION_FIELDS = "subscription must include endpoint, keys.p256dh and keys.auth"
MISSING_ENDPOINT = "Missing endpoint"
PUSH_ENDPOINT_REFUSED = "The push endpoint must be an https URL of a public push service"

# ---- voice ------------------------------------------------------------------------------------

PEER_ID_REQUIRED = "Peer ID is required"
VOICE_ACCESS_DENIED = "You do not have permission to access this voice channel"
NOT_A_VOICE_CHANNEL = "This is not a voice channel"
NOT_IN_VOICE = "You are not in a voice channel"
VOICE_CONNECT_DENIED = "You do not have permission to connect to this voice channel"
VOICE_SPEAK_DENIED = "You do not have permission to speak in this voice channel"


def voice_full(limit: int) -> str:
    return f"This voice channel is full (max {limit})"


def peer_id_invalid(limit: int) -> str:
    return f"Peer ID must be a string of at most {limit} characters"
