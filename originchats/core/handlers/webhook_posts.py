"""Building a webhook's message (extended/webhooks.md "HTTP", as fixed here); the shell's route
(server/webhooks_http.py) reaches it through core/dispatch.py.

`generic_post` and `github_push` check a body the way `message_new` checks a member's (text
stripped and at most `limits.post_content` characters, embeds by core/embeds.py, the whole message
by core/budget.py; a name and avatar of bounded length) and build the same step as a member's
message: `MessageCreated` with its ping targets, then, after the commit, `message_new` to the
channel's viewers, so mentions, pings and unreads work as for any message.

The author is `originChats` (names.SYSTEM_AUTHOR) with the message's `webhook` object, as in the
original. A webhook holds no roles: it may mention members and roles that anyone may mention,
never `@&user` (that needs `mention_everyone`), like a member without permissions.
"""

from __future__ import annotations

from typing import Any

from .. import packets, texts
from ..budget import check_message
from ..context import Context
from ..effects import Persist, Send, Step
from ..embeds import normalize_embeds
from ..errors import ProtocolError
from ..model import Channel, Message, User
from ..names import SYSTEM_AUTHOR
from ..push import push_for
from ..state import ServerState
from ..views import channel_viewers, message_wire
from ..webhook_records import Webhook
from ..webhooks import WebhookRefused, valid_url
from ..writes import MessageCreated
from .message_rules import mentions
from .unreads import ping_targets

GITHUB_AVATAR = "https://github.githubassets.com/images/modules/logos_page/GitHub-Mark.png"
GITHUB_COLOR = 2369838
GITHUB_COMMITS = 10  # commit lines in a push embed; more are summed up in one line
COMMIT_LINE = 120  # characters of a commit's first line in the embed
NOBODY = User(id="", username="", roles=())  # whose rights a webhook's mentions have


def _channel(state: ServerState, hook: Webhook) -> Channel:
    ch = state.channel_by_id(hook.channel_id)
    if ch is None or ch.type != "text":
        raise WebhookRefused(404, texts.CHANNEL_NOT_FOUND)
    return ch


def _text(body: dict[str, Any], field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookRefused(400, texts.webhook_field_type(field, "a string"))
    if len(value) > limit:
        raise WebhookRefused(400, texts.message_too_long(limit) if field in ("content", "text", "message")
                             else texts.webhook_name_too_long(limit))
    return value


def _url(state: ServerState, body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not valid_url(value, state.settings.content.url_length):
        raise WebhookRefused(400, texts.webhook_field_type(field, "an http(s) URL"))
    return value


def generic_post(state: ServerState, ctx: Context, hook: Webhook, body: Any) -> Step:
    """The Discord-like body: `content` (else `text`, else `message`), `username`, `avatar_url`,
    `embeds`."""
    if not isinstance(body, dict):
        raise WebhookRefused(400, texts.WEBHOOK_BODY_NOT_OBJECT)
    ch = _channel(state, hook)
    limit = state.settings.post_content
    content = ""
    for field in ("content", "text", "message"):
        value = _text(body, field, limit)
        if value is not None and value.strip():
            content = value.strip()
            break
    name = _text(body, "username", state.settings.webhooks.name_length)
    avatar = _url(state, body, "avatar_url")
    embeds_in = body.get("embeds")
    embeds = None
    if embeds_in is not None and embeds_in != []:
        embeds, err = normalize_embeds(embeds_in, state.settings.content)
        if err:
            raise WebhookRefused(400, err)
    if not content and not embeds:
        raise WebhookRefused(400, texts.WEBHOOK_NO_CONTENT)
    shown = {"id": hook.id, "name": (name or "").strip() or hook.name or "Webhook",
             "avatar": avatar if avatar is not None else hook.avatar}
    return _post(state, ctx, ch, content, embeds, shown)


def github_push(state: ServerState, ctx: Context, hook: Webhook, payload: Any, when_iso: str) -> Step:
    """GitHub's `push` event as one embed (the original's layout); `when_iso` is now, in UTC."""
    if not isinstance(payload, dict):
        raise WebhookRefused(400, texts.WEBHOOK_BODY_NOT_OBJECT)
    ch = _channel(state, hook)
    url_limit = state.settings.content.url_length

    def obj(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    def text(value: Any, default: str = "") -> str:
        return value if isinstance(value, str) else default

    def link(value: Any) -> str:
        return value if valid_url(value, url_limit) else ""

    repo, sender = obj(payload.get("repository")), obj(payload.get("sender"))
    ref = text(payload.get("ref"), "unknown")
    branch = ref.removeprefix("refs/heads/")
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)] \
        if isinstance(payload.get("commits"), list) else []
    n = len(commits)
    if payload.get("deleted"):
        title = f"{branch} deleted"
    elif payload.get("created"):
        title = f"{branch} created"
    elif payload.get("forced"):
        title = f"{branch} force-pushed"
    else:
        title = f"{branch}: {n} commit" + ("" if n == 1 else "s")
    embed: dict[str, Any] = {
        "title": title[:256], "url": link(payload.get("compare")) or link(repo.get("html_url")),
        "color": GITHUB_COLOR,
        "author": {"name": f"{text(sender.get('login'), 'unknown')} - {text(repo.get('full_name'), 'unknown')}"[:256],
                   "url": link(repo.get("html_url")), "icon_url": link(sender.get("avatar_url"))},
        "timestamp": when_iso,
    }
    if commits:
        lines = []
        for c in commits[:GITHUB_COMMITS]:
            sha = text(c.get("id"))[:7]
            first = text(c.get("message")).split("\n", 1)[0][:COMMIT_LINE].replace("]", ")")
            lines.append(f"[`{sha}`]({link(c.get('url'))}) {first}")
        if n > GITHUB_COMMITS:
            lines.append(f"... and {n - GITHUB_COMMITS} more")
        embed["description"] = "\n".join(lines)[:4096]
    embeds, err = normalize_embeds([embed], state.settings.content)
    if err:
        raise WebhookRefused(400, err)
    return _post(state, ctx, ch, "", embeds, {"id": "github", "name": "GitHub", "avatar": GITHUB_AVATAR})


def _post(state: ServerState, ctx: Context, ch: Channel, content: str, embeds: list[dict] | None,
          shown: dict[str, Any]) -> Step:
    try:
        users, roles = mentions(state, NOBODY, content)
    except ProtocolError as exc:
        raise WebhookRefused(403, exc.val) from None
    message = Message(id=ctx.new_id, channel_id=ch.id, user_id=SYSTEM_AUTHOR, content=content, timestamp=ctx.now,
                      embeds=embeds or None, webhook=shown)
    try:
        check_message(message, state.settings.content)
    except ProtocolError as exc:
        raise WebhookRefused(413, exc.val) from None
    targets = ping_targets(state, ch, users, roles, None)
    wire = message_wire(state, message)
    wire["pings"] = {"users": users, "roles": roles, "replies": []}
    packet = packets.message_new(wire, ch.name)
    push = push_for(state, ch, message, users, roles, None)  # mentions push as a member's do
    return Step(state, (Persist((MessageCreated(message, targets),), (Send(channel_viewers(state, ch), packet), *push)),))
