"""Typed commands: a request's own fields, checked, as one frozen object (the pattern, so far for
`message_new`, `message_edit` and `typing`).

Why not decode every request into a typed command at the edge (protocol/codec.py)? Clients observe
which error comes first when a request is wrong in two ways, and the original checks some fields
only after a rate-limit slot, a role or the server's settings. So a command class is built by its
handler, at the point where the handler's field checks begin, by `parse`, which runs exactly those
checks, in the documented order, through the accessors of request.py (the one place a field's JSON
type is checked) and the texts of texts/. What `parse` may look at: the request, the settings
and the context, never the rest of the state; the handler then does the state checks (channel,
permissions, roles) on the typed command. The target of a message command (`channel` /
`thread_id`) is resolved from the request by the handler, except where the command needs its
fields earlier (`message_new` reports them missing; `typing` requires one of them).

Adding a command class: a frozen class named after the wire `cmd` in CamelCase, a `parse`
classmethod that raises `ProtocolError(texts.X)` in the order the handler checked before, and the
handler calling it where those checks were; the existing tests of the command's errors must pass
unchanged.
"""

from __future__ import annotations

from typing import Any

import attrs

from . import texts
from .budget import check_message
from .context import Context
from .embeds import normalize_embeds
from .errors import ProtocolError
from .model import Message
from .request import Request, opt_bool, opt_str
from .settings import ContentLimits, Settings


def checked_embeds(req: Request, limits: ContentLimits) -> Any:
    """The request's `embeds` as stored (schema keys only); None/absent and `[]` pass as they are."""
    embeds = req.get("embeds")
    if embeds is None or (isinstance(embeds, list) and not embeds):
        return embeds
    stored, err = normalize_embeds(embeds, limits)
    if err:
        raise ProtocolError(err)
    return stored


def has_embeds(req: Request) -> bool:
    """The request carries embeds: a non-empty list (checked by `checked_embeds` later)."""
    embeds = req.get("embeds")
    return isinstance(embeds, list) and bool(embeds)


@attrs.frozen(kw_only=True)
class MessageNew:
    channel: str | None
    thread_id: str | None
    content: str  # stripped, never longer than `settings.post_content`
    attachments: Any  # as sent (None: absent); core/attachments.py `attached` checks it
    embeds: list[dict[str, Any]] | None  # as stored; None when absent or `[]`
    ping: bool | None
    reply_to: str | None

    @classmethod
    def parse(cls, req: Request, settings: Settings, ctx: Context) -> MessageNew:
        channel = opt_str(req, "channel")
        thread_id = opt_str(req, "thread_id")
        content = opt_str(req, "content")
        attachments = req.data.get("attachments")  # checked in the documented order by `attached`
        embedded = has_embeds(req)  # embeds alone make a message (the original needed text or attachments)
        missing = []
        if not channel and not thread_id:
            missing.append("channel or thread_id")
        if not content and not attachments and not embedded:
            missing.append("content or attachments")
        if missing:
            raise ProtocolError(texts.missing_fields(missing))
        content = (content or "").strip()
        if not content and not attachments and not embedded:
            raise ProtocolError(texts.MESSAGE_EMPTY)
        embeds = checked_embeds(req, settings.content) or None  # `[]` means no embeds: the key stays absent
        if len(content) > settings.post_content:
            raise ProtocolError(texts.message_too_long(settings.post_content))
        # measured as a reply (reply_to counted whether or not there is one)
        check_message(Message(id=ctx.new_id, channel_id="", user_id="", content=content, timestamp=ctx.now,
                              embeds=embeds), settings.content)
        return cls(channel=channel, thread_id=thread_id, content=content, attachments=attachments, embeds=embeds,
                   ping=opt_bool(req, "ping"), reply_to=opt_str(req, "reply_to"))


@attrs.frozen(kw_only=True)
class MessageEdit:
    id: str
    content: str  # as sent, never longer than `settings.post_content`
    embeds: list[dict[str, Any]] | None  # None keeps the stored embeds, `[]` clears them

    @classmethod
    def parse(cls, req: Request, settings: Settings) -> MessageEdit:
        mid = opt_str(req, "id")
        content = opt_str(req, "content")
        if not mid or not (opt_str(req, "channel") or opt_str(req, "thread_id")) or not (content or has_embeds(req)):
            raise ProtocolError(texts.INVALID_EDIT)
        content = content or ""  # empty only beside embeds, as a message_new may be
        embeds = checked_embeds(req, settings.content)
        if len(content) > settings.post_content:  # the original accepted edits of any length
            raise ProtocolError(texts.message_too_long(settings.post_content))
        return cls(id=mid, content=content, embeds=embeds)


@attrs.frozen(kw_only=True)
class Typing:
    channel: str | None
    thread_id: str | None  # one of the two is set

    @classmethod
    def parse(cls, req: Request) -> Typing:
        channel = opt_str(req, "channel")
        thread_id = opt_str(req, "thread_id")
        if not channel and not thread_id:
            raise ProtocolError(texts.TYPING_CHANNEL_REQUIRED)
        return cls(channel=channel, thread_id=thread_id)
