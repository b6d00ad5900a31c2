"""Web push (extended/push.md): which endpoints a subscription may name, and who a new message
pushes to. Pure; the shell (server/push.py) works out the recipients (`push_items`) after the broadcast,
then encrypts, signs and sends.

Who is pushed, for a message in channel C (or a thread of forum C) by S:
* each member S mentioned by name, the replied-to author when the reply pings, and the holders of
  each role S mentioned (only roles that exist; `@&user` only when S may mention everyone: the
  mention rules of core/handlers/message_rules.py already refused the message otherwise);
* only if, when the shell works them out (after the broadcast), they may `view` C, are not S, are
  not deleted, and have no authenticated connection (offline); and at most
  `push.recipients_per_message` accounts.
* One push per account and subscription, with the first rule that matched (mention, reply, role).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import attrs

from .context import Context
from .effects import Persist, PushNotify, Step
from .model import Action, Channel, Message, User
from .permissions import channel_allows
from .settings import PushSettings
from .state import ServerState
from .push_records import PushSub
from .writes import PushUnsubscribed, PushUsed

#: The body is the content's first characters (the original's 120, no ellipsis).
BODY_CHARACTERS = 120
DASH = " \u2014 "


def address_allowed(address: str, settings: PushSettings) -> bool:
    """An IP address a push may go to: a global one, unless the config allows private ones."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if settings.allow_private:
        return not ip.is_unspecified and not ip.is_multicast
    return ip.is_global and not ip.is_multicast


def endpoint_allowed(endpoint: str, settings: PushSettings) -> bool:
    """The syntax half of the endpoint rule (the shell resolves the host and checks every address
    again at each send): an `https` URL (`http` only when the config allows it) with a host, no
    user info, and, when the host is a literal address, an allowed one."""
    if len(endpoint) > settings.endpoint_max_length or any(c.isspace() or ord(c) < 32 for c in endpoint):
        return False
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" and not (settings.allow_http and parts.scheme == "http"):
        return False
    host = parts.hostname
    if not host or "@" in parts.netloc or port == 0:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:  # a name: checked when resolved
        return settings.allow_private or (host != "localhost" and not host.endswith(".localhost") and "." in host)
    return address_allowed(host, settings)


def push_for(state: ServerState, ch: Channel, message: Message, users: list[str], roles: list[str],
             reply_user_id: str | None) -> tuple[PushNotify, ...]:
    """The push effect of a new message (empty when it cannot push anybody); its recipients are
    `push_items`'s, worked out later by the shell."""
    if not state.settings.push.enabled or not state.push_subs or not (users or roles or reply_user_id):
        return ()
    return (PushNotify(ch.id, message, tuple(users), tuple(roles), reply_user_id),)


def push_items(state: ServerState, notify: PushNotify) -> tuple[tuple[PushSub, dict[str, Any]], ...]:
    """The `(subscription, payload)` pairs of `notify` in `state`; see the module doc."""
    settings = state.settings.push
    subs = state.push_subs
    ch = state.channel_by_id(notify.channel_id)
    if not settings.enabled or not subs or ch is None:
        return ()
    message, users, roles, reply_user_id = notify.message, notify.users, notify.roles, notify.reply_user_id
    sender = state.username_of(message.user_id)
    prefix = "#" + ch.name + DASH + sender
    chosen: dict[str, str] = {}  # user id -> title
    users_by_id = state.users
    viewers: dict[tuple[str, ...], bool] = {}  # role set -> may view `ch` (members share role sets)
    limit = settings.recipients_per_message

    def consider(uid: str | None, user: User | None, title: str) -> None:
        if uid is None or uid in chosen or uid == message.user_id or uid not in subs or len(chosen) >= limit:
            return
        if user is None or user.deleted:
            return
        held = user.roles if type(user.roles) is tuple else tuple(user.roles)
        may = viewers.get(held)
        if may is None:
            may = viewers[held] = channel_allows(ch, Action.VIEW, held)
        if may and not state.conns.has_user(uid):  # online: the client shows it itself
            chosen[uid] = title

    for name in users:
        uid = state.names.get(name.casefold())
        consider(uid, users_by_id.get(uid) if uid is not None else None, prefix)
    if reply_user_id is not None:
        consider(reply_user_id, users_by_id.get(reply_user_id), prefix + " replied")
    for role in roles:
        if role not in state.roles:
            continue
        title = prefix + " mentioned @" + role
        for uid in subs:
            user = users_by_id.get(uid)
            if user is not None and role in user.roles:
                consider(uid, user, title)
    if not chosen:
        return ()
    items: list[tuple[PushSub, dict[str, Any]]] = []
    body = message.content[:BODY_CHARACTERS]
    for uid, title in chosen.items():
        payload = {"title": title, "body": body, "channelName": ch.name}
        items.extend((sub, payload) for sub in subs[uid])
    return tuple(items)


def without_endpoints(state: ServerState, endpoints: set[str], only: str | None = None) -> tuple[ServerState, int]:
    subs = state.push_subs
    removed = 0
    for uid in ([only] if only is not None else list(subs.keys())):
        have = subs.get(uid, ())
        kept = tuple(s for s in have if s.endpoint not in endpoints)
        if len(kept) != len(have):
            removed += len(have) - len(kept)
            subs = subs.set(uid, kept) if kept else subs.delete(uid)
    return attrs.evolve(state, push_subs=subs), removed


def push_results(state: ServerState, ctx: Context, used: tuple[str, ...], gone: tuple[str, ...]) -> Step:
    """The push services' answers: accepted pushes refresh `last_used`; a 404 or 410 removes the
    subscription (server/push.py runs this step once per batch of answers)."""
    if gone:
        state, _ = without_endpoints(state, set(gone))
    if used:
        subs = state.push_subs
        fresh = set(used)
        for uid in list(subs.keys()):
            have = subs[uid]
            if any(s.endpoint in fresh for s in have):
                subs = subs.set(uid, tuple(attrs.evolve(s, last_used=ctx.now) if s.endpoint in fresh else s
                                           for s in have))
        state = attrs.evolve(state, push_subs=subs)
    writes: tuple = ()
    if gone:
        writes += (PushUnsubscribed(gone),)
    if used:
        writes += (PushUsed(used, ctx.now),)
    return Step(state, (Persist(writes),) if writes else ())
