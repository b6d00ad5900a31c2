"""users_list, users_online, status_set, status_get, pfp_set, pfp_get (core.md §5, auth.md §5.4).

Fixed relative to the original: `users_online` lists each user once; invisible users show as
offline in `users_list` and are left out of `users_online` (the original leaked "invisible" in
`users_list`); the status transition is judged on the user's stored status, not per socket.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from .. import packets, texts
from ..context import Context
from ..effects import Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import STATUSES
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..views import all_authed, color_of, others, status_obj, user_brief
from ..writes import UserSaved
from .common import me, rate_check, target_user


@command("users_list")
def handle_users_list(state: ServerState, ctx: Context, req: Request) -> Step:
    online = state.conns.online_user_ids()
    users = []
    for u in state.users.values():
        if u.deleted or u.banned:
            continue
        st = status_obj(u)
        if u.id not in online or u.status == "invisible":
            st = {"status": "offline", "text": u.status_text}
        users.append({"username": u.username, "nickname": u.nickname, "roles": list(u.roles),
                      "color": color_of(state, u), "status": st, "cracked": u.cracked, "pfp": u.pfp_url})
    return Step(state, (Reply(packets.users_list(users)),))


@command("users_online")
def handle_users_online(state: ServerState, ctx: Context, req: Request) -> Step:
    seen: set[str] = set()
    users = []
    for c in state.authed_conns():
        if c.user_id in seen:
            continue
        seen.add(c.user_id or "")
        u = state.users.get(c.user_id or "")
        if u is None or u.deleted or u.status == "invisible":
            continue
        users.append({"username": u.username, "nickname": u.nickname, "roles": list(u.roles),
                      "color": color_of(state, u), "status": status_obj(u)})
    return Step(state, (Reply(packets.users_online(users)),))


@command("status_set")
def handle_status_set(state: ServerState, ctx: Context, req: Request) -> Step:
    user = me(state, ctx)
    new = req.get("status")
    if not new:
        raise ProtocolError(texts.STATUS_REQUIRED)
    if new not in STATUSES:
        raise ProtocolError(texts.STATUS_INVALID)
    text = opt_str(req, "text") or ""  # a non-string crashed the original: a clear error instead
    if len(text) > 100:
        raise ProtocolError(texts.STATUS_INVALID)
    state, refusal = rate_check(state, ctx, user, broadcast=True)
    if refusal is not None:
        return Step(state, (refusal,))
    was_invisible = user.status == "invisible"
    user = attrs.evolve(user, status=new, status_text=text)
    state = state.with_user(user)
    for cid in state.conns_of(user.id):
        state = state.with_conn(attrs.evolve(state.conns[cid], status=new))
    effects: list = []
    if new == "invisible":
        if not was_invisible:
            effects.append(Send(all_authed(state), packets.user_disconnect(user.username)))
        packet = packets.status_set({"status": "invisible", "text": ""})
        # only the user's own sockets learn about it: telling others would reveal the invisible user
        mine = tuple(c for c in state.conns_of(user.id) if c != ctx.conn_id)
        effects.append(Send(mine, packet, reply=True))
    else:
        if was_invisible:
            effects.append(Send(all_authed(state), packets.user_connect(user_brief(state, user))))
        packet = packets.status_get(user.username, status_obj(user))
        effects.append(Send(others(state, ctx.conn_id), packet, reply=True))
    return Step(state, (Persist((UserSaved(user),), tuple(effects)),))


@command("status_get")
def handle_status_get(state: ServerState, ctx: Context, req: Request) -> Step:
    target = target_user(state, req)
    st = status_obj(target)
    caller = me(state, ctx)
    if target.status == "invisible" and target.id != caller.id:
        st = {"status": "offline", "text": target.status_text}
    return Step(state, (Reply(packets.status(target.username, st)),))


@command("pfp_set")
def handle_pfp_set(state: ServerState, ctx: Context, req: Request) -> Step:
    if state.settings.auth_mode not in ("cracked", "cracked-only"):
        raise ProtocolError(texts.PFP_ROTUR)
    url = req.get("url")
    if not url:
        raise ProtocolError(texts.URL_REQUIRED)
    if not isinstance(url, str):
        raise ProtocolError(texts.URL_INVALID)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ProtocolError(texts.URL_INVALID) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProtocolError(texts.URL_INVALID)
    if len(url) > 500:
        raise ProtocolError(texts.URL_TOO_LONG)
    state, refusal = rate_check(state, ctx, me(state, ctx), broadcast=True)
    if refusal is not None:
        return Step(state, (refusal,))
    user = attrs.evolve(me(state, ctx), pfp_url=url)
    state = state.with_user(user)
    return Step(state, (Persist((UserSaved(user),), (Reply(packets.pfp_set(url)),)),))


@command("pfp_get")
def handle_pfp_get(state: ServerState, ctx: Context, req: Request) -> Step:
    target = target_user(state, req, "username", texts.USERNAME_REQUIRED)
    return Step(state, (Reply(packets.pfp_get(target.pfp_url, req.get("username"))),))
