"""scripts/bench: the help works, and a tiny fan-out against the real server (a subprocess on real
TCP, so the direct-write path of the shell is used) delivers every message with no loss."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    # the module directly (scripts/bench only adds the .venv bootstrap, which the suite already runs in)
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_help_lists_every_scenario():
    out = subprocess.run([str(ROOT / "scripts" / "bench"), "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("fanout", "connect", "logins", "ingest", "history", "rich", "soak", "coldstart", "ceiling", "all"):
        assert name in out.stdout


def test_tiny_fanout_delivers_everything(tmp_path):
    # 300 messages: enough server CPU that its clock-tick-grained reading (10 ms) is never 0
    md = tmp_path / "perf.md"
    out = run_bench("--markdown", str(md), "fanout", "-n", "5", "-s", "2", "-m", "300", "--one-at-a-time", "5")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    r = lines[0]
    assert r["scenario"] == "fanout" and r["n"] == 5 and r["senders"] == 2
    assert r["messages"] == 300 and r["loss"] == 0 and r["loss_total"] == 0 and not r["timed_out"]
    assert r["deliveries_per_s"] > 0 and r["server_us_per_delivery"] > 0
    assert r["lat_one_p50_ms"] is not None and r["ack_one_p50_ms"] is not None
    assert "| fanout" in md.read_text()


def test_hostile_logins_measure_another_address(tmp_path):
    # a few flooding sockets from 127.0.0.1, one password login from 127.0.0.2 (default argon2id)
    out = run_bench("logins", "--hostile", "4", "--victim-logins", "1", "--warmup", "0.5")
    assert out.returncode == 0, out.stderr[-3000:]
    [r] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert r["scenario"] == "logins-hostile" and r["hostile_sockets"] == 4
    assert r["victim_logins"] == 1 and r["victim_errors"] == 0 and r["victim_token_login_ms"] is not None


def test_rich_checks_the_written_history_through_the_protocol():
    # a small world: the scenario raises (and exits non-zero) when what the protocol reports (unread
    # totals and counts, the pings total, pins, threads, search hits) differs from the rows written
    out = run_bench("rich", "--sizes", "0", "3000", "--reps", "3", "--threads", "300", timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    [r] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert r["scenario"] == "rich" and r["sizes"] == [0, 3000]
    small, grown = r["checks"]["0"], r["checks"]["3000"]
    assert small["unread_entries"] == grown["unread_entries"] == 50 + 200  # channels + marked threads
    assert grown["pings_total"] > small["pings_total"] == 60
    for op in ("messages_search", "thread_messages", "messages_pinned", "unreads_get", "pings_get", "poll_vote",
               "message_new_plain", "message_new_mentions"):
        assert r["ops"][op]["3000"]["n"] == 3 and r["ratio_largest_vs_empty"][op] is not None
    assert set(r["mentions_vs_plain"]) == {"0", "3000"}


def test_a_small_webhook_burst_is_throttled_and_loses_no_accepted_post():
    # the scenario raises (and exits non-zero) when an accepted post was not broadcast or not stored
    out = run_bench("webhooks", "--posts", "60", "--secs", "1", "--conns", "4", "--observers", "2",
                    "--per-minute", "600", "--burst", "5", timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    [r] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert r["scenario"] == "webhooks" and r["accepted"] >= 5 and r["throttled"] > 0
    assert r["accepted"] + r["throttled"] == 60 and r["lost_broadcast"] == r["lost_stored"] == 0


def test_fanout_compares_one_process_with_a_core_and_two_gateways(tmp_path):
    # issue 12: both topologies in one invocation; the cluster's redis-server, core and gateways are
    # subprocesses of the bench, and every delivery arrives through both gateways
    md = tmp_path / "perf.md"
    out = run_bench("--markdown", str(md), "fanout", "-n", "6", "-s", "2", "-m", "200", "--one-at-a-time", "5",
                    "--topology", "all,core+2gw", timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    [r] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert r["scenario"] == "fanout-topology" and r["topologies"] == ["all", "core+2gw"]
    one, cluster = r["all"], r["core+2gw"]
    for run in (one, cluster):
        assert run["messages"] == 200 and run["loss_total"] == 0 and not run["timed_out"]
        assert run["deliveries_per_s"] > 0 and run["lat_one_p99_ms"] is not None
    assert set(cluster["by_process"]) == {"redis", "core", "gateway1", "gateway2"}
    assert set(one["by_process"]) == {"server"}
    assert cluster["server_cpu_s"] == pytest.approx(sum(p["cpu_s"] for p in cluster["by_process"].values()), abs=0.02)
    assert r["deliveries_per_s_ratio"] > 0 and r["redis_hop_p99_ms"] is not None
    assert "all vs core+2gw | Redis hop" in md.read_text()


def test_connect_through_a_core_and_two_gateways_reports_each_process():
    out = run_bench("connect", "-n", "20", "--topology", "core+2gw", timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    [r] = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert r["topology"] == "core+2gw" and r["held"] == 20 and r["failures"] == 0
    assert set(r["by_process"]) == {"redis", "core", "gateway1", "gateway2"}
