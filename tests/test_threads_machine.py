"""The pure core with threads, driven by hypothesis.

* `ThreadsMachine` extends the messages state machine (tests/test_core_messages.py): the same
  members post, edit, delete and react in `general` and in a thread of a forum, while a manager
  locks, archives and un-archives the thread and members join and leave it, every command's steps
  interleaved the way the shell can interleave them. Once everything settles, an observer's
  picture of each history is what the store returns, and the thread in memory (flags,
  participants, newest message) is what a restart would load from the store.
* `ThreadTableMachine`: `ThreadTable`'s forum index and byte counter always equal a scan of its
  entries, through random changes and `revert`.
"""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from originchats.core import writes
from originchats.core.model import Channel, Thread
from originchats.core.ops import (Around, GetMessage, History, HistoryBefore, LastMessage, LastMessages, PinTarget, Pinned,
                                  Replies, Search)
from originchats.core.revert import revert
from originchats.core.state import ServerState
from originchats.core.thread_table import ThreadTable
from originchats.core.threadsize import listing_bytes
from originchats.store import load, reads, sql
from tests.test_core_messages import MEMBERS, TEXTS, MessagesMachine, initial_state

FORUM = Channel(id="c-forum", name="forum", type="forum",
                permissions={"view": ("user",), "send": ("user",), "create_thread": ("user",), "delete": ("admin",)})
THREAD = "t-1"
ADAM = 3  # admin: manage_threads
WHERE = st.sampled_from(["general", THREAD])


def thread_state() -> ServerState:
    state = initial_state()
    state = attrs.evolve(state, channels=(*state.channels, FORUM))
    return state.with_thread(Thread(id=THREAD, channel_id=FORUM.id, name="topic", created_by="u-alice",
                                    created_at=1.0, participants=("u-alice",)))


def where(place: str) -> dict[str, str]:
    return {"channel": "general"} if place == "general" else {"thread_id": place}


class ThreadsMachine(MessagesMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = thread_state()
        self.con.execute("BEGIN")
        sql.apply_write(self.con, writes.ChannelSaved(FORUM))
        sql.apply_write(self.con, writes.ThreadSaved(self.state.threads[THREAD]))
        self.con.execute("COMMIT")
        self.placed: dict[str | None, list[str]] = {None: [], THREAD: []}  # message ids by thread

    def deliver(self, job: Any, effect: Any) -> None:
        packet = getattr(effect, "packet", None)
        if packet is not None and packet.get("cmd") == "message_new" and "message" in packet:
            self.placed[packet["thread_id"]].append(packet["message"]["id"])
        super().deliver(job, effect)

    def pick_in(self, place: str, i: int) -> str:
        """Mostly a message of `place`, sometimes any (a message of the other place)."""
        own = self.placed[None if place == "general" else place]
        return own[i % len(own)] if own and i % 5 else self.pick(i)

    def teardown(self) -> None:
        self.settle()
        super().teardown()

    # ---- rules (the inherited ones act in `general`) ------------------------------------------

    @rule(who=st.sampled_from(list(MEMBERS)), text=TEXTS, reply=st.one_of(st.none(), st.integers(0, 50)))
    def post_in_thread(self, who: int, text: str, reply: int | None) -> None:
        fields: dict[str, Any] = {"reply_to": self.pick(reply)} if reply is not None else {}
        self.start(who, "message_new", thread_id=THREAD, content=text, **fields)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), text=TEXTS, place=WHERE)
    def edit_in(self, who: int, i: int, text: str, place: str) -> None:
        self.start(who, "message_edit", id=self.pick_in(place, i), content=text, **where(place))

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), place=WHERE)
    def delete_in(self, who: int, i: int, place: str) -> None:
        self.start(who, "message_delete", id=self.pick_in(place, i), **where(place))

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), add=st.booleans())
    def react_in_thread(self, who: int, i: int, add: bool) -> None:
        self.start(who, "message_react_add" if add else "message_react_remove", thread_id=THREAD,
                   id=self.pick_in(THREAD, i), emoji="+")

    @rule(locked=st.booleans(), archived=st.booleans())
    def manage(self, locked: bool, archived: bool) -> None:
        self.start(ADAM, "thread_update", thread_id=THREAD, locked=locked, archived=archived)

    @rule(who=st.sampled_from(list(MEMBERS)), join=st.booleans())
    def join_or_leave(self, who: int, join: bool) -> None:
        self.start(who, "thread_join" if join else "thread_leave", thread_id=THREAD)

    @rule(who=st.sampled_from(list(MEMBERS)))
    def read_thread(self, who: int) -> None:
        self.start(who, "thread_messages", thread_id=THREAD, limit=5)

    # ---- properties --------------------------------------------------------------------------

    @invariant()
    def observer_never_hears_of_a_message_outside_its_life(self) -> None:
        born: set[str] = set()
        dead: set[str] = set()
        for p in self.seen:
            if p["cmd"] not in ("message_new", "message_edit", "message_delete", "message_react_add",
                                "message_react_remove"):
                continue
            mid = p["message"]["id"] if p["cmd"] == "message_new" else p["id"]
            assert mid not in dead, (p, self.seen)
            if p["cmd"] == "message_new":
                born.add(mid)
            else:
                assert mid in born, p
            if p["cmd"] == "message_delete":
                dead.add(mid)

    def check_settled(self) -> None:
        pictures: dict[str | None, dict[str, dict]] = {None: {}, THREAD: {}}
        located: dict[str, str | None] = {}
        thread_packet: dict | None = None
        for p in self.seen:
            cmd = p["cmd"]
            if cmd == "message_new":
                m = p["message"]
                located[m["id"]] = p["thread_id"]
                pictures[p["thread_id"]][m["id"]] = {"content": m["content"], "reactions": {}}
                continue
            if cmd in ("thread_update", "thread_join", "thread_leave"):
                thread_packet = p["thread"]
                continue
            if not cmd.startswith("message_") or cmd in ("message_pin", "message_unpin"):
                continue  # pins are checked by the base machine
            assert p.get("thread_id") == located[p["id"]], p  # the thread is named on every packet
            picture = pictures[located[p["id"]]]
            if cmd == "message_edit":
                picture[p["id"]]["content"] = p["content"]
            elif cmd == "message_delete":
                del picture[p["id"]]
            else:
                users = picture[p["id"]]["reactions"].setdefault(p["emoji"], [])
                if cmd == "message_react_add":
                    users.append(p["from"])
                else:
                    users.remove(p["from"])
                    if not users:
                        del picture[p["id"]]["reactions"][p["emoji"]]
        names = {u.id: u.username for u in self.state.users.values()}
        for thread_id, channel_id in ((None, "c-general"), (THREAD, FORUM.id)):
            stored = reads.history(self.con, History(channel_id, 0, 10_000, thread_id))
            picture = pictures[thread_id]
            assert [m.id for m in stored] == list(picture)
            for m in stored:
                assert m.content == picture[m.id]["content"]
                assert {e: [names[u] for u in us] for e, us in m.reactions} == picture[m.id]["reactions"]
        # the thread in memory is the one a restart would load
        (loaded,) = load.load_threads(self.con)
        assert self.state.threads[THREAD] == loaded
        if thread_packet is not None:  # the last announcement shows the flags and participants kept
            assert (thread_packet["locked"], thread_packet["archived"]) == (loaded.locked, loaded.archived)
            assert thread_packet["participants"] == [names[u] for u in loaded.participants]


def run_op(con: Any, op: Any) -> Any:
    assert type(op) in (GetMessage, History, Around, LastMessages, HistoryBefore, LastMessage, PinTarget, Pinned, Replies,
                        Search), op
    return reads.run_read(con, op)


# the base machine's reads go through its module's run_op; the thread reads are allowed here
import tests.test_core_messages as _base  # noqa: E402

ThreadsMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class TestThreadsMachine(ThreadsMachine.TestCase):  # type: ignore[name-defined,misc]
    def setUp(self) -> None:
        self._run_op, _base.run_op = _base.run_op, run_op

    def tearDown(self) -> None:
        _base.run_op = self._run_op


def test_a_delete_of_the_newest_message_racing_another_delete_leaves_the_right_newest():
    """Two deletes of a thread's two newest messages, the second decided before the first is
    stored: the thread ends with the third newest, not a deleted one."""
    old, _base.run_op = _base.run_op, run_op
    try:
        machine = ThreadsMachine()
        for text in ("a", "b", "c"):
            machine.start(1, "message_new", thread_id=THREAD, content=text)
        machine.settle()
        a, b, c = machine.created
        machine.start(1, "message_delete", thread_id=THREAD, id=c)  # its target read
        machine.advance(machine.inflight[-1])  # decided: c is the newest, to be read again once stored
        machine.start(1, "message_delete", thread_id=THREAD, id=b)
        machine.advance(machine.inflight[-1])  # decided while the newest (c) is already deleted
        machine.commit_next()  # c's delete stored; its newest-message read sees b, not yet deleted
        assert machine.inflight[0].todo  # that read's result, not applied yet
        machine.advance(machine.inflight[0])
        assert machine.state.threads[THREAD].last_message_id == b
        machine.settle()  # b's delete stored, and the newest read again
        assert machine.state.threads[THREAD].last_message_id == a
        machine.teardown()
    finally:
        _base.run_op = old


# ---- ThreadTable ------------------------------------------------------------------------------

THREAD_IDS = st.sampled_from(["t1", "t2", "t3", "t4"])
CHANNEL_IDS = st.sampled_from(["c1", "c2", "c3"])


class ThreadTableMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = ServerState()
        self.plain: dict[str, Thread] = {}
        self.history: list[tuple[ServerState, ServerState, dict[str, Thread]]] = []

    @rule(tid=THREAD_IDS, cid=CHANNEL_IDS, name=st.text(max_size=5), n=st.integers(0, 3), at=st.integers(0, 3))
    def save(self, tid: str, cid: str, name: str, n: int, at: int) -> None:
        thread = Thread(id=tid, channel_id=cid, name=name, created_by="u", created_at=float(at),
                        participants=tuple(f"u{i}" for i in range(n)))
        before = self.state
        self.state = self.state.with_thread(thread)
        self.history.append((before, self.state, dict(self.plain)))
        self.plain[tid] = thread

    @rule(tid=THREAD_IDS)
    def delete(self, tid: str) -> None:
        self.state = self.state.without_thread(tid)
        self.plain.pop(tid, None)

    @rule(cid=CHANNEL_IDS)
    def drop_channel(self, cid: str) -> None:
        self.state = attrs.evolve(self.state, threads=self.state.threads.without_channel(cid))
        self.plain = {k: t for k, t in self.plain.items() if t.channel_id != cid}

    @rule()
    def undo_last_save(self) -> None:
        """`revert` of the last save puts back the thread it replaced (or removes a new one),
        unless something changed that key since."""
        if not self.history:
            return
        before, after, plain_before = self.history.pop()
        self.state = revert(self.state, before, after)
        for tid in set(before.threads) | set(after.threads):
            old, new = before.threads.get(tid), after.threads.get(tid)
            if old is new or self.plain.get(tid) is not new:
                continue
            if old is None:
                del self.plain[tid]
            else:
                self.plain[tid] = old

    @invariant()
    def indexes_are_a_scan(self) -> None:
        table = self.state.threads
        assert dict(table) == self.plain
        assert table.listing_bytes == sum(listing_bytes(t) for t in self.plain.values())
        scan: dict[str, list[Thread]] = {}
        for t in sorted(self.plain.values(), key=lambda t: (t.created_at, t.id)):
            scan.setdefault(t.channel_id, []).append(t)
        assert {cid: list(table.of_channel(cid)) for cid in ("c1", "c2", "c3") if table.of_channel(cid)} == scan
        assert dict(table.per_channel()) == {cid: len(ts) for cid, ts in scan.items()}
        assert ThreadTable.of(self.plain.values()).channel_index() == table.channel_index()


ThreadTableMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                                derandomize=True, database=None)
TestThreadTable = ThreadTableMachine.TestCase
