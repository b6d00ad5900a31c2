"""Driving the pure core the way the shell does, for the Hypothesis state machines
(test_core_messages.py, test_core_polls.py, test_threads_machine.py).

A command runs its effects until its next wait: a `Persist` queues its writes (they commit in the
order they were queued, when the `commit` rule or `settle` says so), a `Fetch` reads at once and
runs its continuation at the command's next turn, on the state of that moment (other commands may
have run in between: reads do not wait for writes here, which is the racier case). `step` lets any
ready command take its next turn; `settle` runs everything to its end and then `check_settled`.
The store is the real SQL (`originchats.store.sql`) on an in-memory copy of a migrated database.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from originchats.core import dispatch
from originchats.core.context import Context
from originchats.core.effects import Fetch, Persist
from originchats.core.request import Request
from originchats.core.state import ServerState
from originchats.store import grams, reads, sql
from originchats.store.migrate import apply_migrations

_TEMPLATE: list[sqlite3.Connection] = []


def template() -> sqlite3.Connection:
    """An empty migrated database, copied for each example (migrating each time is slow)."""
    if not _TEMPLATE:
        con = sqlite3.connect(":memory:", isolation_level=None)
        apply_migrations(con)
        _TEMPLATE.append(con)
    return _TEMPLATE[0]


class Resume:
    """A read that completed; its continuation has not run yet."""

    def __init__(self, then: Any, result: Any) -> None:
        self.then, self.result = then, result


class InFlight:
    """One request between its steps: what it still has to do."""

    def __init__(self, ctx: Context, req: Request, effects: tuple) -> None:
        self.ctx, self.req = ctx, req
        self.todo: deque = deque(effects)
        self.waiting_commit = False


class CoreDriver(RuleBasedStateMachine):
    """The shell's interleavings over the pure core; subclasses give the state, `deliver` (what the
    other effects do) and `check_settled`, and may wrap `apply` (one queued commit)."""

    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self.con = sqlite3.connect(":memory:", isolation_level=None)
        grams.register(self.con)  # as the store's own connections (store/db.py): the search triggers call it
        template().backup(self.con)
        self.state = state
        self.inflight: list[InFlight] = []
        self.commits: deque[tuple[InFlight, Persist]] = deque()
        self.seen: list[dict] = []  # what the observer received, in order

    def teardown(self) -> None:
        self.con.close()

    def begin(self, ctx: Context, cmd: str, **fields: Any) -> None:
        """Run a command from its first step to its first wait."""
        req = Request(cmd=cmd, data={"cmd": cmd, **fields})
        step = dispatch.handle(self.state, ctx, req)
        self.state = step.state
        self.inflight.append(InFlight(ctx, req, step.effects))
        self.advance(self.inflight[-1])

    def advance(self, job: InFlight) -> None:
        """Run the job's effects up to its next wait."""
        while job.todo and not job.waiting_commit:
            effect = job.todo.popleft()
            if isinstance(effect, Persist):
                job.waiting_commit = True
                self.commits.append((job, effect))
                return
            if isinstance(effect, Fetch):
                job.todo.appendleft(Resume(effect.then, self.run_op(effect.op)))
                return
            if isinstance(effect, Resume):
                step = dispatch.run_guarded(effect.then, self.state, job.ctx, job.req, effect.result)
                self.state = step.state
                job.todo.extendleft(reversed(step.effects))
                continue
            self.deliver(job, effect)
        if not job.todo and not job.waiting_commit:
            self.inflight.remove(job)

    def run_op(self, op: Any) -> Any:
        return reads.run_read(self.con, op)

    def deliver(self, job: InFlight, effect: Any) -> None:
        raise NotImplementedError

    def apply(self, persist: Persist) -> None:
        """One queued commit: its writes in one transaction, as the writer does."""
        self.con.execute("BEGIN")
        for fact in persist.writes:
            sql.apply_write(self.con, fact)
        self.con.execute("COMMIT")

    def commit_next(self) -> None:
        job, persist = self.commits.popleft()
        self.apply(persist)
        job.waiting_commit = False
        job.todo.extendleft(reversed(persist.then))
        self.advance(job)

    def check_settled(self) -> None:
        raise NotImplementedError

    @precondition(lambda self: any(j.todo and not j.waiting_commit for j in self.inflight))
    @rule(i=st.integers(0, 20))
    def step(self, i: int) -> None:
        ready = [j for j in self.inflight if j.todo and not j.waiting_commit]
        self.advance(ready[i % len(ready)])

    @precondition(lambda self: bool(self.commits))
    @rule()
    def commit(self) -> None:
        self.commit_next()

    @rule()
    def settle(self) -> None:
        while self.inflight:
            ready = [j for j in self.inflight if j.todo and not j.waiting_commit]
            if ready:
                self.advance(ready[0])
            else:
                self.commit_next()
        self.check_settled()
