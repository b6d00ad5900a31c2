"""Rejected commands and the log (issue 14, defect 4): client text is cut in log lines, repeated
rejections from one address are sampled (with a summary line), and a socket that keeps sending what
gets rejected is closed (1008) while occasional bad input never closes anything (README §8)."""

from __future__ import annotations

import trio

from tests.client import settle
from tests.test_logs import json_logs, parse, restore_logging  # noqa: F401  (fixtures)

AUTH_REQUIRED = {"cmd": "auth_error", "val": "Authentication required"}


async def test_a_100_kb_command_name_is_cut_in_the_log_and_echoed_in_full(json_logs, server):  # noqa: F811
    alice = await server.user("alice")
    name = "x" * 100_000
    await alice.send(name, listener="L")
    # the answer is the sender's own text, as before (docs/compatibility.md): only the log is cut
    assert await alice.recv() == {"cmd": "error", "src": name, "val": f"Unknown command: {name}", "listener": "L"}
    anon = await server.connect()
    await anon.send("y" * 10_000)  # before login: under its 16 KB frame limit, so it is read
    assert await anon.recv() == AUTH_REQUIRED
    await settle()
    rejected = [e for e in parse(json_logs) if e["event"] == "command_rejected"]
    assert [len(e["cmd"]) < 200 and len(e["reason"]) < 200 for e in rejected] == [True, True]
    assert rejected[0]["cmd"].startswith("x" * 128) and "[100000 chars]" in rejected[0]["cmd"]
    assert rejected[1]["reason"] == "Authentication required"
    text = json_logs.getvalue()
    assert "x" * 200 not in text and "y" * 200 not in text
    assert len(text) < 10_000


async def test_rejections_are_logged_ten_a_minute_per_address_then_summed_up(
        json_logs, server, autojump_clock):  # noqa: F811
    alice = await server.user("alice", ip="10.0.0.1")
    alice2 = await server.user("alice2", ip="10.0.0.1")  # another socket, same address: same allowance
    bob = await server.user("bob", ip="10.0.0.2")
    await alice.drain(), await alice2.drain(), await bob.drain()
    for _ in range(30):
        await alice.send_raw("nope")
        await alice.expect_error("Invalid JSON")
    await alice2.send("no_such_command")
    await alice2.expect("error")
    await bob.send_raw("nope")  # another address: logged
    await bob.expect_error("Invalid JSON")
    await settle()
    rejected = [e for e in parse(json_logs) if e["event"] == "command_rejected"]
    assert len(rejected) == 11 and rejected[-1]["reason"] == "invalid_json"
    assert not [e for e in parse(json_logs) if e["event"] == "command_rejected_suppressed"]
    await trio.sleep(61)  # the minute is over: one summary line for 10.0.0.1
    summaries = [e for e in parse(json_logs) if e["event"] == "command_rejected_suppressed"]
    assert [(e["ip"], e["count"]) for e in summaries] == [("10.0.0.1", 21)]
    await alice.send_raw("nope")  # a new minute: logged again
    await alice.expect_error("Invalid JSON")
    await settle()
    assert len([e for e in parse(json_logs) if e["event"] == "command_rejected"]) == 12


async def test_a_socket_that_keeps_sending_garbage_is_closed_1008(server, autojump_clock):
    flooder = await server.user("alice")
    anon = await server.connect()
    sent = 0
    for _ in range(150):  # limits.max_rejected_per_minute is 100
        if flooder.closed.is_set() or anon.closed.is_set():
            break
        await flooder.send_raw('{"cmd": 7}')
        await anon.send("users_list")  # before login: "Authentication required" every time
        sent += 1
        await settle()
    assert await flooder.wait_closed() == 1008
    assert await anon.wait_closed() == 1008
    assert sent == 101


async def test_occasional_bad_input_never_closes_the_socket(server, autojump_clock):
    steady = await server.user("bob")
    for _ in range(300):  # one bad frame a second for five minutes: 60 a minute
        await steady.send_raw("nope")
        await steady.expect_error("Invalid JSON")
        await trio.sleep(1)
    await steady.send("ping")
    await steady.expect("pong")
