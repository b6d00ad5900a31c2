"""`POST /webhooks` and `POST /webhooks/{anything}` (extended/webhooks.md "HTTP", as fixed here;
the route table is server/http.py). The checks, in order:

 503 webhooks disabled; 401 no token (`Authorization: Bearer <token>`, or the `token` query
 parameter as in the original: the header keeps it out of access logs); 415 not JSON; 401 a token
 no webhook has (a hash lookup); 429 the webhook's bucket is empty (`Retry-After`), before the
 body is read; 413 a body over `[webhooks] body_bytes` (the rest is not read); 401 a webhook with a
 GitHub secret and no valid `X-Hub-Signature-256` (HMAC-SHA256 of the body, constant-time);
 400 not JSON / not an object; 404 the webhook's channel is gone; then by mode:

 * GitHub (an `X-GitHub-Event` header): `ping` answers 204 and posts nothing (GitHub's setup
   check; the original failed it), `push` posts its embed, any other event 400;
 * generic: core/webhooks.py `generic_post` (400 for bad fields or nothing to post, 403 a
   mention the webhook may not make, 413 over the message budget).

The message is decided on the state of now, committed, and broadcast right after its commit in
the writer task (in commit order with members' messages) as any `message_new`; the answer, 204,
comes after the commit: a 204 means the message is stored.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import structlog

from ..core import dispatch, texts, webhooks
from ..core.effects import Persist
from ..core.webhook_records import Webhook
from ..store.writer import WriteFailed
from .hub import Hub
from .httpio import Exchange, HttpError
from .upload_body import INVALID_JSON

log = structlog.get_logger("originchats.webhooks")
NO_CONN = -1  # webhook steps answer nobody over a socket


def _token(ex: Exchange) -> str | None:
    auth = ex.headers.get(b"authorization", b"").decode("latin-1").strip()
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("bearer", "webhook") and value.strip():
            return value.strip()
        if not value:  # the bare token
            return scheme
    return ex.query.get("token") or None


async def post(ex: Exchange, rest: str) -> None:
    hub = ex.hub
    if not hub.state.settings.webhooks.enabled:
        raise HttpError(503, texts.WEBHOOKS_DISABLED, close=not ex.body_done())
    token = _token(ex)
    if token is None:
        raise HttpError(401, texts.WEBHOOK_TOKEN_REQUIRED, close=not ex.body_done())
    content_type = ex.headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type != b"application/json":
        raise HttpError(415, texts.UPLOAD_NOT_JSON, close=not ex.body_done())
    hook = webhooks.find(hub.state, token)
    if hook is None:
        raise HttpError(401, texts.WEBHOOK_INVALID_TOKEN, close=not ex.body_done())
    state, wait = webhooks.take_slot(hub.state, hook.id, hub.now())  # no await since hub.state was read
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        ex.close = not ex.body_done()
        await ex.send_json(429, {"error": texts.webhook_rate_limited(seconds), "retry_after": seconds},
                           [(b"Retry-After", str(seconds).encode())])
        return
    hub.state = state
    body = await ex.read_body(hub.state.settings.webhooks.body_bytes)
    event = ex.headers.get(b"x-github-event", b"").decode("latin-1").strip()
    if hook.secret is not None:
        signature = ex.headers.get(b"x-hub-signature-256", b"").decode("latin-1") or None
        if not webhooks.signature_ok(hook.secret, body, signature):
            raise HttpError(401, texts.WEBHOOK_BAD_SIGNATURE)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HttpError(400, INVALID_JSON) from None
    if event == "ping":
        await ex.send_empty(204)
        return
    if event and event != "push":
        raise HttpError(400, texts.webhook_unhandled_event(event[:64]))
    status, answer = await deliver(hub, hook, payload, github=bool(event))
    if status == 204:
        await ex.send_empty(204)
    else:
        await ex.send_json(status, {"error": answer})


async def deliver(hub: Hub, hook: Webhook, payload: Any, *, github: bool) -> tuple[int, str]:
    """Decide the message on the state of now, commit it, broadcast it after the commit."""
    hook_now = hub.state.webhooks.get(hook.id)
    if hook_now is None or hook_now.token_hash != hook.token_hash:  # deleted or regenerated meanwhile
        return 401, texts.WEBHOOK_INVALID_TOKEN
    before = hub.state
    ctx = hub.context(NO_CONN)
    try:
        if github:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ctx.now))
            step = dispatch.webhook_github_push(before, ctx, hook_now, payload, when)
        else:
            step = dispatch.webhook_generic_post(before, ctx, hook_now, payload)
    except webhooks.WebhookRefused as refused:
        return refused.status, refused.text
    hub.state = step.state  # no await since `before` was read
    persist = step.effects[0]
    assert isinstance(persist, Persist)

    def committed(failure: BaseException | None) -> None:
        if failure is None:  # in the writer task, in commit order with every other message: the
            # broadcast, then whatever follows a member's commit too (plugin events)
            hub.interpreter.committed(persist, ctx, None)

    try:
        await hub.writer.submit(persist.writes, then=committed, undo=hub.interpreter.undo(before, step.state))
    except WriteFailed:
        log.warning("webhook_message_not_saved", webhook=hook.id)
        return 500, texts.WEBHOOK_NOT_SAVED
    return 204, ""
