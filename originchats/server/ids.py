"""Fresh ids for each command's `Context`: a UUID v4 string and a URL-safe token.

Both come from os.urandom (the source of `uuid.uuid4` and `secrets`), read 12 KB at a time: one
syscall and one UUID object per command cost ~5% of the server's CPU per message (py-spy, bench
ingest)."""

from __future__ import annotations

import base64
import os

_PER_CONTEXT = 48  # 16 bytes for a UUID v4, 32 for a token
_POOL = _PER_CONTEXT * 256
_random = bytearray()


def fresh_ids() -> tuple[str, str]:
    """A UUID v4 string and a `secrets.token_urlsafe(32)`-style token."""
    global _random
    if len(_random) < _PER_CONTEXT:
        _random = bytearray(os.urandom(_POOL))
    b = bytes(_random[-_PER_CONTEXT:])
    del _random[-_PER_CONTEXT:]
    h = b[:16].hex()
    new_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[b[8] & 3]}{h[17:20]}-{h[20:32]}"
    return new_id, base64.urlsafe_b64encode(b[16:]).rstrip(b"=").decode()
