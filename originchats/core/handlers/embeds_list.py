"""embeds_list (extended/embeds.md): the embeds of one message.

CTX as the original, plus the `view` check it lacked: the original let anyone read the embeds of a
message in a channel they cannot see, given its id (docs/compatibility.md).
"""

from __future__ import annotations

from .. import packets, texts
from ..context import Context
from ..effects import Fetch, Reply, Step
from ..errors import ProtocolError
from ..model import Action, Message
from ..ops import GetMessage
from ..permissions import channel_allows
from ..registry import command
from ..request import Request, opt_str, required_str
from ..state import ServerState
from .common import me, require_roles
from .message_rules import ctx_channel, not_deleted


@command("embeds_list")
def handle_embeds_list(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    mid = required_str(req, "id", texts.MESSAGE_ID_REQUIRED)
    thread_id = opt_str(req, "thread_id")
    if not opt_str(req, "channel") and not thread_id:
        raise ProtocolError(texts.EMBEDS_LIST_CHANNEL_REQUIRED)
    require_roles(user, nosrc=True)
    ch = ctx_channel(state, req, user, closed_ok=True).channel
    if not channel_allows(ch, Action.VIEW, user.roles):
        raise ProtocolError(texts.CHANNEL_ACCESS_DENIED)
    return Step(state, (Fetch(GetMessage(ch.id, mid, thread_id or None), _embeds_read),))


def _embeds_read(state: ServerState, ctx: Context, req: Request, m: Message | None) -> Step:
    m = not_deleted(state, m)
    if m is None:
        raise ProtocolError(texts.MESSAGE_NOT_FOUND)
    embeds = m.embeds if isinstance(m.embeds, list) else []
    return Step(state, (Reply(packets.embeds_list(m.id, embeds)),))
