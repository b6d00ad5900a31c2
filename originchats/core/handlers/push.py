"""Web push (extended/push.md): push_get_vapid, push_subscribe, push_unsubscribe.

The spec's flaws are fixed: recipients must view the channel and be offline (core/push.py);
`@&user` pushes only when the sender may mention everyone (the message is refused otherwise);
unknown names and roles push to nobody; `last_used` is refreshed by every accepted push; the
device id no longer collapses devices (it is derived from the endpoint); endpoints must be public
`https` URLs, checked here for their form and again by the shell at each send (every resolved
address, and the connection goes to the address that was checked)."""

from __future__ import annotations

import hashlib

import attrs

from .. import packets, texts
from ..context import Context
from ..effects import Persist, Reply, Step
from ..errors import ProtocolError
from ..push import endpoint_allowed, without_endpoints
from ..push_records import PushSub
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..writes import PushSubscribed, PushUnsubscribed
from .common import me

#: longest accepted `keys.p256dh` / `keys.auth` (base64url of a 65-byte point / 16-byte secret)
KEY_CHARACTERS = 128


@command("push_get_vapid")
def handle_push_get_vapid(state: ServerState, ctx: Context, req: Request) -> Step:
    key = state.settings.vapid_public_key
    if not key or not state.settings.push.enabled:
        raise ProtocolError(texts.VAPID_NOT_CONFIGURED)
    return Step(state, (Reply(packets.push_vapid(key)),))


def _key(keys: dict, name: str) -> str:
    value = keys.get(name)
    if not isinstance(value, str) or not value or len(value) > KEY_CHARACTERS:
        raise ProtocolError(texts.SUBSCRIPTION_FIELDS)
    return value


@command("push_subscribe")
def handle_push_subscribe(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    sub = req.data.get("subscription")
    if not isinstance(sub, dict):
        raise ProtocolError(texts.MISSING_SUBSCRIPTION)
    endpoint, keys = sub.get("endpoint"), sub.get("keys")
    if not isinstance(endpoint, str) or not endpoint or not isinstance(keys, dict):
        raise ProtocolError(texts.SUBSCRIPTION_FIELDS)
    p256dh, auth = _key(keys, "p256dh"), _key(keys, "auth")
    settings = state.settings.push
    if not endpoint_allowed(endpoint, settings):
        raise ProtocolError(texts.PUSH_ENDPOINT_REFUSED)
    record = PushSub(endpoint, user.id, p256dh, auth, ctx.now, ctx.now)
    state, dropped = without_endpoints(state, {endpoint})
    mine = (*state.push_subs.get(user.id, ()), record)
    extra = mine[:max(0, len(mine) - settings.subscriptions_per_user)]  # the oldest beyond the limit
    mine = mine[len(extra):]
    state = attrs.evolve(state, push_subs=state.push_subs.set(user.id, mine))
    gone = tuple(s.endpoint for s in extra)
    writes: tuple = (PushSubscribed(record),) + ((PushUnsubscribed(gone),) if gone else ())
    fingerprint = hashlib.sha256(endpoint.encode()).hexdigest()[:16]
    return Step(state, (Persist(writes, (Reply(packets.push_subscribed(fingerprint)),)),))


@command("push_unsubscribe")
def handle_push_unsubscribe(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    endpoint = req.data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ProtocolError(texts.MISSING_ENDPOINT)
    mine = state.push_subs.get(user.id, ())
    if not any(s.endpoint == endpoint for s in mine):  # not registered (or someone else's): nothing to do
        return Step(state, (Reply(packets.push_unsubscribed()),))
    state, _ = without_endpoints(state, {endpoint}, only=user.id)
    return Step(state, (Persist((PushUnsubscribed((endpoint,)),), (Reply(packets.push_unsubscribed()),)),))
