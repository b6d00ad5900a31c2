"""Packets of web push and voice signalling (extended/push.md, extended/voice.md), part of the
`packets` namespace (core/packets.py imports them)."""

from __future__ import annotations

from typing import Any

Packet = dict[str, Any]


# ---- push -------------------------------------------------------------------------------------

def push_vapid(key: str) -> Packet:
    return {"cmd": "push_vapid", "key": key}


def push_subscribed(device_fingerprint: str) -> Packet:
    return {"cmd": "push_subscribed", "success": True, "device_fingerprint": device_fingerprint}


def push_unsubscribed() -> Packet:
    return {"cmd": "push_unsubscribed", "success": True}


# ---- voice ------------------------------------------------------------------------------------

def voice_join(channel: str, participants: list[Packet], ice_servers: list[Packet]) -> Packet:
    return {"cmd": "voice_join", "channel": channel, "participants": participants, "ice_servers": ice_servers}


def voice_leave(channel: str) -> Packet:
    return {"cmd": "voice_leave", "channel": channel}


def voice_mute(cmd: str, channel: str, muted: bool) -> Packet:
    return {"cmd": cmd, "channel": channel, "muted": muted}


def voice_state(channel: str, participants: list[Packet]) -> Packet:
    return {"cmd": "voice_state", "channel": channel, "participants": participants}


def voice_user_joined(channel: str, user: Packet) -> Packet:
    return {"cmd": "voice_user_joined", "channel": channel, "user": user}


def voice_user_updated(channel: str, user: Packet) -> Packet:
    return {"cmd": "voice_user_updated", "channel": channel, "user": user}


def voice_user_left(channel: str, username: str) -> Packet:
    return {"cmd": "voice_user_left", "channel": channel, "username": username}
