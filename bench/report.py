"""Results -> Markdown: for each run the headline figures, the target and whether it was met."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Row = tuple[str, str, Any, str, bool | None]  # scenario, figure, value, target, met


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def rows(r: dict[str, Any]) -> list[Row]:
    s = r.get("scenario", "?")
    out: list[Row] = []
    if s in ("fanout", "ceiling"):
        n = r["n"]
        name = f"{s} N={n} S={r['senders']}" + (f" {r['topology']}" if r.get("topology") else "")
        limit = {1000: 8.0, 100: 15.0}.get(n)
        out.append((name, "deliveries/s", r["deliveries_per_s"], "", None))
        out.append((name, "messages/s", r["msgs_per_s"], "", None))
        out.append((name, "server µs per delivery", r["server_us_per_delivery"],
                    f"≤ {limit:g}" if limit else "", r["server_us_per_delivery"] <= limit if limit else None))
        out.append((name, "latency p50 / p99 at saturation (ms)",
                    f"{_fmt(r['lat_sat_p50_ms'])} / {_fmt(r['lat_sat_p99_ms'])}", "", None))
        out.append((name, "latency p50 / p99 one at a time (ms)",
                    f"{_fmt(r['lat_one_p50_ms'])} / {_fmt(r['lat_one_p99_ms'])}", "", None))
        out.append((name, "sender ack p50 / p99 one at a time (ms)",
                    f"{_fmt(r['ack_one_p50_ms'])} / {_fmt(r['ack_one_p99_ms'])}", "", None))
        out.append((name, "lost deliveries", r["loss_total"], "0", r["loss_total"] == 0))
        out.append((name, "load generator CPU (share of one core)", r["client_cpu_util"], "< 0.9",
                    r["client_cpu_util"] < 0.9))
        if "fraction_of_ceiling" in r:
            c = r["ceiling"]
            out.append((name, "raw-frame ceiling deliveries/s (same run)", c["deliveries_per_s"], "", None))
            out.append((name, "raw-frame ceiling: server µs per delivery / load generator CPU",
                        f"{_fmt(c['server_us_per_delivery'])} / {_fmt(c['client_cpu_util'])}", "", None))
            out.append((name, "ours as a fraction of the ceiling", r["fraction_of_ceiling"], "≥ 0.6",
                        r["fraction_of_ceiling"] >= 0.6))
    elif s == "fanout-topology":
        cl = r.get("cluster", "core+2gw")
        name = f"fanout N={r['n']} S={r['senders']}, all vs {cl}"
        one, two = r["all"], r[cl]
        out.append((name, f"deliveries/s (all / {cl} / ratio)",
                    f"{_fmt(one['deliveries_per_s'])} / {_fmt(two['deliveries_per_s'])} / "
                    f"{_fmt(r['deliveries_per_s_ratio'])}", "", None))
        out.append((name, f"µs CPU per delivery, all processes (all / {cl} / ratio)",
                    f"{_fmt(one['server_us_per_delivery'])} / {_fmt(two['server_us_per_delivery'])} / "
                    f"{_fmt(r['us_per_delivery_ratio'])}", "", None))
        out.append((name, f"{cl} µs CPU per delivery by process",
                    ", ".join(f"{k} {_fmt(v['us_per_delivery'])}" for k, v in two["by_process"].items()), "", None))
        out.append((name, f"{cl} CPU by process (share of one core)",
                    ", ".join(f"{k} {_fmt(v['cpu_util'])}" for k, v in two["by_process"].items()), "", None))
        for key, label in (("sat", "at saturation"), ("one", "one at a time")):
            out.append((name, f"broadcast p50 / p99 {label} (ms), all | {cl}",
                        f"{_fmt(one[f'lat_{key}_p50_ms'])} / {_fmt(one[f'lat_{key}_p99_ms'])} | "
                        f"{_fmt(two[f'lat_{key}_p50_ms'])} / {_fmt(two[f'lat_{key}_p99_ms'])}", "", None))
        hop = r["redis_hop_p99_ms"]
        out.append((name, "Redis hop: extra broadcast p99 one at a time (ms)", hop,
                    f"≤ {_fmt(r['redis_hop_p99_target_ms'])}", r["redis_hop_p99_met"]))
        out.append((name, "lost deliveries", r["loss_total"], "0", r["loss_total"] == 0))
    elif s == "connect":
        n = r["n"]
        name = f"connect N={n}"
        secs = {10_000: 4.0, 50_000: 25.0}.get(n)  # issue 7
        kb = 14.0 if n >= 50_000 else 16.0 if n >= 10_000 else None
        out.append((name, "seconds to connect and log in all", r["secs"], f"≤ {secs:g}" if secs else "",
                    r["secs"] <= secs if secs else None))
        out.append((name, "failures", r["failures"], "0", r["failures"] == 0))
        out.append((name, "RSS per connection (KB)", r["rss_per_conn_kb"], f"≤ {kb:g}" if kb else "",
                    r["rss_per_conn_kb"] <= kb if kb else None))
    elif s == "logins":
        name = "logins"
        out.append((name, "password logins/s (default argon2id)", r["logins_per_s"], "", None))
        out.append((name, "broadcast p50 / p99 during the storm (ms)",
                    f"{_fmt(r['storm_bcast_p50_ms'])} / {_fmt(r['storm_bcast_p99_ms'])}", "p99 < 50",
                    r["storm_bcast_p99_ms"] is not None and r["storm_bcast_p99_ms"] < 50))
        out.append((name, "broadcast p99 without a storm (ms)", r["calm_bcast_p99_ms"], "", None))
        out.append((name, "session-token reconnects/s", r["token_logins_per_s"], "", None))
        out.append((name, "token reconnect p50 (ms)", r["token_login_p50_ms"], "", None))
    elif s == "ingest":
        name = f"ingest K={r['senders']}"
        out.append((name, "durable acked message_new/s", r["acked_per_s"], "≥ 5,000", r["acked_per_s"] >= 5000))
        out.append((name, "ack p50 / p99 (ms)", f"{_fmt(r['ack_p50_ms'])} / {_fmt(r['ack_p99_ms'])}", "", None))
        out.append((name, "acked messages missing after restart", r["missing_after_restart"], "0",
                    r["missing_after_restart"] == 0))
    elif s == "history":
        for op, per in r["ops"].items():
            name = f"history {op}"
            sizes = sorted(per, key=int)
            vals = " / ".join(_fmt(per[k]["p50_ms"]) for k in sizes)
            ratio = r["ratio_largest_vs_empty"].get(op)
            out.append((name, f"p50 ms at {' / '.join(_short(int(k)) for k in sizes)} messages", vals, "", None))
            out.append((name, f"p50 at {_short(int(sizes[-1]))} ÷ p50 at 0", ratio, "≤ 1.5",
                        ratio is not None and ratio <= 1.5))
    elif s == "rich":  # issue 8
        sizes = [str(k) for k in r["sizes"]]
        at = " / ".join(_short(int(k)) for k in sizes)
        for op, per in r["ops"].items():
            name = f"rich {op}"
            out.append((name, f"p50 / p99 ms at {at} messages",
                        " / ".join(f"{_fmt(per[k]['p50_ms'])} ({_fmt(per[k]['p99_ms'])})" for k in sizes), "", None))
            if op.startswith("messages_search") and int(sizes[-1]) >= 1_000_000:
                p50 = per[sizes[-1]]["p50_ms"]
                out.append((name, f"p50 ms at {_short(int(sizes[-1]))}", p50, "≤ 20", p50 is not None and p50 <= 20))
            if not op.startswith("message_new"):
                ratio = r["ratio_largest_vs_empty"].get(op)
                out.append((name, f"p50 at {_short(int(sizes[-1]))} ÷ p50 at {_short(int(sizes[0]))}", ratio, "≤ 1.5",
                            ratio is not None and ratio <= 1.5))
        vs = r["mentions_vs_plain"]
        out.append(("rich message_new", f"p50 with mentions ÷ plain p50 at {at} messages",
                    " / ".join(_fmt(vs[k]) for k in sizes), "≤ 1.2", max(vs.values()) <= 1.2))
    elif s == "soak":
        name = f"soak {r['clients']} clients"
        out.append((name, "ops/s offered / served", f"{_fmt(r['offered_per_s'])} / {_fmt(r['served_per_s'])}", "", None))
        out.append((name, "reply p50 / p99 (ms)", f"{_fmt(r['p50_ms'])} / {_fmt(r['p99_ms'])}", "p99 < 50",
                    r["p99_ms"] is not None and r["p99_ms"] < 50))
        out.append((name, "acked messages not readable / unexpected drops", f"{r['unreadable']} / {r['dropped']}",
                    "0 / 0", r["unreadable"] == 0 and r["dropped"] == 0))
    elif s == "files":  # issue 9
        name = f"files {_fmt(r['size_mb'])} MB"
        out.append((name, "upload / download / disk copy (MB/s)",
                    f"{_fmt(r['upload_mb_s'])} / {_fmt(r['download_mb_s'])} / {_fmt(r['copy_mb_s'])}", "", None))
        out.append((name, "download ÷ disk copy", r["download_vs_copy"], "≥ 0.5", r["download_vs_copy"] >= 0.5))
        big = f"files {_fmt(r['big_mb'])} MB upload"
        out.append((big, "server peak RSS ÷ file size", r["big_hwm_vs_file"], "< 2.5", r["big_hwm_vs_file"] < 2.5))
        pace = f"{_fmt(r['download_mb_s_each'])} MB/s each" if r["download_mb_s_each"] else "unpaced"
        chat = f"files {r['chatters']} chatting, {r['downloads']} downloading ({pace})"
        out.append((chat, "broadcast p50 / p99 (ms)", f"{_fmt(r['chat_busy_p50_ms'])} / {_fmt(r['chat_busy_p99_ms'])}",
                    "p99 < 50", r["chat_busy_p99_ms"] is not None and r["chat_busy_p99_ms"] < 50))
        out.append((chat, "downloads MB/s; broadcast p99 without them (ms)",
                    f"{_fmt(r['downloads_mb_s'])}; {_fmt(r['chat_alone_p99_ms'])}", "", None))
    elif s == "coldstart":
        name = f"coldstart {_short(r['messages'])} messages"
        out.append((name, "process start to first handshake (s)", r["secs"], "< 1", r["secs"] < 1))
    return out


def _short(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def table(results: Sequence[dict[str, Any]]) -> str:
    lines = ["| scenario | figure | value | target | met |", "|---|---|---|---|---|"]
    for r in results:
        for scen, fig, val, target, met in rows(r):
            mark = "" if met is None else ("yes" if met else "**no**")
            lines.append(f"| {scen} | {fig} | {_fmt(val)} | {target} | {mark} |")
    return "\n".join(lines) + "\n"


def append_markdown(path: str | Path, command: str, results: Sequence[dict[str, Any]]) -> None:
    text = f"\n`{command}` ({time.strftime('%Y-%m-%d %H:%M')}):\n\n" + table(results)
    with open(path, "a") as f:
        f.write(text)


def median_result(runs: Sequence[dict[str, Any]], top: bool = True) -> dict[str, Any]:
    """Field by field median of several runs of the same scenario (numbers only; others from run 1)."""
    first = runs[0]
    out: dict[str, Any] = {}
    for k, v in first.items():
        vals = [r.get(k) for r in runs]
        if isinstance(v, bool) or v is None:
            out[k] = any(vals) if isinstance(v, bool) and k in ("timed_out",) else v
        elif isinstance(v, (int, float)) and all(isinstance(x, (int, float)) for x in vals):
            m = statistics.median(vals)  # type: ignore[type-var]
            out[k] = type(v)(m) if isinstance(v, int) and not k.startswith("loss") else m
            if k.startswith("loss") or k in ("failures", "missing_after_restart", "unreadable", "dropped"):
                out[k] = max(vals)  # a loss in any run counts
        elif isinstance(v, dict):
            out[k] = median_result([r[k] for r in runs], top=False)
        else:
            out[k] = v
    if isinstance(out.get("redis_hop_p99_ms"), (int, float)) and "redis_hop_p99_met" in out:
        out["redis_hop_p99_met"] = out["redis_hop_p99_ms"] <= out["redis_hop_p99_target_ms"]  # of the median
    if top:
        out["runs"] = len(runs)
    return out


PREAMBLE = """# Performance

Measured with `scripts/bench` (bench/, docs below), on the project's 2-core machine: the server
(`python -m originchats serve`, a subprocess on a temporary data directory, rate limiting off,
`storage.synchronous = "full"`) pinned to CPU 0, the load generator pinned to CPU 1. Other
developers' test suites share this machine, so figures are noisy: ratios are taken within one run,
and the final figures are medians of three runs of `scripts/bench --runs 3 all`. Server CPU comes
from the server's own `utime + stime` (/proc/PID/stat, all threads) over the measured interval.
When run as root, the server and the load generator get `nice -10` over those neighbours
(`BENCH_NICE=0` turns that off).

"""


def write_performance(path: str | Path, command: str, results: Sequence[dict[str, Any]], secs: float) -> None:
    """docs/performance.md: the preamble, the latest table, the analysis (kept between runs), and
    the raw results."""
    import json
    import os

    p = Path(path)
    notes = ""
    if p.exists():
        text = p.read_text()
        marker = "## What limits each figure"
        if marker in text:
            notes = text[text.index(marker):].split("\n## Raw results", 1)[0].rstrip() + "\n\n"
    load = os.getloadavg()
    runs = results[0].get("median_of", 1) if results else 1
    head = (f"## Latest figures\n\n`{command}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{secs / 60:.1f} minutes, {'median of %d runs' % runs if runs > 1 else 'one run'}, "
            f"load average at the end {load[0]:.1f}.\n\n")
    raw = "\n".join(json.dumps(r, separators=(",", ":")) for r in results)
    p.write_text(PREAMBLE + head + table(results) + "\n" + notes +
                 "## Raw results\n\nOne JSON line per scenario run, as `scripts/bench` prints them:\n\n"
                 "```\n" + raw + "\n```\n")
