"""A hypothesis state machine over the pure core: posts, edits, deletes, reactions and pins from
several members, with their steps interleaved the way the shell can interleave them (a command waits at
every `Fetch` and `Persist`; writes commit in the order they were queued, and a command's
broadcasts follow its own commit). The store is the real SQL (`originchats.store.sql`) on an
in-memory database.

Properties, checked on what an observer connection receives:
* nothing about a message arrives before its `message_new` or after its `message_delete`;
* a message's `pinned` flag in an edit broadcast is the pin state the observer was last told;
* once everything has settled, the observer's picture (messages alive, their text, reactions, pins)
  is exactly what `messages_get` returns, `messages_pinned` lists exactly the pinned ones, and
  `messages_search` finds what a scan of the picture finds.
"""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from originchats.core import dispatch
from originchats.core.context import Context
from originchats.core.defaults import default_general, default_roles
from originchats.core.effects import Close, Fetch, Reply, Send
from originchats.core.model import User
from originchats.core.ops import Around, GetMessage, History, LastMessages, Pinned, PinTarget, Replies, Search
from originchats.core.request import Request
from originchats.core.settings import RateLimitSettings, Settings
from originchats.core.state import Conn, ServerState
from originchats.store import reads
from tests.core_driver import CoreDriver, InFlight

MEMBERS = {1: ("alice", ("user",)), 2: ("bob", ("user",)), 3: ("adam", ("admin", "user"))}
OBSERVER = 4
TEXTS = st.text(alphabet="ab @", min_size=1, max_size=6).filter(lambda t: t.strip() != "")
QUERIES = st.text(alphabet='ab @"*(', min_size=1, max_size=4)


def initial_state() -> ServerState:
    general = default_general("c-general")
    users = [User(id=f"u-{name}", username=name, roles=roles) for name, roles in MEMBERS.values()]
    users.append(User(id="u-olga", username="olga", roles=("user",)))
    state = ServerState(
        settings=Settings(rate_limit=RateLimitSettings(enabled=False)),
        users={u.id: u for u in users},
        roles={r.name: r for r in default_roles([f"r{i}" for i in range(4)])},
        # members may pin here (the default `pin` list is the owner's)
        channels=(attrs.evolve(general, permissions={**general.permissions, "pin": ("user",)}),),
    )
    for conn_id, (name, _) in [*MEMBERS.items(), (OBSERVER, ("olga", ()))]:
        state = state.with_conn(Conn(id=conn_id, validator_key="k", user_id=f"u-{name}", username=name))
    return state


def run_op(con: sqlite3.Connection, op: Any) -> Any:
    # the reads message handlers ask for
    assert type(op) in (GetMessage, History, Around, LastMessages, PinTarget, Pinned, Replies, Search), op
    return reads.run_read(con, op)


class MessagesMachine(CoreDriver):
    def __init__(self) -> None:
        super().__init__(initial_state())
        self.ids = itertools.count()
        self.created: list[str] = []  # every message id seen, deleted ones included
        self.queries: list[str] = []  # searches to check at the next settle

    # ---- driving the core like the shell does -----------------------------------------------

    def start(self, conn_id: int, cmd: str, at: float | None = None, **fields: Any) -> None:
        n = next(self.ids)  # time creeps: every read here is "recent" (well under a minute)
        self.begin(Context(conn_id=conn_id, now=1000.0 + n / 100 if at is None else at, new_id=f"id-{n}"), cmd, **fields)

    def run_op(self, op: Any) -> Any:
        return run_op(self.con, op)  # through this module's run_op, which test_threads_machine swaps

    def deliver(self, job: InFlight, effect: Any) -> None:
        if isinstance(effect, Send) and OBSERVER in effect.conns:
            self.seen.append(effect.packet)
        if isinstance(effect, (Send, Reply)):
            packet = effect.packet
            if packet.get("cmd") == "message_new" and "message" in packet:
                self.created.append(packet["message"]["id"])
        assert not isinstance(effect, Close)

    def pick(self, i: int) -> str:
        return self.created[i % len(self.created)] if self.created else "missing"

    # ---- rules -------------------------------------------------------------------------------

    @rule(who=st.sampled_from(list(MEMBERS)), text=TEXTS)
    def post(self, who: int, text: str) -> None:
        self.start(who, "message_new", channel="general", content=text)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), text=TEXTS)
    def edit(self, who: int, i: int, text: str) -> None:
        self.start(who, "message_edit", channel="general", id=self.pick(i), content=text)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50))
    def delete(self, who: int, i: int) -> None:
        self.start(who, "message_delete", channel="general", id=self.pick(i))

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), emoji=st.sampled_from(["+", "-"]),
          add=st.booleans())
    def react(self, who: int, i: int, emoji: str, add: bool) -> None:
        cmd = "message_react_add" if add else "message_react_remove"
        self.start(who, cmd, channel="general", id=self.pick(i), emoji=emoji)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), pin=st.sampled_from(["pin", "unpin", "false"]))
    def pin(self, who: int, i: int, pin: str) -> None:
        if pin == "false":  # the official client's unpin
            self.start(who, "message_pin", channel="general", id=self.pick(i), pinned=False)
        else:
            self.start(who, f"message_{pin}", channel="general", id=self.pick(i))

    @rule(query=QUERIES)
    def search(self, query: str) -> None:
        """A query to check once everything has settled."""
        self.queries.append(query)

    # ---- properties --------------------------------------------------------------------------

    @invariant()
    def observer_never_hears_of_a_message_outside_its_life(self) -> None:
        born: set[str] = set()
        dead: set[str] = set()
        for p in self.seen:
            mid = p["message"]["id"] if p["cmd"] == "message_new" else p.get("id")
            assert mid not in dead, (p, self.seen)
            if p["cmd"] == "message_new":
                born.add(mid)
            else:
                assert mid in born, p
            if p["cmd"] == "message_delete":
                dead.add(mid)

    def ask(self, cmd: str, **fields: Any) -> dict:
        """The observer's reply to a read, run to its end on the current state and database."""
        ctx = Context(conn_id=OBSERVER, now=2000.0, new_id="read")
        req = Request(cmd=cmd, data={"cmd": cmd, **fields})
        step = dispatch.handle(self.state, ctx, req)
        while isinstance(step.effects[0], Fetch):
            fetch = step.effects[0]
            step = dispatch.run_guarded(fetch.then, step.state, ctx, req, run_op(self.con, fetch.op))
        (reply,) = step.effects
        assert isinstance(reply, Reply), reply
        return reply.packet

    def check_settled(self) -> None:
        picture: dict[str, dict] = {}
        for p in self.seen:
            if p["cmd"] == "message_new":
                m = p["message"]
                picture[m["id"]] = {"content": m["content"], "reactions": {}, "pinned": False}
            elif p["cmd"] == "message_edit":
                picture[p["id"]]["content"] = p["content"]
                assert p["message"]["pinned"] == picture[p["id"]]["pinned"], p
            elif p["cmd"] in ("message_pin", "message_unpin"):
                picture[p["id"]]["pinned"] = p["pinned"]
            elif p["cmd"] == "message_delete":
                del picture[p["id"]]
            elif p["cmd"] in ("message_react_add", "message_react_remove"):
                users = picture[p["id"]]["reactions"].setdefault(p["emoji"], [])
                if p["cmd"] == "message_react_add":
                    assert p["from"] not in users
                    users.append(p["from"])
                else:
                    users.remove(p["from"])
                    if not users:
                        del picture[p["id"]]["reactions"][p["emoji"]]
        stored = reads.history(self.con, History("c-general", 0, 10_000))
        names = {u.id: u.username for u in self.state.users.values()}
        assert [m.id for m in stored] == list(picture)
        for m in stored:
            assert m.content == picture[m.id]["content"]
            assert {e: [names[u] for u in us] for e, us in m.reactions} == picture[m.id]["reactions"]
            assert m.pinned == picture[m.id]["pinned"]
        pinned = [m["id"] for m in self.ask("messages_pinned", channel="general")["messages"]]
        assert pinned == [mid for mid in reversed(picture) if picture[mid]["pinned"]]
        for query in self.queries:
            found = [m["id"] for m in self.ask("messages_search", channel="general", query=query)["results"]]
            scan = [mid for mid in reversed(picture) if query.lower() in picture[mid]["content"].lower()]
            assert found == scan[:30], (query, found, scan)
        self.queries.clear()


MessagesMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestMessagesMachine = MessagesMachine.TestCase


# ---- the races found by the machine, replayed step by step -------------------------------------


def replay() -> MessagesMachine:
    machine = MessagesMachine()
    machine.start(1, "message_new", channel="general", content="hi")
    machine.settle()
    return machine


def test_two_sockets_adding_the_same_reaction_at_once_broadcast_it_once():
    machine = replay()
    mid = machine.created[0]
    for _ in range(2):  # both read "not reacted" before either decides
        machine.start(1, "message_react_add", channel="general", id=mid, emoji="+")
    machine.settle()
    assert [p["cmd"] for p in machine.seen].count("message_react_add") == 1
    machine.teardown()


def test_an_edit_whose_read_predates_a_delete_is_refused():
    machine = replay()
    mid = machine.created[0]
    machine.start(1, "message_edit", channel="general", id=mid, content="late")  # read done, waiting
    machine.start(1, "message_delete", channel="general", id=mid)
    delete = machine.inflight[-1]
    machine.advance(delete)  # the delete decides first
    machine.settle()
    assert [p["cmd"] for p in machine.seen] == ["message_new", "message_delete"]
    machine.teardown()


def test_race_guards_are_forgotten_after_a_minute():
    machine = replay()
    first = machine.created[0]
    machine.start(1, "message_react_add", channel="general", id=first, emoji="+")
    machine.start(1, "message_delete", channel="general", id=first)
    machine.settle()
    assert first in machine.state.deleted_messages
    assert (first, "+", "u-alice") in machine.state.recent_reactions
    machine.start(1, "message_new", at=2000.0, channel="general", content="later")
    machine.settle()
    second = machine.created[-1]
    machine.start(1, "message_react_add", at=2000.0, channel="general", id=second, emoji="+")
    machine.start(1, "message_delete", at=2000.0, channel="general", id=second)
    machine.settle()
    assert set(machine.state.deleted_messages) == {second}
    assert set(machine.state.recent_reactions) == {(second, "+", "u-alice")}
    machine.teardown()


def test_an_edit_whose_read_predates_a_pin_broadcasts_the_pin():
    """The edit read the message before the pin was decided; its broadcast still says pinned (a
    client that takes the edited message as it comes must not lose the pin)."""
    machine = replay()
    mid = machine.created[0]
    machine.start(1, "message_edit", channel="general", id=mid, content="late")  # read done, waiting
    machine.start(2, "message_pin", channel="general", id=mid)
    machine.advance(machine.inflight[-1])  # the pin decides first
    machine.settle()
    assert [(p["cmd"], p.get("pinned", p.get("message", {}).get("pinned"))) for p in machine.seen] == [
        ("message_new", False), ("message_pin", True), ("message_edit", True)]
    machine.teardown()
