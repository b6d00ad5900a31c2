"""Server settings and plugins: server_update (core.md §2) and plugins_list / plugins_reload (core.md
§8; there is no plugin system yet: an empty list, and reloading "all" succeeds)."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Effect, Persist, Reply, Send, Step
from ..errors import ProtocolError
from ..model import Perm
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..views import all_authed
from ..writes import AuditRecorded, SettingSaved
from .common import MAX_NAME, me, require_perm

SERVER_NAME_MAX = 100  # characters
URL_MAX = 2048  # characters of the icon or banner URL


# ---- server settings --------------------------------------------------------------------------


def _check_server_field(key: str, label: str, value: str) -> str:
    if key == "name":
        value = value.strip()
        if not 1 <= len(value) <= SERVER_NAME_MAX:
            raise ProtocolError(texts.server_name_length(SERVER_NAME_MAX))
        return value
    value = value.strip()
    if not value:
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(value) > URL_MAX:
        raise ProtocolError(texts.not_a_url(label, URL_MAX))
    return value


@command("server_update")
def handle_server_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_SERVER)
    fields = (("name", "Name"), ("icon", "Icon"), ("banner", "Banner"))
    sent: dict[str, str] = {}
    for key, label in fields:
        value = req.get(key)
        if value is not None and not isinstance(value, str):
            raise ProtocolError(texts.string_or_null(label))
    if not any(req.has(key) for key, _ in fields):
        raise ProtocolError(texts.NO_UPDATES)
    for key, label in fields:
        value = req.get(key)
        if isinstance(value, str):  # null leaves the value unchanged (as the original does)
            sent[key] = _check_server_field(key, label, value)
    info = dict(state.server_info)
    applied = {k: v for k, v in sent.items() if (info.get(k) or "") != v}
    info.update(applied)
    packet = packets.server_update(name=info.get("name") or "", icon=info.get("icon") or "",
                                   banner=info.get("banner") or "")
    effects: tuple[Effect, ...] = (Send(all_authed(state), packet, reply=True),)
    if not applied:
        return Step(state, effects)
    server = dict(state.settings.server)
    for k, v in applied.items():
        if v:
            server[k] = v
        else:
            server.pop(k, None)
    state = attrs.evolve(state, server_info=info, settings=attrs.evolve(state.settings, server=server))
    writes: list[SettingSaved | AuditRecorded] = [SettingSaved(f"server.{k}", v) for k, v in applied.items()]
    writes.append(audit(ctx, actor.id, "server_management", "server_update", details=applied))
    return Step(state, (Persist(tuple(writes), effects),))


# ---- plugins (there is no plugin system: an empty list, and reloading "all" succeeds) ---------


@command("plugins_list")
def handle_plugins_list(state: ServerState, ctx: Context, req: Request) -> Step:
    require_perm(state, me(state, ctx), "manage_server")
    return Step(state, (Reply(packets.plugins_list()),))


@command("plugins_reload")
def handle_plugins_reload(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_SERVER)
    plugin = opt_str(req, "plugin")
    if plugin:
        shown = plugin if len(plugin) <= MAX_NAME else plugin[:MAX_NAME] + "…"
        raise ProtocolError(texts.plugin_reload_failed(shown))
    entry = audit(ctx, actor.id, "server_management", "plugins_reload", details={"plugin": "all"})
    return Step(state, (Persist((entry,), (Reply(packets.plugins_reload()),)),))

