"""Server settings and plugins: server_update (core.md §2) and plugins_list / plugins_reload (core.md
§8; there is no plugin system yet: an empty list, and reloading "all" succeeds)."""

from __future__ import annotations

from functools import partial
from urllib.parse import urlsplit

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Effect, Fetch, Persist, Reply, Send, Step
from ..emoji_records import ImageRefused, PreparedImage, decoded_size, payload_of
from ..errors import ProtocolError, error_reply
from ..model import Perm
from ..ops import PluginsInfo, PluginsReload, PrepareImage, RemoveFile
from ..permissions import has_perm
from ..registry import command
from ..request import Request, opt_str
from ..state import ServerState
from ..views import all_authed
from ..writes import ServerAssetDeleted, ServerAssetSaved, SettingSaved, Write
from .common import MAX_NAME, me, require_perm

ASSETS = "assets"  # the images' folder (core/ops.py PrepareImage.purpose)
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


def _image_payload(state: ServerState, label: str, value: object) -> str | None:
    """The base64 payload of an icon or banner sent as `data:image/<type>;base64,...`, or None when
    the value is something else (a URL, "", null: checked as before)."""
    if not isinstance(value, str) or not value.lstrip().startswith("data:"):
        return None
    payload = payload_of(value.strip())
    if payload is None:
        raise ProtocolError(texts.not_a_url(label, URL_MAX))
    limit = state.settings.assets.max_bytes
    if decoded_size(payload) > limit:
        raise ProtocolError(texts.image_refused(label, texts.image_too_large(limit)))
    return payload


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
    images: list[tuple[str, str, str]] = []  # (key, label, base64 payload)
    for key, label in fields:
        value = req.get(key)
        payload = _image_payload(state, label, value) if key != "name" else None
        if payload is not None:
            images.append((key, label, payload))
        elif isinstance(value, str):  # null leaves the value unchanged (as the original does)
            sent[key] = _check_server_field(key, label, value)
    if images:  # decoded and stored by the shell first (a worker thread), then applied
        return _next_image(state, ctx, tuple(images), sent, {})
    return _apply(state, ctx, actor.id, sent, {})


def _next_image(state: ServerState, ctx: Context, images: tuple[tuple[str, str, str], ...], sent: dict[str, str],
                done: dict[str, PreparedImage]) -> Step:
    key, label, payload = images[0]
    cfg = state.settings.assets
    op = PrepareImage(purpose=ASSETS, file_stem=f"{key}-{ctx.new_id.replace('-', '')}", payload=payload,
                      allowed=("png", "jpeg", "gif", "webp"), max_bytes=cfg.max_bytes, max_side=cfg.max_side)
    return Step(state, (Fetch(op, partial(_image_ready, images=images, sent=sent, done=done)),))


def _image_ready(state: ServerState, ctx: Context, req: Request, result: object, *,
                 images: tuple[tuple[str, str, str], ...], sent: dict[str, str],
                 done: dict[str, PreparedImage]) -> Step:
    key, label, _ = images[0]
    drop = tuple(_remove_asset(p.file_name) for p in done.values())
    if isinstance(result, ImageRefused):
        return Step(state, (error_reply(texts.image_refused(label, result.text), req.cmd), *drop))
    assert isinstance(result, PreparedImage)
    done = {**done, key: result}
    drop += (_remove_asset(result.file_name),)
    conn = state.conns.get(ctx.conn_id)
    user = state.users.get(conn.user_id or "") if conn is not None else None
    if user is None or not has_perm(state.roles, user, Perm.MANAGE_SERVER):  # lost meanwhile
        return Step(state, (error_reply(texts.permission_required(Perm.MANAGE_SERVER), req.cmd), *drop))
    if len(images) > 1:
        return _next_image(state, ctx, images[1:], sent, done)
    return _apply(state, ctx, user.id, sent, done)


def _apply(state: ServerState, ctx: Context, actor_id: str, sent: dict[str, str],
           images: dict[str, PreparedImage]) -> Step:
    sent = dict(sent)
    base = state.settings.public_base
    for key, image in images.items():  # a new URL each time, so clients fetch the new image
        sent[key] = f"{base}/server-assets/{key}?v={image.sha256[:12]}"
    info = dict(state.server_info)
    applied = {k: v for k, v in sent.items() if (info.get(k) or "") != v}
    info.update(applied)
    packet = packets.server_update(name=info.get("name") or "", icon=info.get("icon") or "",
                                   banner=info.get("banner") or "")
    effects: tuple[Effect, ...] = (Send(all_authed(state), packet, reply=True),)
    # an icon or banner now set to a URL or cleared: its stored image goes
    dropped = tuple(k for k in applied if k in state.server_assets and k not in images)
    old_files = tuple(state.server_assets[k][0] for k in (*images, *dropped) if k in state.server_assets
                      and (k in dropped or state.server_assets[k][0] != images[k].file_name))
    if not applied and not images:
        return Step(state, effects)
    server = dict(state.settings.server)
    for k, v in applied.items():
        if v:
            server[k] = v
        else:
            server.pop(k, None)
    assets = state.server_assets
    for key, image in images.items():
        assets = assets.set(key, (image.file_name, image.mime_type))
    for key in dropped:
        assets = assets.delete(key)
    state = attrs.evolve(state, server_info=info, settings=attrs.evolve(state.settings, server=server),
                         server_assets=assets)
    writes: list[Write] = [ServerAssetSaved(k, p.file_name, p.mime_type) for k, p in images.items()]
    writes += [ServerAssetDeleted(k) for k in dropped]
    writes += [SettingSaved(f"server.{k}", v) for k, v in applied.items()]
    # the audit names an image by its new URL, never by its data
    writes.append(audit(ctx, actor_id, "server_management", "server_update", details=applied))
    # the old images go once the commit is done; after a failed commit the new files have no
    # record, and the start-up sweep takes them
    then = effects + tuple(_remove_asset(f) for f in old_files)
    return Step(state, (Persist(tuple(writes), then),))


def _discard(state: ServerState, ctx: Context, req: Request, result: object) -> Step:
    return Step(state, ())


def _remove_asset(file_name: str) -> Fetch:
    return Fetch(RemoveFile(ASSETS, file_name), _discard)


# ---- plugins (the modules live in the shell: server/plugins.py; docs/plugins.md) -------------


@command("plugins_list")
def handle_plugins_list(state: ServerState, ctx: Context, req: Request) -> Step:
    require_perm(state, me(state, ctx), "manage_server")
    return Step(state, (Fetch(PluginsInfo(), _plugins_listed),))


def _plugins_listed(state: ServerState, ctx: Context, req: Request, plugins: dict) -> Step:
    return Step(state, (Reply(packets.plugins_list(plugins)),))


@command("plugins_reload")
def handle_plugins_reload(state: ServerState, ctx: Context, req: Request) -> Step:
    require_perm(state, me(state, ctx), Perm.MANAGE_SERVER)
    plugin = opt_str(req, "plugin")
    return Step(state, (Fetch(PluginsReload(plugin or None), partial(_plugins_reloaded, plugin or None)),))


def _plugins_reloaded(plugin: str | None, state: ServerState, ctx: Context, req: Request,
                      failed: tuple[str, ...]) -> Step:
    """Audited whenever modules were re-imported (a reload of all that met a broken module still
    replaced the others); a failure is answered with the broken module's name."""
    actor = state.users.get(state.conns[ctx.conn_id].user_id or "") if ctx.conn_id in state.conns else None
    effects: list[Effect] = []
    if failed:
        names = ", ".join(failed)
        shown = names if len(names) <= MAX_NAME else names[:MAX_NAME] + "…"
        answer: Effect = error_reply(texts.plugin_reload_failed(shown), req.cmd)
        if plugin is not None:  # nothing was replaced
            return Step(state, (answer,))
    else:
        answer = Reply(packets.plugins_reload(plugin.removesuffix(".py") if plugin else None))
    if actor is None:
        return Step(state, (answer,))
    entry = audit(ctx, actor.id, "server_management", "plugins_reload", details={"plugin": plugin or "all"})
    effects.append(Persist((entry,), (answer,)))
    return Step(state, tuple(effects))
