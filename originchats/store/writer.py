"""The single writer: owns the write connection and commits queued writes in groups.

Callers `await writer.submit(writes)`; it returns once those writes are committed (or raises
`WriteFailed`). The writer task takes everything waiting in its inbox (up to `max_batch` entries),
runs them in one `BEGIN IMMEDIATE … COMMIT` in a worker thread, and wakes every waiter. Each entry
runs inside a SAVEPOINT, so a failing entry is rolled back alone and the rest of the group commits.
While one group commits, the next one accumulates: with many senders a commit (and its fsync)
serves many messages.

Queue policy (back-pressure, nothing dropped):

* The inbox holds at most `inbox_size` entries (`storage.write_queue`, default `WRITE_QUEUE`; an
  entry is one command's writes). When it is full, `submit` waits for room, and `submit_nowait`
  refuses (returns False) so that its caller awaits `submit` instead: the connection that submits
  waits (the hub stops reading its socket until there is room, server/pipeline.py), and TCP pushes
  back on the client. A write is never dropped; connections that do not write are not held up.
* The committed groups wait for their report (wake the waiters, run the `then`s) in a channel of
  capacity 0: one group is reported while the next one commits, and the commit loop hands over a
  group only when the report task takes it. So at most two groups (2 × `max_batch` entries) are
  committed but not yet announced, however slow the announcing is, and a slow report backs up into
  the inbox, where the rule above applies.
* On shutdown the inbox is closed; the task drains what is queued, commits it and returns.

A failed entry is undone before anything is announced: its `undo` (the hub reverts the state change
of the step that made the writes, core/revert.py) runs in the report task, failed entries of a group
newest first, before the group's `then`s. After a group with a failure, the next group waits until
that report is done, so no later commit lands before the state is taken back.

`submit_nowait(writes, then)` queues without waiting: `then(error)` is called by the writer task
itself right after the commit, in commit order (= submission order). The hub uses it so that one
connection can have several messages committing at once and a whole group's broadcasts go out in
one tick, instead of waking one waiting task per message (docs/performance.md).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

import attrs
import structlog
import trio

from ..config import StorageSection
from ..core.writes import MessageCreated, Write
from .search_index import index_pending
from .sql import apply_write

#: writes that sql.py applies with a single statement (their triggers are part of it)
SINGLE_STATEMENT = frozenset({MessageCreated})

log = structlog.get_logger("originchats.writer")

#: Entries (one command's writes each) that may wait for the writer: `storage.write_queue`'s default.
WRITE_QUEUE: int = attrs.fields(StorageSection).write_queue.default
#: New or edited messages that wait for the search index before a group indexes them all:
#: `storage.search_batch`'s default.
SEARCH_BATCH: int = attrs.fields(StorageSection).search_batch.default


class WriteFailed(Exception):
    pass


@attrs.define(eq=False)
class _Entry:
    writes: Sequence[Write]
    done: trio.Event | None = attrs.Factory(trio.Event)
    error: BaseException | None = None
    then: Callable[[BaseException | None], None] | None = None
    undo: Callable[[], None] | None = None


def _apply_batch(con: sqlite3.Connection, batch: list[_Entry], search_batch: int = SEARCH_BATCH) -> None:
    con.execute("BEGIN IMMEDIATE")
    try:
        for entry in batch:
            if len(entry.writes) == 1 and type(entry.writes[0]) in SINGLE_STATEMENT:
                # one statement is atomic by itself: a failing one leaves nothing behind and the
                # transaction goes on, so the savepoint pair (two more statements) is not needed
                try:
                    apply_write(con, entry.writes[0])
                except Exception as exc:  # noqa: BLE001 - as below
                    entry.error = exc
                continue
            con.execute("SAVEPOINT entry")
            try:
                for fact in entry.writes:
                    apply_write(con, fact)
            except Exception as exc:  # noqa: BLE001 - sqlite3.Error, but also a value SQLite cannot
                # bind (a lone surrogate: UnicodeEncodeError; an int over 64 bits: OverflowError):
                # this entry fails alone, the rest of the group commits, the writer lives on
                con.execute("ROLLBACK TO entry")
                entry.error = exc
            con.execute("RELEASE entry")
        _index_pending(con, search_batch)
        con.execute("COMMIT")
    except BaseException as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        for entry in batch:
            entry.error = entry.error or exc
        if not isinstance(exc, sqlite3.Error):
            raise


def _index_pending(con: sqlite3.Connection, at_least: int) -> None:
    """The waiting messages into the search index, in this group's transaction, once there are
    `at_least` of them (migrations/0008_search_index.sql): one FTS5 segment for all of them
    instead of one per message. If it fails, they wait on (a search reads them one by one) and
    the group commits all the same."""
    con.execute("SAVEPOINT search_index")
    try:
        index_pending(con, at_least)
    except sqlite3.Error as exc:
        con.execute("ROLLBACK TO search_index")
        log.warning("search_index_failed", error=describe(exc))
    con.execute("RELEASE search_index")


def commit_now(con: sqlite3.Connection, writes: Sequence[Write]) -> None:
    """Commit `writes` in one transaction, now, on the calling thread: for a stopped server (the
    offline admin path, server/offline.py), where no writer task runs. On failure nothing is
    kept and the error is raised."""
    con.execute("BEGIN IMMEDIATE")
    try:
        for fact in writes:
            apply_write(con, fact)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


def describe(exc: BaseException) -> str:
    """SQLite's own messages name constraints, never bound values; other errors (a value that
    cannot be bound) may quote the value, which can be message content: only their type."""
    if isinstance(exc, sqlite3.Error):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


@attrs.define(eq=False)
class Writer:
    con: sqlite3.Connection
    max_batch: int = 1024
    inbox_size: int = WRITE_QUEUE
    search_batch: int = SEARCH_BATCH
    _send: trio.MemorySendChannel | None = None
    _recv: trio.MemoryReceiveChannel | None = None
    _limiter: trio.CapacityLimiter = attrs.Factory(lambda: trio.CapacityLimiter(1))
    batches: int = 0
    committed: int = 0
    # told of each committed group: (entries, seconds the commit took) (server/metrics.py)
    observe: Callable[[int, float], None] | None = None

    def __attrs_post_init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel(self.inbox_size)

    async def submit(self, writes: Sequence[Write], then: Callable[[BaseException | None], None] | None = None,
                     undo: Callable[[], None] | None = None) -> None:
        """Queue `writes` (waiting while the inbox is full) and return after their commit; a given
        `then` runs first, in the writer task, in commit order (as with `submit_nowait`); `undo`
        runs before it if the commit failed."""
        entry = _Entry(writes, then=then, undo=undo)
        assert self._send is not None
        try:
            await self._send.send(entry)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            if undo is not None:
                undo()
            raise WriteFailed("the writer is shut down") from None
        await self.wait(entry)

    def enqueue(self, writes: Sequence[Write], then: Callable[[BaseException | None], None] | None = None,
                undo: Callable[[], None] | None = None) -> _Entry | None:
        """Queue `writes` without waiting, for `wait`: None when the inbox is full (then `submit`).
        Once queued they commit, and `then` runs in the writer task, whatever becomes of the caller."""
        assert self._send is not None
        entry = _Entry(writes, then=then, undo=undo)
        try:
            self._send.send_nowait(entry)
        except trio.WouldBlock:
            return None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            entry.error = WriteFailed("the writer is shut down")
            if undo is not None:
                undo()
            entry.done.set()  # type: ignore[union-attr]
        return entry

    async def wait(self, entry: _Entry) -> None:
        """Until `entry` (from `enqueue`) is committed; `WriteFailed` when it was not."""
        await entry.done.wait()  # type: ignore[union-attr]
        if entry.error is not None:
            if isinstance(entry.error, WriteFailed):
                raise entry.error
            raise WriteFailed(str(entry.error)) from entry.error

    def submit_nowait(self, writes: Sequence[Write], then: Callable[[BaseException | None], None],
                      undo: Callable[[], None] | None = None) -> bool:
        """Queue `writes`; `then(None)` (or `undo()`, then `then(WriteFailed)`) runs in the writer
        task after the commit. False when the inbox is full: the caller should `await submit`."""
        assert self._send is not None
        try:
            self._send.send_nowait(_Entry(writes, done=None, then=then, undo=undo))
        except trio.WouldBlock:
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            if undo is not None:
                undo()
            then(WriteFailed("the writer is shut down"))
        return True

    @property
    def queued(self) -> int:
        """Entries waiting in the inbox."""
        assert self._recv is not None
        return self._recv.statistics().current_buffer_used

    @property
    def busy(self) -> bool:
        """A group is committing in the writer's thread, or writes wait: background work that
        only needs CPU (server/push.py) waits meanwhile, so the commit thread gets the GIL at once."""
        assert self._recv is not None
        return self._limiter.borrowed_tokens > 0 or self._recv.statistics().current_buffer_used > 0

    def close(self) -> None:
        """Stop accepting writes; `run` drains what is queued and returns."""
        assert self._send is not None
        self._send.close()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Commit groups; a second task reports each committed group (wakes its waiters, runs its
        `then`s) in commit order while the next group is already committing: the fsync of one
        group overlaps the broadcasts of the one before (docs/performance.md)."""
        assert self._recv is not None
        # capacity 0: a group is handed over only when the report task takes it (see the module doc)
        committed_send, committed_recv = trio.open_memory_channel[tuple[list[_Entry], trio.Event]](0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._report, committed_recv)
            task_status.started()
            async with committed_send, self._recv:
                async for first in self._recv:
                    batch = [first]
                    while len(batch) < self.max_batch:
                        try:
                            batch.append(self._recv.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    # not abandoned on cancel: a commit that started always finishes and reports
                    with trio.CancelScope(shield=True):
                        started = time.perf_counter()
                        await trio.to_thread.run_sync(_apply_batch, self.con, batch, self.search_batch,
                                                   limiter=self._limiter)
                        if self.observe is not None:
                            self.observe(len(batch), time.perf_counter() - started)
                        reported = trio.Event()
                        await committed_send.send((batch, reported))
                        if any(e.error is not None for e in batch):
                            await reported.wait()  # the failed steps are taken back before the next commit

    async def _report(self, committed: trio.MemoryReceiveChannel[tuple[list[_Entry], trio.Event]]) -> None:
        async with committed:
            async for batch, reported in committed:
                self._report_batch(batch)
                reported.set()

    def _report_batch(self, batch: list[_Entry]) -> None:
        failed = [e for e in batch if e.error is not None]
        self.batches += 1
        self.committed += len(batch) - len(failed)
        log.debug("writer_batch_committed", n=len(batch), failed=len(failed))
        for entry in reversed(failed):  # newest first: a chain of failed changes unwinds fully
            log.error("write_failed", error=describe(entry.error),  # type: ignore[arg-type]
                      kinds=[type(f).__name__ for f in entry.writes])
            if entry.undo is not None:
                try:
                    entry.undo()
                except Exception:  # a bug in one undo must not stop the writer
                    log.exception("undo_failed")
        for entry in batch:
            if entry.then is not None:
                try:
                    entry.then(None if entry.error is None else WriteFailed(describe(entry.error)))
                except Exception:  # a bug after one commit must not stop the writer
                    log.exception("after_commit_failed")
            if entry.done is not None:
                entry.done.set()
