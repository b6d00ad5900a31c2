"""Operations the shell runs itself, not reads: attachment bytes, Rotur tiers, images, plugins
(server/ops.py `OpRunner`). They are members of `core/ops.py` `Op`, which imports them from here."""

from __future__ import annotations


import attrs


# ---- attachments (extended/attachments.md; the shell's runners in server/ops.py) -------------


@attrs.frozen
class DropBlobs:
    """Result: None. After the commit that removed the last record naming each of `shas`, delete
    those blob files (a blob an upload in flight has placed meanwhile, or a record names again,
    is kept)."""

    shas: tuple[str, ...]


@attrs.frozen
class RoturTier:
    """Result: the Rotur account's subscription, lower-case (`""` for none), or "error" when Rotur
    could not be reached or answered garbage (counted as no permanent tier, not cached)."""

    username: str


#: attachments' operations join the set


# ---- images for custom emoji and server assets (the shell: server/files.py, originchats/media) --


@attrs.frozen
class PrepareImage:
    """Result: `PreparedImage`, or `ImageRefused` (core/emoji_records.py).

    Decode `payload` (strict base64) in a worker thread, check and re-encode the image
    (originchats/media `prepare_emoji`: a detected format in `allowed`, at most `max_bytes`
    decoded, shrunk to `max_side`), and store it as `<file_stem>.<ext>` in the folder of `purpose`
    ("emojis" or "assets") before the record that names it is committed. The payload is never
    logged or kept."""

    purpose: str
    file_stem: str
    payload: str = attrs.field(repr=False)
    allowed: tuple[str, ...]
    max_bytes: int
    max_side: int


@attrs.frozen
class RemoveFile:
    """Result: None. Delete `file_name` from the folder of `purpose`, once no record names it (the
    commit that dropped its last reference is done; no other record ever shares it)."""

    purpose: str
    file_name: str




# ---- plugins (the shell: server/plugins.py) ---------------------------------------------------


@attrs.frozen
class PluginsInfo:
    """Result: `dict[str, dict]`: each loaded plugin's `getInfo()` (name, description, handles),
    keyed by its file name; `{}` when plugins are off."""


@attrs.frozen
class PluginsReload:
    """Result: `tuple[str, ...]`: the plugins that could not be loaded (empty: all went well).
    Re-import `name` (a loaded plugin's file name, with or without `.py`), or, with None, rescan
    the folder and re-import every plugin in it. A broken module is reported here, never raised."""

    name: str | None = None
