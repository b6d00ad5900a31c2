"""Session tokens: `ready.validator` is a bearer token for a cheap reconnect without a password.

The original generated a fresh `validator` at every login and never checked it (auth.md §7 item 8).
Here a cracked account's `ready.validator` is a real session token: `{"cmd":"login","username":…,
"token":"<validator>"}` logs in without argon2. Only the SHA-256 of a token is kept (in memory in
`ServerState.sessions` and in the `sessions` table); tokens are found by hashing the presented one
and looking the hash up, so no token is ever compared character by character, stored or logged.

A token is single-use: logging in with it revokes it and the `ready` of that login carries a new
one. It expires after SESSION_TTL; a user keeps at most MAX_SESSIONS_PER_USER (the oldest go); all
of a user's tokens are revoked when the account is banned or deleted (`revoke_user`, for those
handlers; tokens of banned/deleted accounts are also dropped at start-up).
"""

from __future__ import annotations

import hashlib
import attrs

from .state import ServerState
from .writes import SessionCreated, SessionRevoked, UserSessionsRevoked

SESSION_TTL = 30 * 24 * 3600.0
MAX_SESSIONS_PER_USER = 10


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def find(state: ServerState, token: str, now: float) -> str | None:
    """The user id a live token belongs to, else None."""
    entry = state.sessions.get(token_hash(token))
    if entry is None or now - entry[1] >= SESSION_TTL:
        return None
    return entry[0]


def issue(state: ServerState, user_id: str, token: str, now: float) -> tuple[ServerState, tuple]:
    """Record a new token for `user_id` (revoking the oldest beyond the per-user cap, and any
    expired ones of that user); returns the new state and the writes to persist."""
    table = state.sessions
    mine = sorted((table[h][1], h) for h in table.of_user(user_id))
    drop = [h for created, h in mine if now - created >= SESSION_TTL]
    live = [h for created, h in mine if now - created < SESSION_TTL]
    drop += live[:max(0, len(live) - (MAX_SESSIONS_PER_USER - 1))]
    new = token_hash(token)
    for h in drop:
        table = table.delete(h)
    table = table.set(new, (user_id, now))
    writes = (*(SessionRevoked(h) for h in drop), SessionCreated(new, user_id, now))
    return state.replaced("sessions", table), writes


def revoke(state: ServerState, token: str) -> tuple[ServerState, tuple]:
    return revoke_hash(state, token_hash(token))


def revoke_hash(state: ServerState, h: str) -> tuple[ServerState, tuple]:
    if h not in state.sessions:
        return state, ()
    return state.replaced("sessions", state.sessions.delete(h)), (SessionRevoked(h),)


def revoke_user(state: ServerState, user_id: str) -> tuple[ServerState, tuple]:
    """Forget every token of `user_id` (ban, delete): the new state and the write to persist."""
    mine = state.sessions.of_user(user_id)
    if not mine:
        return state, (UserSessionsRevoked(user_id),)
    table = state.sessions
    for h in mine:
        table = table.delete(h)
    return attrs.evolve(state, sessions=table), (UserSessionsRevoked(user_id),)


def revoke_others(state: ServerState, user_id: str, keep: str | None) -> tuple[ServerState, tuple]:
    """Forget every token of `user_id` except the one whose hash is `keep` (a password change:
    the socket that changed it stays signed in, every other session ends)."""
    drop = [h for h in state.sessions.of_user(user_id) if h != keep]
    if not drop:
        return state, ()
    table = state.sessions
    for h in drop:
        table = table.delete(h)
    return attrs.evolve(state, sessions=table), tuple(SessionRevoked(h) for h in drop)
