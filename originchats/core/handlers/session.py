"""ping, server_info, rate_limit_status (core.md §1, §2, §7)."""

from __future__ import annotations

from .. import packets, texts
from ..context import Context
from ..effects import Reply, Step
from ..errors import ProtocolError
from ..ratelimit import Bucket, status
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from .common import find_member, me


@command("ping")
def handle_ping(state: ServerState, ctx: Context, req: Request) -> Step:
    return Step(state, (Reply(packets.pong()),))


@command("server_info")
def handle_server_info(state: ServerState, ctx: Context, req: Request) -> Step:
    info = state.server_info
    return Step(state, (Reply(packets.server_info(name=info.get("name") or "", icon=info.get("icon") or "",
                                                  banner=info.get("banner") or "")),))


@command("rate_limit_status")
def handle_rate_limit_status(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    name = opt_str(req, "user")
    target = user
    if name:
        found = find_member(state, name)
        if found is None or found.id != user.id:
            if "owner" not in user.roles:
                raise ProtocolError(texts.OWN_RATE_LIMIT_ONLY)
        target = found
    cfg = state.settings.rate_limit
    if not cfg.enabled:
        raise ProtocolError(texts.RATE_LIMITER_DISABLED)
    bucket = state.rate_limits.get(target.id, Bucket()) if target is not None else Bucket()
    username = target.username if target is not None else name
    return Step(state, (Reply(packets.rate_limit_status(username, status(bucket, ctx.now, cfg))),))
