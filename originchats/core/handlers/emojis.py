"""Custom emoji (extended/emojis.md): emoji_add, emoji_get_all, emoji_get_id, emoji_get_filename,
emoji_update, emoji_delete.

The spec's flaws are fixed:
1. every change is broadcast to all authenticated sockets (the reply shapes of the spec plus the
   `name`/`fileName` the official client reads), so no client goes stale;
2. `emoji_update` can replace the image, alone or together with a rename;
3. the name, permission and shape are checked before any image work; the image is decoded and
   re-encoded in the shell (core/ops.py `PrepareImage`, a worker thread) and its file written
   before the record is committed; animated GIFs stay animated;
4. ids are never reused (`ServerState.emoji_next`, the table's AUTOINCREMENT sequence).
"""

from __future__ import annotations

from functools import partial

import attrs

from .. import packets, texts
from ..audit import audit
from ..context import Context
from ..effects import Effect, Fetch, Persist, Reply, Send, Step
from ..emoji_records import (Emoji, ImageRefused, PreparedImage, clean_name, decoded_size, find_by_name, parse_id,
                             payload_of, wire_map)
from ..errors import ProtocolError, error_reply
from ..model import Perm
from ..ops import PrepareImage, RemoveFile
from ..registry import command
from ..request import Request
from ..state import ServerState
from ..views import others
from ..writes import EmojiDeleted, EmojiSaved
from .common import me, require_perm

EMOJIS = "emojis"  # the files' folder (core/ops.py PrepareImage.purpose)


def _scheme(req: Request, field: str, detail: str) -> ProtocolError:
    return ProtocolError(texts.emoji_scheme(str(req.cmd).removeprefix("emoji_"), f"{field}: {detail}"))


def _string(req: Request, field: str, *, required: bool) -> str | None:
    value = req.get(field)
    if value is None:
        if required:
            raise _scheme(req, field, texts.FIELD_REQUIRED)
        return None
    if not isinstance(value, str):
        raise _scheme(req, field, texts.NOT_A_STRING)
    return value


def _image(req: Request, *, required: bool) -> str | None:
    """The base64 payload of the `image` data URI (checked for shape only)."""
    value = _string(req, "image", required=required)
    if value is None:
        return None
    payload = payload_of(value)
    if payload is None:
        raise _scheme(req, "image", texts.NOT_A_DATA_URI)
    return payload


def _emoji_id(req: Request) -> int:
    value = req.get("emoji_id")
    if value is None:
        raise _scheme(req, "emoji_id", texts.FIELD_REQUIRED)
    emoji_id = parse_id(value)
    if emoji_id is None:
        raise _scheme(req, "emoji_id", texts.NOT_AN_INTEGER)
    return emoji_id


def _prepare(state: ServerState, stem: str, payload: str) -> PrepareImage:
    cfg = state.settings.emojis
    return PrepareImage(purpose=EMOJIS, file_stem=stem, payload=payload, allowed=cfg.allowed_types or
                        ("gif", "jpg", "jpeg", "png"), max_bytes=cfg.max_bytes, max_side=cfg.max_side)


def _discard(state: ServerState, ctx: Context, req: Request, result: object) -> Step:
    return Step(state, ())


def _remove(file_name: str) -> Fetch:
    return Fetch(RemoveFile(EMOJIS, file_name), _discard)


def _gone(state: ServerState, ctx: Context) -> bool:
    """The caller's socket closed, or it lost `manage_server`, while the image was processed."""
    from ..permissions import has_perm

    conn = state.conns.get(ctx.conn_id)
    user = state.users.get(conn.user_id or "") if conn is not None else None
    return user is None or not has_perm(state.roles, user, Perm.MANAGE_SERVER)


# ---- emoji_add ----------------------------------------------------------------------------------


@command("emoji_add")
def handle_emoji_add(state: ServerState, ctx: Context, req: Request) -> Step:
    require_perm(state, me(state, ctx), Perm.MANAGE_SERVER)
    raw_name = _string(req, "name", required=True)
    payload = _image(req, required=True)
    assert raw_name is not None and payload is not None
    name = clean_name(raw_name)
    if name is None or find_by_name(state.emojis, name) is not None \
            or decoded_size(payload) > state.settings.emojis.max_bytes:
        raise ProtocolError(texts.EMOJI_ADD_FAILED)
    return Step(state, (Fetch(_prepare(state, _stem(ctx), payload), partial(_emoji_added, name=name)),))


def _stem(ctx: Context) -> str:
    """A fresh file name (without extension): files are never shared nor reused, so deleting one
    never takes another record's image."""
    return ctx.new_id.replace("-", "")[:20]


def _emoji_added(state: ServerState, ctx: Context, req: Request, result: object, *, name: str) -> Step:
    if isinstance(result, ImageRefused):
        if result.bad_base64:
            raise _scheme(req, "image", texts.NOT_BASE64)
        raise ProtocolError(texts.EMOJI_ADD_FAILED)
    assert isinstance(result, PreparedImage)
    if _gone(state, ctx) or find_by_name(state.emojis, name) is not None:  # taken meanwhile
        return Step(state, (error_reply(texts.EMOJI_ADD_FAILED, req.cmd), _remove(result.file_name)))
    actor = me(state, ctx)
    emoji_id = state.emoji_next  # never an id given before, deleted ones included
    emoji = Emoji(id=emoji_id, name=name, file_name=result.file_name, width=result.width, height=result.height,
                  created_by=actor.id, created_at=ctx.now)
    state = attrs.evolve(state, emojis=state.emojis.set(emoji_id, emoji), emoji_next=emoji_id + 1)
    writes = (EmojiSaved(emoji), audit(ctx, actor.id, "server_management", "emoji_add", target=str(emoji_id),
                                       details={"name": name}))
    packet = packets.emoji_add(emoji_id, name, emoji.file_name)
    # a failed commit leaves the new file without a record: the start-up sweep takes it
    return Step(state, (Persist(writes, (Send(others(state, ctx.conn_id), packet, reply=True),)),))


# ---- reads ----------------------------------------------------------------------------------------


@command("emoji_get_all")
def handle_emoji_get_all(state: ServerState, ctx: Context, req: Request) -> Step:
    return Step(state, (Reply(packets.emoji_get_all(wire_map(state.emojis))),))


def _named(state: ServerState, req: Request) -> tuple[str, Emoji]:
    name = _string(req, "name", required=True)
    assert name is not None
    emoji = find_by_name(state.emojis, name)
    if emoji is None:
        raise ProtocolError(texts.EMOJI_NOT_FOUND)
    return name, emoji


@command("emoji_get_id")
def handle_emoji_get_id(state: ServerState, ctx: Context, req: Request) -> Step:
    name, emoji = _named(state, req)
    return Step(state, (Reply(packets.emoji_get_id(name, emoji.id)),))


@command("emoji_get_filename")
def handle_emoji_get_filename(state: ServerState, ctx: Context, req: Request) -> Step:
    name, emoji = _named(state, req)
    return Step(state, (Reply(packets.emoji_get_filename(name, emoji.file_name)),))


# ---- emoji_update ---------------------------------------------------------------------------------


@command("emoji_update")
def handle_emoji_update(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_SERVER)
    emoji_id = _emoji_id(req)
    raw_name = _string(req, "name", required=False)
    payload = _image(req, required=False)
    if raw_name is None and payload is None:
        raise ProtocolError(texts.EMOJI_NO_UPDATES)
    # the attempted changes, as the audit records them (never the image data)
    details: dict[str, object] = {}
    if raw_name is not None:
        details["name"] = raw_name
    if payload is not None:
        details["image"] = True
    name = _new_name(state, emoji_id, raw_name)
    if name is None or (payload is not None and decoded_size(payload) > state.settings.emojis.max_bytes):
        return _not_updated(state, ctx, actor.id, emoji_id, details)
    if payload is None:
        return _updated(state, ctx, req, emoji_id, name, None, details)
    return Step(state, (Fetch(_prepare(state, _stem(ctx), payload),
                              partial(_emoji_image_ready, emoji_id=emoji_id, name=name, details=details)),))


def _new_name(state: ServerState, emoji_id: int, raw_name: str | None) -> str | None:
    """The emoji's name after the update, or None when the update cannot be made (no such emoji,
    an invalid name, or one another emoji has)."""
    emoji = state.emojis.get(emoji_id)
    if emoji is None:
        return None
    if raw_name is None:
        return emoji.name
    name = clean_name(raw_name)
    if name is None:
        return None
    other = find_by_name(state.emojis, name)
    return name if other is None or other.id == emoji_id else None


def _not_updated(state: ServerState, ctx: Context, actor_id: str | None, emoji_id: int,
                 details: dict[str, object], extra: tuple[Effect, ...] = ()) -> Step:
    """`updated: false`, to the caller only; the attempt is audited all the same (as the spec says)."""
    entry = audit(ctx, actor_id, "server_management", "emoji_update", target=str(emoji_id), details=details)
    return Step(state, (Persist((entry,), (Reply(packets.emoji_update(emoji_id, False)), *extra)),))


def _emoji_image_ready(state: ServerState, ctx: Context, req: Request, result: object, *, emoji_id: int,
                       name: str, details: dict[str, object]) -> Step:
    if isinstance(result, ImageRefused):
        if result.bad_base64:
            raise _scheme(req, "image", texts.NOT_BASE64)
        conn = state.conns.get(ctx.conn_id)
        return _not_updated(state, ctx, conn.user_id if conn is not None else None, emoji_id, details)
    assert isinstance(result, PreparedImage)
    if _gone(state, ctx):
        return Step(state, (error_reply(texts.permission_required(Perm.MANAGE_SERVER), req.cmd),
                            _remove(result.file_name)))
    # renamed or deleted meanwhile: decide again on the state of now
    raw = details.get("name")
    name_now = _new_name(state, emoji_id, raw if isinstance(raw, str) else None)
    if name_now is None:
        return _not_updated(state, ctx, me(state, ctx).id, emoji_id, details, (_remove(result.file_name),))
    return _updated(state, ctx, req, emoji_id, name_now, result, details)


def _updated(state: ServerState, ctx: Context, req: Request, emoji_id: int, name: str,
             image: PreparedImage | None, details: dict[str, object]) -> Step:
    actor = me(state, ctx)
    old = state.emojis[emoji_id]
    new = old if image is None else attrs.evolve(old, file_name=image.file_name, width=image.width,
                                                 height=image.height)
    new = attrs.evolve(new, name=name)
    state = attrs.evolve(state, emojis=state.emojis.set(emoji_id, new))
    writes = (EmojiSaved(new), audit(ctx, actor.id, "server_management", "emoji_update", target=str(emoji_id),
                                     details=details))
    packet = packets.emoji_update(emoji_id, True, new.name, new.file_name)
    then: tuple[Effect, ...] = (Send(others(state, ctx.conn_id), packet, reply=True),)
    if image is not None:  # the old file goes once the commit is done (after a failed one, the
        then += (_remove(old.file_name),)  # new file has no record: the start-up sweep takes it)
    return Step(state, (Persist(writes, then),))


# ---- emoji_delete ---------------------------------------------------------------------------------


@command("emoji_delete")
def handle_emoji_delete(state: ServerState, ctx: Context, req: Request) -> Step:
    actor = me(state, ctx)
    require_perm(state, actor, Perm.MANAGE_SERVER)
    emoji_id = _emoji_id(req)
    entry = audit(ctx, actor.id, "server_management", "emoji_delete", target=str(emoji_id))
    emoji = state.emojis.get(emoji_id)
    if emoji is None:  # audited all the same (as the spec says)
        return Step(state, (Persist((entry,), (Reply(packets.emoji_delete(emoji_id, False)),)),))
    state = attrs.evolve(state, emojis=state.emojis.delete(emoji_id))
    then = (Send(others(state, ctx.conn_id), packets.emoji_delete(emoji_id, True), reply=True),
            _remove(emoji.file_name))
    return Step(state, (Persist((EmojiDeleted(emoji_id), entry), then),))
