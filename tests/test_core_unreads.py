"""The pure-core state machine of tests/test_core_messages.py, extended to unread state and pings:
members also post and edit messages that mention members and roles, read the newest page
(messages_get's auto-acknowledge), and acknowledge messages, all interleaved with posts, edits and
deletes the way the shell can interleave them. The store is the real SQL on an in-memory database.

Properties, once everything has settled:
* the kept counters agree with the rows they count (`message_totals`, `ping_counts`), and no ping
  row outlives its message;
* every read mark points at a live message of its channel, and the unread count is the number of
  messages after it (the total when there is none);
* each member's inbox (`pings_get`) is exactly the live messages whose last `message_new` /
  `message_edit` packet, as the observer received it, pinged that member by name or by a role the
  member holds: the inbox and the live `pings` object agree.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule

from originchats.core.handlers.unreads import my_targets
from originchats.core.ops import MarkBehind, PingsPage, ReadTarget, UnreadState
from originchats.store import reads
from tests.test_core_messages import MEMBERS, MessagesMachine, run_op

MENTIONS = st.sampled_from(["@bob hi", "@alice", "@alice @bob", "@&user", "@&admin x", "@&moderator",
                            "@adam @&admin", "@olga", "@nobody", "@&ghost", "plain"])
EVERYONE = [*MEMBERS.values(), ("olga", ("user",))]


class UnreadsMachine(MessagesMachine):
    def run_op(self, op: Any) -> Any:
        if type(op) in (UnreadState, ReadTarget, MarkBehind, PingsPage):
            return reads.run_read(self.con, op)
        return run_op(self.con, op)

    @rule(who=st.sampled_from(list(MEMBERS)), text=MENTIONS)
    def post_mention(self, who: int, text: str) -> None:
        self.start(who, "message_new", channel="general", content=text)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), text=MENTIONS)
    def edit_mention(self, who: int, i: int, text: str) -> None:
        self.start(who, "message_edit", channel="general", id=self.pick(i), content=text)

    @rule(who=st.sampled_from(list(MEMBERS)), start=st.sampled_from([0, 0, 2]))
    def read(self, who: int, start: int) -> None:
        self.start(who, "messages_get", channel="general", start=start, limit=3)

    @rule(who=st.sampled_from(list(MEMBERS)), i=st.integers(0, 50), explicit=st.booleans())
    def ack(self, who: int, i: int, explicit: bool) -> None:
        fields = {"message_id": self.pick(i)} if explicit else {}
        self.start(who, "unreads_ack", channel="general", **fields)

    def check_settled(self) -> None:
        super().check_settled()
        con = self.con
        # counters agree with their rows; no ping outlives its message
        assert con.execute("SELECT channel_id, thread_key, n FROM message_totals WHERE n != 0 ORDER BY 1, 2").fetchall() \
            == con.execute("SELECT channel_id, COALESCE(thread_id, ''), COUNT(*) FROM messages GROUP BY 1, 2"
                           " ORDER BY 1, 2").fetchall()
        assert con.execute("SELECT target, channel_id, n FROM ping_counts WHERE n != 0"
                           " AND NOT instr(channel_id, char(31)) ORDER BY 1, 2").fetchall() \
            == con.execute("SELECT target, channel_id, COUNT(*) FROM pings GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        # the pair rows (0011_ping_pairs.sql): messages naming exactly two targets, per pair and channel
        assert con.execute("SELECT target, channel_id, n FROM ping_counts WHERE n != 0"
                           " AND instr(channel_id, char(31)) ORDER BY 1, 2").fetchall() \
            == con.execute("SELECT x.target, x.channel_id || char(31) || y.target, COUNT(*) FROM pings x"
                           " JOIN pings y ON y.seq = x.seq AND y.target > x.target WHERE x.many = 0"
                           " GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        assert con.execute("SELECT COUNT(*) FROM pings WHERE seq NOT IN (SELECT seq FROM messages)").fetchone() == (0,)
        alive = [mid for (mid,) in con.execute("SELECT id FROM messages WHERE channel_id = 'c-general' ORDER BY seq")]
        # marks and unread counts
        for name, _ in EVERYONE:
            ((_, _, last, unread, total),) = reads.run_read(con, UnreadState(f"u-{name}", (("c-general", None),)))
            assert total == len(alive)
            assert unread == (total if last is None else len(alive) - alive.index(last) - 1)
        # the inbox agrees with the live pings the observer saw
        live: dict[str, tuple[list[str], list[str]]] = {}
        for p in self.seen:
            if p["cmd"] == "message_new":
                live[p["message"]["id"]] = (p["message"]["pings"]["users"], p["message"]["pings"]["roles"])
            elif p["cmd"] == "message_edit":
                pings = p["message"].get("pings", {"users": [], "roles": []})
                live[p["id"]] = (pings["users"], pings["roles"])
            elif p["cmd"] == "message_delete":
                del live[p["id"]]
        for name, roles in EVERYONE:
            user = self.state.users[f"u-{name}"]
            expected = [mid for mid in reversed(alive) if name in live[mid][0] or set(roles) & set(live[mid][1])]
            messages, total = reads.run_read(con, PingsPage(my_targets(self.state, user), ("c-general",), 100, 0))
            assert [m.id for m in messages] == expected, (name, live)
            assert total == len(expected)


UnreadsMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestUnreadsMachine = UnreadsMachine.TestCase


def test_a_member_mentioning_everyone_without_the_permission_posts_nothing():
    machine = UnreadsMachine()
    machine.start(1, "message_new", channel="general", content="@&user")
    machine.start(3, "message_new", channel="general", content="@&user")
    machine.settle()
    assert [p["message"]["user"] for p in machine.seen] == ["adam"]
    machine.teardown()


def test_an_edit_moves_the_pings_and_their_counts():
    machine = UnreadsMachine()
    machine.start(1, "message_new", channel="general", content="@bob @&admin")
    machine.settle()
    mid = machine.created[0]
    for text in ("@bob @olga", "plain", "@adam @&admin @bob"):
        machine.start(1, "message_edit", channel="general", id=mid, content=text)
        machine.settle()  # checks the counters, the rows and every inbox
    assert machine.con.execute("SELECT target, n FROM ping_counts WHERE n != 0 AND NOT instr(channel_id, char(31))"
                               " ORDER BY 1").fetchall() == [
        ("r:r1", 1), ("u:u-adam", 1), ("u:u-bob", 1)]
    machine.teardown()
