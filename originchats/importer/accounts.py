"""The first groups: accounts (roles, users, channels, the server's name and icon) and files (custom
emoji and attachments, with their bytes). Each is written in one transaction by run.py."""

from __future__ import annotations

import uuid
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .. import datadir
from ..core import writes as w
from ..core.attachments import Attachment
from ..core.emoji_records import Emoji
from ..media.errors import MediaRefused
from ..media.sniff import SNIFF_BYTES, inline_type, reconcile, sniff
from ..store import load
from ..server.files import CONFIGURED_DIR
from .job import Job, copy_file, sha256_of
from .records import channel_id, channel_record, role_record, user_record
from .source import Report, read_document

ATTACHMENT_FIELDS = frozenset({"id", "filename", "original_name", "mime_type", "size", "hash", "uploader_id",
                               "uploader_name", "channel", "created_at", "expires_at", "permanent", "referenced",
                               "width", "height"})


def import_accounts(job: Job) -> dict[str, int]:
    rep, root = job.report, job.root
    counts = {"roles": 0, "users": 0, "channels": 0}
    path = root / "roles.json"
    stored = {r.name: r for r in load.load_roles(job.con)}
    for name, d in read_document(rep, path, dict).items():
        role = role_record(rep, path, name, d)
        if role is None:
            continue
        old = stored.get(name)
        if old is not None and old.id != role.id:
            if job.merge:
                rep.problem(path, "a role of this name is in the store: kept the store's", where=name)
                continue
            job.write(w.RoleDeleted(old.id, old.name))  # a new server's default role, never used yet
        job.write(w.RoleSaved(role))
        counts["roles"] += 1
    path = root / "users.json"
    known = {u.id for u in load.load_users(job.con)}
    users = read_document(rep, path, dict)
    if any(isinstance(d, dict) and "validator" in d for d in users.values()):
        rep.notes.append("users.json: the `validator` login tokens are not kept (clients log in with their"
                         " password once; a bcrypt hash becomes argon2id at that login)")
    for uid, d in users.items():
        user = user_record(rep, path, uid, d, job.now)
        if user is None:
            continue
        if job.merge and uid in known:
            rep.count("users already in the store (kept)")
            continue
        job.write(w.UserSaved(user))
        counts["users"] += 1
    path = root / "channels.json"
    existing = {c.name: c for c in load.load_channels(job.con)}
    taken = {c.id for c in existing.values()}
    order = []
    for i, d in enumerate(read_document(rep, path, list)):
        name = d.get("name") if isinstance(d, dict) else None
        old = existing.get(name) if isinstance(name, str) else None
        cid = old.id if old is not None else channel_id(name) if isinstance(name, str) else ""
        if cid in taken and old is None:
            cid = str(uuid.uuid4())
        ch = channel_record(rep, path, i, d, cid)
        if ch is None or ch.id in order:
            continue
        order.append(ch.id)
        if old is not None and job.merge:
            rep.problem(path, "a channel of this name is in the store: its messages join it, its settings stay",
                        where=ch.name)
            continue
        job.write(w.ChannelSaved(ch))
        counts["channels"] += 1
    if not job.merge:  # the original's order; channels of the new server not in it after them
        rest = [c.id for c in existing.values() if c.id not in order]
        job.write(w.ChannelsOrdered(tuple(order + rest)))
        _server_settings(job)
    job.write(w.SettingSaved(load.INITIALIZED, True))  # a store made by the import is not seeded again
    return counts


def _server_settings(job: Job) -> None:
    """The original config's server name, icon and banner, stored as `server_update` stores them;
    an icon that is a file of serverAssets/ is copied where the server adopts it at start
    (`<data dir>/server-assets/`, server/files.py `adopt_configured`)."""
    server = job.source_config.get("server")
    if not isinstance(server, dict):
        return
    if isinstance(server.get("name"), str) and server["name"]:
        job.write(w.SettingSaved("server.name", server["name"]))
    for key in ("icon", "banner"):
        value = server.get(key)
        if not isinstance(value, str) or not value:
            continue
        if "://" not in value and not value.startswith("data:"):
            src = job.root / "serverAssets" / Path(value.replace("\\", "/")).name
            if not src.is_file():
                job.report.problem(src, f"the config's server {key} file is missing: not imported")
                continue
            if job.data_dir is not None:
                copy_file(src, job.data_dir / CONFIGURED_DIR / src.name)
            value = src.name
        job.write(w.SettingSaved(f"server.{key}", value))


def import_files(job: Job) -> dict[str, int]:
    counts = {"emojis": _emojis(job), "attachments": _attachments(job)}
    return counts


def _emojis(job: Job) -> int:
    rep, path = job.report, job.root / "serverEmojis.json"
    stored = load.load_emojis(job.con)
    quiet = Report(job.root)  # modlog.json's problems are the audit group's to report
    added = {str(e.get("target_id")): (e.get("actor_id"), e.get("timestamp"))
             for e in read_document(quiet, job.root / "modlog.json", list, required=False)
             if isinstance(e, dict) and e.get("action") == "emoji_add"}  # who added each, and when
    n = 0
    for key, d in read_document(rep, path, dict, required=False).items():
        if not key.isdigit() or not isinstance(d, dict) or not isinstance(d.get("name"), str):
            rep.problem(path, "emoji without a numeric id or a name: skipped", where=key)
            continue
        file_name = Path(str(d.get("fileName") or "")).name
        src = job.root / "serverEmojis" / file_name
        if not file_name or file_name.startswith(".") or not src.is_file():
            rep.problem(src, "missing emoji file: emoji not imported", where=key)
            continue
        try:
            with Image.open(src) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError):
            rep.problem(src, "not an image: emoji not imported", where=key)
            continue
        old = stored.get(int(key))
        clash = [e for e in stored.values() if e.name.casefold() == d["name"].casefold() and e.id != int(key)]
        if clash or (job.merge and old is not None):
            rep.problem(path, "an emoji with this id or name is in the store: kept the store's", where=key)
            continue
        if job.data_dir is not None:
            copy_file(src, datadir.files_path(job.data_dir, datadir.EMOJIS_DIR) / file_name)
        by, at = added.get(key, (None, None))
        job.write(w.EmojiSaved(Emoji(id=int(key), name=d["name"], file_name=file_name, width=width, height=height,
                                     created_by=job.ids.user(by) if isinstance(by, str) else None,
                                     created_at=_num(at, job.now))))
        n += 1
    return n


def _attachments(job: Job) -> int:
    rep, path = job.report, job.root / "attachments.json"
    n = 0
    for key, d in read_document(rep, path, dict, required=False).items():
        if not isinstance(d, dict) or not isinstance(d.get("filename"), str):
            rep.problem(path, "attachment without a file name: skipped", where=key)
            continue
        rep.unknown_fields(path, d, ATTACHMENT_FIELDS, where=key)
        aid = d.get("id") if isinstance(d.get("id"), str) else key
        src = job.root / "attachments" / Path(d["filename"]).name
        if not src.is_file():
            rep.problem(src, "missing attachment file: attachment not imported", where=key)
            continue
        if job.kept("attachments", aid, "attachments"):
            continue
        with src.open("rb") as f:
            head = f.read(SNIFF_BYTES)
        try:
            mime, sniffed = reconcile(str(d.get("mime_type") or "application/octet-stream"), sniff(head))
        except MediaRefused as refused:
            rep.problem(src, f"content does not match its type ({refused.text}): attachment not imported", where=key)
            continue
        sha = sha256_of(src)
        if isinstance(d.get("hash"), str) and d["hash"] != sha:
            rep.problem(src, "the file's SHA-256 differs from the record's hash: the file's is kept", where=key)
        if job.data_dir is not None:
            copy_file(src, datadir.blob_path(job.data_dir, sha))
        cid = job.ids.channels.get(d.get("channel"))  # type: ignore[arg-type]
        if cid is None:
            rep.problem(path, f"attachment of an unknown channel {d.get('channel')!r}: kept without one", where=key)
        size = src.stat().st_size
        created = _num(d.get("created_at"), job.now)
        job.write(w.AttachmentStored(Attachment(
            id=aid, sha256=sha, name=str(d.get("original_name") or d["filename"]), mime_type=mime, size=size,
            uploader_id=job.ids.user(d.get("uploader_id") or ""), channel_id=cid or "", created_at=created,
            expires_at=_num(d.get("expires_at"), created), permanent=d.get("permanent") is True,
            width=_int(d.get("width")), height=_int(d.get("height")), inline=sniffed and inline_type(mime))))
        n += 1
    return n


def _num(value: object, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
