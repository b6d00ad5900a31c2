"""The attachments table of `ServerState` (the persistent-table protocol is in core/tables.py):
attachment id -> `Attachment`, with the uploader -> uploads index (quotas, `originchats admin`)
and the number of records naming each blob (a blob's bytes go when that reaches 0), both kept by
`set`/`delete`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from immutables import Map

from .tables import EMPTY, _Table, _link, _unlink


class AttachmentTable(_Table):
    __slots__ = ("_by_uploader", "_blobs")

    def __init__(self, by: Map = EMPTY, by_uploader: Map = EMPTY, blobs: Map = EMPTY) -> None:
        self._by = by
        self._by_uploader = by_uploader  # uploader id -> Map(attachment id -> None)
        self._blobs = blobs  # sha256 -> number of records naming it (> 0)
        self._memo = None

    @classmethod
    def of(cls, records: Mapping[str, Any] | Iterable[Any] = ()) -> AttachmentTable:
        if isinstance(records, AttachmentTable):
            return records
        table = cls()
        for rec in (records.values() if isinstance(records, Mapping) else records):
            table = table.set(rec.id, rec)
        return table

    def set(self, key: str, rec: Any) -> AttachmentTable:
        if rec.id != key:
            raise ValueError(f"attachment {rec.id} stored under {key}")
        old = self._by.get(key)
        if old is rec:
            return self
        by_uploader, blobs = self._by_uploader, self._blobs
        if old is not None:
            by_uploader = _unlink(by_uploader, old.uploader_id, key)
            blobs = _release(blobs, old.sha256)
        by_uploader = _link(by_uploader, rec.uploader_id, key)
        blobs = blobs.set(rec.sha256, blobs.get(rec.sha256, 0) + 1)
        return AttachmentTable(self._by.set(key, rec), by_uploader, blobs)

    def delete(self, key: str) -> AttachmentTable:
        old = self._by[key]
        return AttachmentTable(self._by.delete(key), _unlink(self._by_uploader, old.uploader_id, key),
                               _release(self._blobs, old.sha256))

    def ordered_keys(self) -> tuple[str, ...]:
        by = self._by
        return self.memo("ids", lambda: tuple(sorted(by, key=lambda k: (by[k].created_at, k))))

    # ---- the indexes ---------------------------------------------------------------------------

    def of_uploader(self, user_id: str) -> tuple[Any, ...]:
        """The user's uploads, oldest first (expired ones included until they are removed)."""
        by = self._by
        ids = self._by_uploader.get(user_id, EMPTY)
        return tuple(sorted((by[k] for k in ids), key=lambda r: (r.created_at, r.id)))

    def uploaders(self) -> tuple[str, ...]:
        return tuple(self._by_uploader.keys())

    def blob_records(self, sha256: str) -> int:
        """How many records name the blob `sha256`."""
        return self._blobs.get(sha256, 0)

    def blob_index(self) -> dict[str, int]:
        """The blob counts as a plain dict (for tests)."""
        return dict(self._blobs.items())


def _release(blobs: Map, sha: str) -> Map:
    left = blobs[sha] - 1
    return blobs.set(sha, left) if left else blobs.delete(sha)
