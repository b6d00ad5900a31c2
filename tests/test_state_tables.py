"""The state's indexes always say what a scan of the entries would say.

`ServerState` keeps its connections, users and sessions in persistent tables (core/tables.py) that
carry indexes (user -> connections, name -> user, user -> tokens, the audiences of a channel), and
its channels in a tuple with name and id lookups. A hypothesis state machine applies random
sequences of changes through the state's helpers, the session functions and `revert` (the undo
of a failed commit) and, beside it, the same changes to plain dicts the way the state was kept
before the tables (`{**old, key: new}`, the dict walk of the old revert). After every step:

* every index equals a scan of the entries (and the same scan of the plain dicts);
* iteration follows the dicts' order (connections by id, users by first insertion);
* the audiences (`all_authed`, `others`, `channel_viewers`) are what the old scans gave.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from originchats.core import sessions
from originchats.core.model import Channel, User
from originchats.core.permissions import channel_allows
from originchats.core.revert import revert
from originchats.core.state import Conn, ServerState
from originchats.core.tables import ConnTable, SessionTable
from originchats.core.user_table import UserTable
from originchats.core.views import all_authed, channel_viewers, others

PICKS = st.integers(min_value=0, max_value=50)  # which open connection (by position)
USER_IDS = st.sampled_from(["u1", "u2", "u3", "u4", "u5"])
# few names, differing in case only: two users can share a folded name, and a rename can free one
NAMES = st.sampled_from(["ann", "Ann", "bob", "BOB", "cy"])
ROLES = st.sampled_from([("user",), ("admin", "user"), ("banned", "user"), ("!x",), ()])
CHANNELS = [
    Channel(id="c1", name="general", permissions={"view": ("user",)}),
    Channel(id="c2", name="staff", permissions={"view": ("admin",)}),
    Channel(id="c3", name="general", permissions={"view": ("!banned", "user")}),  # a name taken twice
    Channel(id="c1", name="renamed", permissions={"view": ("admin", "user")}),  # c1 replaced
    Channel(id="c4", name="open"),  # no permissions: the default block
]


# ---- the old representation: plain dicts, scans -------------------------------------------------


def scan_names(users: dict[str, User]) -> dict[str, str]:
    names: dict[str, str] = {}
    for u in users.values():
        if not u.deleted:
            names.setdefault(u.username.casefold(), u.id)
    return names


def scan_viewers(conns: dict[int, Conn], users: dict[str, User], channel: Channel | None,
                 exclude: int | None) -> tuple[int, ...]:
    out = []
    for c in conns.values():
        if c.user_id is None or c.id == exclude:
            continue
        user = users.get(c.user_id)
        if user is not None and channel_allows(channel, "view", user.roles):
            out.append(c.id)
    return tuple(out)


_MISSING: Any = object()


def old_revert(current: dict, before: dict, after: dict) -> dict:
    """core/revert.py as it was, on a dict of plain-dict fields."""
    out = dict(current)
    for name in current:
        old, new, now = before[name], after[name], current[name]
        if old is new:
            continue
        if isinstance(now, dict):
            restored = dict(now)
            for key in set(old) | set(new):
                o, n = old.get(key, _MISSING), new.get(key, _MISSING)
                if o is n or now.get(key, _MISSING) is not n:
                    continue
                if o is _MISSING:
                    del restored[key]
                else:
                    restored[key] = o
            out[name] = restored
        elif now is new:
            out[name] = old
    return out


def old_issue(model: dict[str, tuple[str, float]], user_id: str, token: str, now: float) -> dict:
    """sessions.issue as it was, on a plain dict."""
    mine = sorted((created, h) for h, (uid, created) in model.items() if uid == user_id)
    drop = [h for created, h in mine if now - created >= sessions.SESSION_TTL]
    live = [h for created, h in mine if now - created < sessions.SESSION_TTL]
    drop += live[:max(0, len(live) - (sessions.MAX_SESSIONS_PER_USER - 1))]
    out = {h: e for h, e in model.items() if h not in drop}
    out[hashlib.sha256(token.encode()).hexdigest()] = (user_id, now)
    return out


class TablesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = ServerState()
        self.model: dict[str, Any] = {"conns": {}, "users": {}, "sessions": {}, "channels": ()}
        self.steps: list[tuple[ServerState, ServerState, dict, dict]] = []  # (before, after) pairs
        self.clock = 0.0
        self.next_conn = 0
        self.tokens = 0

    def _apply(self, state: ServerState, **model: Any) -> None:
        """Record one step: the new state and the same change on the plain dicts."""
        before, model_before = self.state, self.model
        self.state, self.model = state, {**self.model, **model}
        self.steps = [*self.steps[-5:], (before, state, model_before, self.model)]

    @initialize(roles=st.lists(ROLES, min_size=3, max_size=3), logged_in=st.lists(USER_IDS, min_size=2, max_size=4))
    def populate(self, roles: list[tuple[str, ...]], logged_in: list[str]) -> None:
        """Start from a small world (channels, accounts, sockets logged in), so that most steps
        change something an index or an audience depends on."""
        for channel in (CHANNELS[0], CHANNELS[1], CHANNELS[4]):
            self.save_channel(channel)
        for uid, name, r in zip(["u1", "u2", "u3"], ["ann", "bob", "cy"], roles):
            self.save_user(uid, name, r, False)
        for uid in logged_in:
            self.open()
            self.change_conn(-1, uid, "online")

    # ---- connections ---------------------------------------------------------------------------

    def _pick(self, pick: int) -> int | None:
        ids = sorted(self.model["conns"])
        return ids[pick % len(ids)] if ids else None

    @rule()
    def open(self) -> None:
        self.next_conn += 1  # the hub numbers connections upwards
        conn = Conn(id=self.next_conn, validator_key="k")
        self._apply(self.state.with_conn(conn), conns={**self.model["conns"], conn.id: conn})

    @rule(pick=PICKS, uid=st.one_of(st.none(), USER_IDS), status=st.sampled_from(["online", "invisible"]))
    def change_conn(self, pick: int, uid: str | None, status: str) -> None:
        """Log a socket in (as anyone, again, or out) or change its status."""
        cid = self._pick(pick)
        if cid is None:
            return
        conn = attrs.evolve(self.model["conns"][cid], user_id=uid, username=uid, status=status)
        self._apply(self.state.with_conn(conn), conns={**self.model["conns"], cid: conn})

    @rule(pick=PICKS)
    def close(self, pick: int) -> None:
        cid = self._pick(pick)
        conns = dict(self.model["conns"])
        conns.pop(cid, None)
        self._apply(self.state.without_conn(cid or 0), conns=conns)

    # ---- users ---------------------------------------------------------------------------------

    @rule(uid=USER_IDS, name=NAMES, roles=ROLES, deleted=st.booleans())
    def save_user(self, uid: str, name: str, roles: tuple[str, ...], deleted: bool) -> None:
        """A new account, a rename, a role change, a deletion (or an undeletion by a revert)."""
        user = User(id=uid, username=name, roles=roles, deleted=deleted)
        self._apply(self.state.with_user(user), users={**self.model["users"], uid: user})

    @rule(uid=USER_IDS)
    def save_same_user(self, uid: str) -> None:
        """Saving the record already stored changes nothing (a login that keeps the account)."""
        user = self.model["users"].get(uid)
        if user is not None:
            state = self.state.with_user(user)
            assert state is self.state
            self._apply(state)

    # ---- sessions ------------------------------------------------------------------------------

    @rule(uid=USER_IDS, later=st.sampled_from([0.0, 1.0, sessions.SESSION_TTL]))
    def issue(self, uid: str, later: float) -> None:
        self.clock += later
        self.tokens += 1
        token = f"t{self.tokens}"
        state, _ = sessions.issue(self.state, uid, token, self.clock)
        self._apply(state, sessions=old_issue(self.model["sessions"], uid, token, self.clock))

    @rule(uid=USER_IDS, keep_one=st.booleans())
    def revoke(self, uid: str, keep_one: bool) -> None:
        model = self.model["sessions"]
        if keep_one:
            keep = next((h for h, (u, _) in model.items() if u == uid), None)
            state, _ = sessions.revoke_others(self.state, uid, keep)
        else:
            keep = None
            state, _ = sessions.revoke_user(self.state, uid)
        self._apply(state, sessions={h: e for h, e in model.items() if e[0] != uid or h == keep})

    # ---- channels ------------------------------------------------------------------------------

    @rule(channel=st.sampled_from(CHANNELS))
    def save_channel(self, channel: Channel) -> None:
        model = self.model["channels"]
        if any(ch.id == channel.id for ch in model):
            model = tuple(channel if ch.id == channel.id else ch for ch in model)
        else:
            model = (*model, channel)
        self._apply(self.state.with_channel(channel), channels=model)

    @rule(cid=st.sampled_from(["c1", "c2", "c3", "c4"]))
    def delete_channel(self, cid: str) -> None:
        model = tuple(ch for ch in self.model["channels"] if ch.id != cid)
        self._apply(attrs.evolve(self.state, channels=tuple(ch for ch in self.state.channels if ch.id != cid)),
                    channels=model)

    # ---- a failed commit -----------------------------------------------------------------------

    @rule(back=st.integers(min_value=0, max_value=5))
    def revert_a_step(self, back: int) -> None:
        """Undo one of the last steps (core/revert.py), whatever happened since."""
        if not self.steps:
            return
        before, after, model_before, model_after = self.steps[-1 - min(back, len(self.steps) - 1)]
        self._apply(revert(self.state, before, after), **old_revert(self.model, model_before, model_after))

    # ---- what must hold ------------------------------------------------------------------------

    @invariant()
    def connections_match_a_scan(self) -> None:
        conns: ConnTable = self.state.conns
        model: dict[int, Conn] = self.model["conns"]
        assert dict(conns.items()) == model
        # the server's ids only grow and a closed socket is never restored (closing commits
        # nothing): its dict order was id order, which the table keeps whatever happens
        assert list(conns) == sorted(model)
        by_user: dict[str, frozenset[int]] = {}
        for c in model.values():
            if c.user_id is not None:
                by_user[c.user_id] = by_user.get(c.user_id, frozenset()) | {c.id}
        assert conns.user_index() == by_user
        for uid in ["u1", "u2", "u3", "u4", "u5"]:
            assert self.state.conns_of(uid) == tuple(sorted(c.id for c in model.values() if c.user_id == uid))
            assert conns.has_user(uid) == (uid in by_user)
        assert set(conns.online_user_ids()) == set(by_user)
        assert ConnTable.of(model).user_index() == by_user  # built in one pass, as the loader does
        assert [c.id for c in self.state.authed_conns()] == sorted(c.id for c in model.values() if c.user_id is not None)

    @invariant()
    def users_match_a_scan(self) -> None:
        users: UserTable = self.state.users
        model: dict[str, User] = self.model["users"]
        assert list(users.items()) == list(model.items())  # insertion order kept
        assert dict(self.state.names) == scan_names(model)
        assert users.live_count == sum(1 for u in model.values() if not u.deleted)
        rebuilt = UserTable.of(model)  # in one pass, as the loader builds it at start
        assert list(rebuilt.items()) == list(model.items())
        assert dict(rebuilt.names) == scan_names(model) and rebuilt.live_count == users.live_count
        for name in ["ann", "bob", "cy", "u1"]:
            scanned = scan_names(model).get(name.casefold(), name)
            expected = model.get(scanned)
            assert self.state.find_user(name) == (expected if expected is not None and not expected.deleted else None)

    @invariant()
    def sessions_match_a_scan(self) -> None:
        table = self.state.sessions
        model = self.model["sessions"]
        assert dict(table.items()) == model
        by_user: dict[str, frozenset[str]] = {}
        for h, (uid, _) in model.items():
            by_user[uid] = by_user.get(uid, frozenset()) | {h}
        assert table.user_index() == by_user
        assert SessionTable.of(model).user_index() == by_user

    @invariant()
    def channels_match_a_scan(self) -> None:
        model: tuple[Channel, ...] = self.model["channels"]
        assert self.state.channels == model
        for name in ["general", "staff", "renamed", "open", "none"]:
            assert self.state.channel(name) is next((ch for ch in model if ch.name == name), None)
        for cid in ["c1", "c2", "c3", "c4"]:
            assert self.state.channel_by_id(cid) is next((ch for ch in model if ch.id == cid), None)

    @invariant()
    def audiences_match_a_scan(self) -> None:
        conns, users = dict(sorted(self.model["conns"].items())), self.model["users"]
        assert all_authed(self.state) == tuple(c.id for c in conns.values() if c.user_id is not None)
        for exclude in (None, 1, 2, self.next_conn):
            assert others(self.state, exclude or 0) == tuple(
                c.id for c in conns.values() if c.user_id is not None and c.id != exclude)
            for channel in (*self.state.channels, None):
                assert channel_viewers(self.state, channel, exclude) == scan_viewers(conns, users, channel, exclude)


TablesMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTablesMachine = TablesMachine.TestCase


def test_a_plain_dict_given_to_the_state_becomes_an_indexed_table() -> None:
    """The constructor and `attrs.evolve` convert plain mappings (the loader, tests, a handler that
    builds a dict): the indexes are built from them."""
    a = User(id="a", username="Ann")
    state = ServerState(users={"a": a}, conns={1: Conn(id=1, validator_key="k", user_id="a")},
                        sessions={"h": ("a", 0.0)}, rate_limits={"a": None})
    assert state.names.get("ann") == "a" and state.conns_of("a") == (1,)
    assert state.sessions.of_user("a") == ("h",)
    evolved = attrs.evolve(state, conns={2: Conn(id=2, validator_key="k", user_id="a")})
    assert evolved.conns_of("a") == (2,) and evolved.rate_limits is state.rate_limits
