"""Per-address and per-account limits of the auth path: who may try a password, and who may register.

Three failure counters, each a fixed window `(count, since)` that starts at the first failure and
is forgotten once `window` seconds have passed since then:

* per address (all accounts): wrong passwords and unknown user names. At `ip_failures` the
  address is refused every password login until its window ends. One address cannot try many
  accounts (or probe which names exist) at speed.
* per account and address: at `lockout_failures` wrong passwords that address is refused for that
  account. Only the address that failed is locked: an attacker cannot lock the owner out.
* per account (all addresses): once the account has `backoff_after` failures in its window, every
  address that has itself failed on this account must wait between tries, a wait that doubles
  with each further failure of the account (`backoff_base_seconds`, at most `backoff_max_seconds`).
  That slows a guesser spread over many addresses; an address with no failure on the account
  (the owner at home) never waits.

So an address that has never failed is never refused a password login, whatever others did.
Registrations are counted per address in windows of an hour.

Addresses are keyed by `address_key`: an IPv4 address as it is, an IPv6 address by its /64 prefix
(one subscriber usually holds a whole /64, so single IPv6 addresses would be free to rotate).

The counters live in `ServerState.auth` (`AuthRecords`); `prune` (run by a shell timer) drops the
expired ones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import attrs

from . import texts
from .settings import AuthSettings
from .tables import EMPTY, pmap

HOUR = 3600.0


@attrs.frozen
class Window:
    count: int
    since: float  # first failure of the window
    last: float  # latest failure


@attrs.frozen(kw_only=True)
class AuthRecords:
    """Persistent maps (core/tables.py): a failure costs O(log n) however many are counted."""

    by_ip: Mapping[str, Window] = attrs.field(default=EMPTY, converter=pmap)
    by_account_ip: Mapping[tuple[str, str], Window] = attrs.field(default=EMPTY, converter=pmap)
    by_account: Mapping[str, Window] = attrs.field(default=EMPTY, converter=pmap)
    registrations: Mapping[str, Window] = attrs.field(default=EMPTY, converter=pmap)


def address_key(ip: str) -> str:
    """The address a limit counts: IPv4 as is, IPv6 by its /64 (IPv4-mapped IPv6 as IPv4); any
    other string (a test's name, a Unix socket) as it is."""
    if ":" not in ip:  # IPv4 (whose only accepted spelling is the one `str` gives back) or not an address
        return ip
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def _live(m: Mapping, key: object, now: float, window: float) -> Window | None:
    w = m.get(key)
    if w is None or now - w.since >= window:
        return None
    return w


def _bump(m: Mapping, key: object, now: float, window: float) -> Mapping:
    w = _live(m, key, now, window)
    new = Window(1, now, now) if w is None else Window(w.count + 1, w.since, now)
    return pmap(m).set(key, new)


def address_refusal(records: AuthRecords, cfg: AuthSettings, addr: str, now: float) -> str | None:
    """Is this address refused every password login (too many failures across accounts)?"""
    if cfg.ip_failures:
        w = _live(records.by_ip, addr, now, cfg.ip_failure_window_seconds)
        if w is not None and w.count >= cfg.ip_failures:
            return texts.LOGIN_LOCKED
    return None


def account_refusal(records: AuthRecords, cfg: AuthSettings, uid: str, addr: str, now: float) -> str | None:
    """Is this address refused a password try on this account? Never when it has no failure on it."""
    mine = _live(records.by_account_ip, (uid, addr), now, cfg.lockout_window_seconds)
    if mine is None:
        return None
    if cfg.lockout_failures and mine.count >= cfg.lockout_failures:
        return texts.LOGIN_LOCKED
    if cfg.backoff_after:
        acct = _live(records.by_account, uid, now, cfg.lockout_window_seconds)
        if acct is not None and acct.count >= cfg.backoff_after:
            doublings = min(acct.count - cfg.backoff_after, 40)
            wait = min(cfg.backoff_max_seconds, cfg.backoff_base_seconds * 2.0 ** doublings)
            if now - mine.last < wait:
                return texts.LOGIN_LOCKED
    return None


def record_failure(records: AuthRecords, cfg: AuthSettings, uid: str | None, addr: str, now: float) -> AuthRecords:
    """A wrong password for `uid` (None: an unknown user name) from `addr`."""
    changes: dict = {"by_ip": _bump(records.by_ip, addr, now, cfg.ip_failure_window_seconds)}
    if uid is not None:
        changes["by_account_ip"] = _bump(records.by_account_ip, (uid, addr), now, cfg.lockout_window_seconds)
        changes["by_account"] = _bump(records.by_account, uid, now, cfg.lockout_window_seconds)
    return attrs.evolve(records, **changes)


def record_success(records: AuthRecords, uid: str, addr: str) -> AuthRecords:
    """The right password from `addr`: that address's failures on the account are forgiven, and
    no longer count towards the account's backoff (they were typing mistakes); the failures of
    other addresses still do, so a guesser elsewhere keeps waiting."""
    mine = records.by_account_ip.get((uid, addr))
    if mine is None:
        return records
    by_account_ip = pmap(records.by_account_ip).delete((uid, addr))
    by_account = pmap(records.by_account)
    acct = by_account.get(uid)
    if acct is not None:
        if acct.count > mine.count:
            by_account = by_account.set(uid, attrs.evolve(acct, count=acct.count - mine.count))
        else:
            by_account = by_account.delete(uid)
    return attrs.evolve(records, by_account_ip=by_account_ip, by_account=by_account)


def forget_account(records: AuthRecords, uid: str) -> AuthRecords:
    """The operator reset the password: every lock and backoff of the account is lifted."""
    mine = [k for k in records.by_account_ip if k[0] == uid]  # an operator command: a scan is fine
    if uid not in records.by_account and not mine:
        return records
    by_account = pmap(records.by_account)
    if uid in by_account:
        by_account = by_account.delete(uid)
    return attrs.evolve(records, by_account=by_account, by_account_ip=_without(records.by_account_ip, mine))


def _without(m: Mapping, keys: list) -> Mapping:
    """`m` without `keys` (the same object when there are none)."""
    if not keys:
        return m
    with pmap(m).mutate() as out:
        for k in keys:
            del out[k]
        return out.finish()


def registration_refusal(records: AuthRecords, cfg: AuthSettings, addr: str, now: float) -> str | None:
    if cfg.registrations_per_ip_per_hour:
        w = _live(records.registrations, addr, now, HOUR)
        if w is not None and w.count >= cfg.registrations_per_ip_per_hour:
            return texts.REGISTRATIONS_LIMITED
    return None


def record_registration(records: AuthRecords, addr: str, now: float) -> AuthRecords:
    return attrs.evolve(records, registrations=_bump(records.registrations, addr, now, HOUR))


def prune(records: AuthRecords, cfg: AuthSettings, now: float) -> AuthRecords:
    """Drop the expired windows; the same object when nothing expired."""
    def kept(m: Mapping, window: float) -> Mapping:
        return _without(m, [k for k, w in m.items() if now - w.since >= window])

    new = AuthRecords(by_ip=kept(records.by_ip, cfg.ip_failure_window_seconds),
                      by_account_ip=kept(records.by_account_ip, cfg.lockout_window_seconds),
                      by_account=kept(records.by_account, cfg.lockout_window_seconds),
                      registrations=kept(records.registrations, HOUR))
    if all(getattr(new, f) is getattr(records, f) for f in ("by_ip", "by_account_ip", "by_account", "registrations")):
        return records
    return new
