"""Which stored password hashes are the original server's: bcrypt, kept by `originchats import`
(docs/import.md). The shell checks them with bcrypt; a right password replaces one with argon2id at
that login (core/handlers/auth.py)."""

from __future__ import annotations

LEGACY_HASH_PREFIXES = ("$2a$", "$2b$", "$2y$")


def legacy_hash(password_hash: str | None) -> bool:
    return password_hash is not None and password_hash.startswith(LEGACY_HASH_PREFIXES)
