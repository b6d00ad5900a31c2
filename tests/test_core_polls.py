"""A hypothesis state machine over the pure core's polls: creations, votes (added and taken back),
ends, expiries (the timer's step) and deletions of poll messages from several members, with their
steps interleaved the way the shell can interleave them (the machinery of test_core_messages.py:
a command waits at every `Fetch` and `Persist`; writes commit in the order they were queued). The
store is the real SQL on an in-memory database.

Properties:
* the per-option counters always equal the votes stored (triggers, under any interleaving);
* a single-select poll never holds two votes of one user;
* nothing is stored for a vote committed after its poll ended (by poll_end or expiry);
* an observer never sees who voted for what while a poll is open (no voters, `user` null);
* nothing about a poll reaches the observer after its message's `message_delete`;
* once settled, `poll_results` agrees with the rows stored, and a deleted message left no rows.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from originchats.core.context import Context
from originchats.core.effects import Persist, Reply, Send
from originchats.core.poll_expiry import expire_due
from originchats.core.request import Request
from originchats.core.writes import PollVoted
from tests.core_driver import CoreDriver, InFlight
from tests.test_core_messages import MEMBERS, OBSERVER, initial_state

OPTIONS = ["a", "b", "c"]


class PollsMachine(CoreDriver):
    def __init__(self) -> None:
        super().__init__(initial_state())
        self.ids = itertools.count()
        self.now = 1000.0
        self.polls: list[tuple[str, str]] = []  # (poll id, message id) of every poll announced
        self.deleted: set[str] = set()  # message ids whose message_delete the observer got
        self.replies: list[dict] = []  # the observer's own replies

    # ---- driving, with time ------------------------------------------------------------------

    def start(self, conn_id: int, cmd: str, at: float | None = None, **fields: Any) -> None:
        n = next(self.ids)
        self.now += 0.5
        self.begin(Context(conn_id=conn_id, now=self.now if at is None else at, new_id=f"id-{n}",
                           new_token=f"{n:06d}" + "A" * 37), cmd, **fields)

    def deliver(self, job: InFlight, effect: Any) -> None:
        if isinstance(effect, (Send, Reply)):
            packet = effect.packet
            if packet.get("cmd") == "message_new" and "poll_id" in packet:
                self.polls.append((packet["poll_id"], packet["id"]))
            if isinstance(effect, Send) and OBSERVER in effect.conns:
                self.check_seen(packet)
            if isinstance(effect, Reply) and job.ctx.conn_id == OBSERVER:
                self.replies.append(packet)
            if isinstance(effect, Send) and OBSERVER in effect.conns:
                self.seen.append(packet)

    def apply(self, persist: Persist) -> None:
        votes = [w for w in persist.writes if isinstance(w, PollVoted)]
        before = {v.poll_id: (self.ended(v.poll_id), self.rows(v.poll_id)) for v in votes}
        super().apply(persist)
        for poll_id, (ended, rows) in before.items():
            if ended:
                assert self.rows(poll_id) == rows, "a vote was stored on an ended poll"

    def ended(self, poll_id: str) -> bool:
        row = self.con.execute("SELECT ended FROM polls WHERE id = ?", (poll_id,)).fetchone()
        return bool(row and row[0])

    def rows(self, poll_id: str) -> list[tuple]:
        return self.con.execute("SELECT option_id, user_id FROM poll_votes WHERE poll_id = ? ORDER BY seq",
                                (poll_id,)).fetchall()

    def check_seen(self, packet: dict[str, Any]) -> None:
        cmd = packet.get("cmd")
        if cmd == "message_delete":
            self.deleted.add(packet["id"])
        if cmd in ("poll_vote_update", "poll_end"):
            assert packet["message_id"] not in self.deleted, packet
            results = packet["results"]
            if not results["ended"]:
                assert all(r["voters"] == [] for r in results["results"]), packet
            if cmd == "poll_vote_update":
                assert packet["user"] is None and packet["option_ids"] == [], packet

    def pick_poll(self, i: int) -> tuple[str, str]:
        return self.polls[i % len(self.polls)] if self.polls else ("missing", "missing")

    # ---- rules -------------------------------------------------------------------------------

    @rule(who=st.sampled_from(list(MEMBERS)), multi=st.booleans(), lasts=st.sampled_from([None, None, 5.0, 30.0]))
    def create(self, who: int, multi: bool, lasts: float | None) -> None:
        """A new poll, stored at once (the races worth finding are between the commands on it)."""
        fields: dict[str, Any] = {"channel": "general", "question": "q", "options": OPTIONS,
                                  "allow_multiselect": multi}
        if lasts is not None:
            fields["expires_at"] = self.now + lasts
        self.start(who, "poll_create", **fields)
        self.settle()

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 20),
          options=st.lists(st.sampled_from(["0", "1", "2"]), min_size=1, max_size=3),
          remove=st.sampled_from([False, False, True]), by_message=st.booleans())
    def vote(self, who: int, i: int, options: list[str], remove: bool, by_message: bool) -> None:
        poll_id, message_id = self.pick_poll(i)
        ref = {"message_id": message_id} if by_message else {"poll_id": poll_id}
        self.start(who, "poll_vote", option_ids=options, remove=remove, **ref)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 20), option=st.sampled_from(["0", "1", "2"]))
    def vote_one(self, who: int, i: int, option: str) -> None:
        """Votes are the point: a second rule doubles their share of the steps."""
        self.start(who, "poll_vote", poll_id=self.pick_poll(i)[0], option_id=option)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 20))
    def end(self, who: int, i: int) -> None:
        self.start(who, "poll_end", poll_id=self.pick_poll(i)[0])

    @rule(i=st.integers(0, 20))
    def delete_poll_message(self, i: int) -> None:
        self.start(3, "message_delete", channel="general", id=self.pick_poll(i)[1])  # adam may delete any

    @rule(seconds=st.sampled_from([1.0, 5.0]))
    def expire(self, seconds: float) -> None:
        """Time passes and the expiry timer runs its step (conn -1: nobody's command)."""
        self.now += seconds
        ctx = Context(conn_id=-1, now=self.now, new_id=f"id-{next(self.ids)}")
        step = expire_due(self.state, ctx)
        self.state = step.state
        self.inflight.append(InFlight(ctx, Request(cmd="poll_expiry", data={}), step.effects))
        self.advance(self.inflight[-1])

    # ---- properties --------------------------------------------------------------------------

    @invariant()
    def counters_match_the_votes(self) -> None:
        kept = self.con.execute("SELECT poll_id, option_id, votes FROM poll_options ORDER BY 1, 2").fetchall()
        counted = dict(((p, o), n) for p, o, n in self.con.execute(
            "SELECT poll_id, option_id, COUNT(*) FROM poll_votes GROUP BY 1, 2"))
        assert all(n == counted.get((p, o), 0) for p, o, n in kept), (kept, counted)
        assert set(counted) <= {(p, o) for p, o, _ in kept}
        double = self.con.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM poll_votes v JOIN polls p ON p.id = v.poll_id"
            " WHERE p.allow_multiselect = 0 GROUP BY v.poll_id, v.user_id HAVING COUNT(*) > 1)").fetchone()[0]
        assert double == 0

    def check_settled(self) -> None:
        for poll_id, message_id in self.polls:
            stored = self.con.execute("SELECT COUNT(*) FROM polls WHERE id = ?", (poll_id,)).fetchone()[0]
            alive = self.con.execute("SELECT COUNT(*) FROM messages WHERE id = ?", (message_id,)).fetchone()[0]
            assert stored == alive
            if not stored:
                assert self.rows(poll_id) == []
                continue
            self.start(OBSERVER, "poll_results", poll_id=poll_id)
            while self.inflight:
                self.advance(self.inflight[0])
            reply = self.replies[-1]
            counts = dict(self.con.execute(
                "SELECT option_id, COUNT(*) FROM poll_votes WHERE poll_id = ? GROUP BY 1", (poll_id,)).fetchall())
            assert reply["cmd"] == "poll_results", reply
            assert {r["id"]: r["votes"] for r in reply["results"]["results"]} == {
                str(i): counts.get(str(i), 0) for i in range(len(OPTIONS))}


PollsMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPollsMachine = PollsMachine.TestCase


def test_the_machine_sees_a_vote_that_races_poll_end():
    """Replayed: a vote read while the poll was open commits after poll_end: nothing is stored,
    the voter is told the poll has ended, and the observer hears only the end."""
    machine = PollsMachine()
    machine.start(1, "poll_create", channel="general", question="q", options=OPTIONS)
    machine.settle()
    poll_id, _ = machine.polls[0]
    machine.start(2, "poll_vote", poll_id=poll_id, option_id="0")  # its read: open
    vote = machine.inflight[-1]
    machine.start(1, "poll_end", poll_id=poll_id)
    end = machine.inflight[-1]
    machine.advance(end)  # poll_end decides, and its commit is queued first
    machine.advance(vote)
    machine.settle()
    assert machine.rows(poll_id) == []
    assert [p["cmd"] for p in machine.seen] == ["message_new", "poll_end"]
    machine.teardown()
