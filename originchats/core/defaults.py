"""Built-in records a new server starts with (objects.md §2.1, §4.2)."""

from __future__ import annotations

from .model import Channel, Role

_DEFAULT_ROLE_SPECS = (
    ("owner", 0, "#9400D3", True, ("administrator",), "Server owner with every permission."),
    ("admin", 1, "#FF0000", True, (
        "administrator", "manage_roles", "manage_channels", "manage_users", "manage_server",
        "manage_messages", "manage_threads", "manage_nicknames", "kick_members", "ban_members",
        "create_invite", "manage_invites", "mention_everyone", "use_slash_commands",
    ), "Administrator role with full management permissions."),
    ("moderator", 2, "#FFFF00", True, (
        "manage_messages", "manage_threads", "kick_members", "manage_nicknames", "mute_members",
        "deafen_members", "move_members", "create_invite", "use_slash_commands",
    ), "Moderator role with elevated permissions."),
    ("user", 3, None, False, (
        "send_messages", "read_message_history", "add_reactions", "attach_files", "embed_links",
        "external_emojis", "connect", "speak", "stream", "use_voice_activity", "change_nickname",
        "create_invite", "use_slash_commands",
    ), "Default role for every member."),
)


def default_roles(ids: list[str]) -> list[Role]:
    """The four default roles; `ids` supplies one fresh id per role (the core makes no ids)."""
    return [
        Role(id=ids[i], name=name, position=pos, color=color, hoisted=hoisted,
             permissions=perms, description=desc)
        for i, (name, pos, color, hoisted, perms, desc) in enumerate(_DEFAULT_ROLE_SPECS)
    ]


#: Permission block for a channel created without one, and the fallback of evaluator (a).
DEFAULT_CHANNEL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "view": ("owner",), "send": ("owner",), "delete": ("owner",), "delete_own": ("user",),
    "edit_own": ("user",), "react": ("user",), "pin": ("owner",), "create_thread": ("owner",),
}

#: Fallbacks of evaluator (b) when a channel does not define the key.
OWN_DEFAULTS: dict[str, tuple[str, ...]] = {
    "delete_own": ("user",), "edit_own": ("user",), "react": ("user",), "pin": ("owner",),
}


def default_general(channel_id: str) -> Channel:
    return Channel(
        id=channel_id, name="general", type="text",
        description="General chat channel for everyone", display_name="General",
        permissions={"view": ("user",), "send": ("user",), "delete": ("admin", "moderator"),
                     "create_thread": ("user",)},
    )
