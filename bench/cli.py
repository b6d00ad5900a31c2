"""`scripts/bench SCENARIO [options]`: one JSON line of results per run (and an optional Markdown table).

Every scenario starts the real server (`python -m originchats serve`) on a temporary data directory
with rate limiting off, pinned to CPU 0 (`taskset -c 0`); this load generator pins itself to CPU 1.
`fanout --topology core+2gw` (issue 12) starts redis-server, a core and two gateways instead, all four
pinned to CPU 0 (bench/cluster.py).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

from . import common
from .server import pin_self

SCENARIOS = ("fanout", "connect", "logins", "ingest", "history", "rich", "soak", "coldstart", "ceiling", "preauth", "files", "webhooks",
             "integrations", "metricscost", "compression", "import", "all")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--markdown", metavar="FILE", help="also append a Markdown table of the results to FILE")
    p.add_argument("--runs", type=int, default=1, help="repeat the scenario and report each run and the medians")
    sub = p.add_subparsers(dest="scenario", required=True)

    f = sub.add_parser("fanout", help="S senders, N receivers in one channel: deliveries/s, CPU per delivery")
    f.add_argument("-n", type=int, nargs="+", default=[10, 100, 1000], help="receivers (several: one run each)")
    f.add_argument("-s", "--senders", type=int, default=16)
    f.add_argument("-m", "--messages", type=int, default=0, help="messages in the saturation phase (0: by N)")
    f.add_argument("-w", "--window", type=int, default=4, help="messages in flight per sender")
    f.add_argument("--one-at-a-time", type=int, default=50, help="messages sent one by one (idle latency)")
    f.add_argument("--users", type=int, default=100, help="distinct accounts the connections log in as")
    f.add_argument("--ceiling", action="store_true", help="also run the raw-frame ceiling server first")
    f.add_argument("--metrics", action="store_true", help="[metrics] on (the server counts; one scrape at the end)")
    f.add_argument("--deflate", action="store_true", help="the clients offer permessage-deflate, as browsers do")
    f.add_argument("--threshold", type=int, default=None, help="[compression] threshold_bytes of the server")
    f.add_argument("--pad", type=int, default=0, help="characters added to each message's content")
    f.add_argument("--topology", default="all", metavar="all|core+2gw|all,core+2gw",
                   help="all: one server process (default); core+2gw: redis-server, a core and two gateways "
                        "(issue 12; core+Ngw: N gateways), the clients spread over the gateways; several "
                        "(comma): each in turn, with each cluster's ratios to `all` and its extra latency")

    mc = sub.add_parser("metricscost", help="fanout with [metrics] off, then on: server CPU per delivery and the ratio")
    mc.add_argument("-n", type=int, default=1000)
    mc.add_argument("-s", "--senders", type=int, default=16)
    mc.add_argument("-m", "--messages", type=int, default=0)
    mc.add_argument("-w", "--window", type=int, default=4)
    mc.add_argument("--one-at-a-time", type=int, default=5)
    mc.add_argument("--users", type=int, default=100)

    cp = sub.add_parser("compression", help="permessage-deflate: CPU and bytes per delivery (chat fan-out) and per "
                                            "messages_get page, with and without compression")
    cp.add_argument("-n", type=int, default=1000)
    cp.add_argument("-s", "--senders", type=int, default=16)
    cp.add_argument("-m", "--messages", type=int, default=0)
    cp.add_argument("-w", "--window", type=int, default=4)
    cp.add_argument("--one-at-a-time", type=int, default=5)
    cp.add_argument("--users", type=int, default=100)
    cp.add_argument("--pad", type=int, default=0, help="characters added to each chat message's content")
    cp.add_argument("--readers", type=int, default=10, help="clients reading pages (one request at a time each)")
    cp.add_argument("--pages", type=int, default=1000, help="messages_get pages of 100 in all")
    cp.add_argument("--stored", type=int, default=2000, help="messages in the channel")

    c = sub.add_parser("ceiling", help="fanout against ../shared/bench/server_trio_raw.py and ours, same run")
    c.add_argument("-n", type=int, nargs="+", default=[100])
    c.add_argument("-s", "--senders", type=int, default=16)
    c.add_argument("-m", "--messages", type=int, default=0)
    c.add_argument("-w", "--window", type=int, default=4)
    c.add_argument("--one-at-a-time", type=int, default=20)
    c.add_argument("--users", type=int, default=100)

    k = sub.add_parser("connect", help="N idle authenticated connections: time, failures, RSS per connection")
    k.add_argument("-n", type=int, nargs="+", default=[1000, 10_000])
    k.add_argument("--users", type=int, default=100, help="accounts the connections log in as")
    k.add_argument("--sources", type=int, default=0,
                   help="client addresses 127.0.0.1.. to connect from (0: one per 10,000 connections; "
                        "each address has ~28,000 ephemeral ports)")
    k.add_argument("--topology", default="all", metavar="all|core+2gw",
                   help="all: one server process (default); core+Ngw: redis-server, a core and N gateways "
                        "(issue 12), the connections spread over the gateways; RSS and CPU per connection of each")

    lg = sub.add_parser("logins", help="password-login storm (default argon2id): others' broadcast latency; token reconnects")
    lg.add_argument("--in-flight", type=int, default=50, help="logins kept in flight during the storm")
    lg.add_argument("--secs", type=float, default=8.0, help="length of the storm")
    lg.add_argument("--observers", type=int, default=20, help="clients measuring broadcast latency")
    lg.add_argument("--tokens", type=int, default=300, help="session-token reconnects to time")
    lg.add_argument("--hostile", type=int, default=0, metavar="N",
                    help="instead: N sockets from 127.0.0.1 loop password logins on their own accounts while "
                         "a user from 127.0.0.2 logs in (default [auth] limits)")
    lg.add_argument("--victim-logins", type=int, default=5, help="password logins of the other user (--hostile)")
    lg.add_argument("--warmup", type=float, default=3.0, help="seconds of flood before the other user logs in (--hostile)")

    i = sub.add_parser("ingest", help="durable message_new acks/s with K senders; restart and verify every ack")
    i.add_argument("-k", "--senders", type=int, nargs="+", default=[8])
    i.add_argument("--secs", type=float, default=6.0)
    i.add_argument("-w", "--window", type=int, default=16, help="messages in flight per sender")
    i.add_argument("--kill", action=argparse.BooleanOptionalAction, default=True,
                   help="SIGKILL the server before the restart (default) rather than stopping it")

    h = sub.add_parser("history", help="latency of message_new/get/around/edit/delete with 0..1M stored messages")
    h.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000, 100_000, 1_000_000])
    h.add_argument("--reps", type=int, default=200, help="requests per operation and size")

    ri = sub.add_parser("rich", help="issue 8's reads (search, threads, pins, unreads, pings, polls) and message_new "
                                     "with mentions, with 0..1M stored messages over 50 channels and 10,000 threads")
    ri.add_argument("--sizes", type=int, nargs="+", default=[0, 100_000, 1_000_000])
    ri.add_argument("--reps", type=int, default=200, help="requests per operation and size")
    ri.add_argument("--threads", type=int, default=10_000, help="threads in the forum (200 of them are read)")

    so = sub.add_parser("soak", help="100 clients, realistic mix, bounded time; verify every ack is readable")
    so.add_argument("--clients", type=int, default=100)
    so.add_argument("--secs", type=float, default=30.0)
    so.add_argument("--rate", type=float, default=5.0, help="operations per second per client (offered)")

    cs = sub.add_parser("coldstart", help="process start to first handshake with M stored messages")
    cs.add_argument("--messages", type=int, default=1_000_000)
    cs.add_argument("--reps", type=int, default=3)
    cs.add_argument("--binary", metavar="PATH", help="also time this single-file binary (scripts/build-binary) on the same data")

    pa = sub.add_parser("preauth", help="N sockets hold an unfinished text message (wide characters): server RSS held and after")
    pa.add_argument("-n", type=int, default=150, help="sockets")
    pa.add_argument("--size", type=int, default=4 * 1024 * 1024 - 4096, help="bytes of the unfinished fragment")
    pa.add_argument("--wide-every", type=int, default=4096, help="one 4-byte character every this many bytes")
    pa.add_argument("--login", action="store_true", help="log the sockets in first (authenticated limits)")
    pa.add_argument("--hold", type=float, default=3.0, help="seconds to hold after the last byte was written")
    pa.add_argument("--after", type=float, default=3.0, help="seconds after closing to read the RSS")
    pa.add_argument("--config", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="extra server configuration (TOML value); repeatable")

    fi = sub.add_parser("files", help="HTTP files: upload/download MB/s vs a disk copy, peak RSS of a big upload, "
                                      "chat p99 during concurrent downloads")
    fi.add_argument("--size-mb", type=float, default=10, help="file uploaded and downloaded --reps times")
    fi.add_argument("--reps", type=int, default=5)
    fi.add_argument("--big-mb", type=float, default=100, help="file uploaded once while the server's peak RSS is read")
    fi.add_argument("--small-mb", type=float, default=1, help="file the --downloads clients fetch again and again")
    fi.add_argument("--downloads", type=int, default=100, help="concurrent download loops beside the chat")
    fi.add_argument("--download-mb-s", type=float, default=0.0,
                    help="pace of each download loop in MB/s (0: as fast as loopback allows)")
    fi.add_argument("--chatters", type=int, default=100, help="logged-in clients posting every 2 s")
    fi.add_argument("--secs", type=float, default=6.0, help="length of each chat phase (alone, then with downloads)")

    wh = sub.add_parser("webhooks", help="a burst of webhook posts (1,000 in 10 s) while members chat: 429s, no "
                                         "accepted post lost, members' broadcast p99")
    wh.add_argument("--posts", type=int, default=1000)
    wh.add_argument("--secs", type=float, default=10.0, help="the posts are spread evenly over this time")
    wh.add_argument("--conns", type=int, default=20, help="keep-alive HTTP connections posting")
    wh.add_argument("--observers", type=int, default=20, help="clients measuring broadcast latency")
    wh.add_argument("--per-minute", type=int, default=600, help="[webhooks] posts_per_minute of the server")
    wh.add_argument("--burst", type=int, default=20, help="[webhooks] burst of the server")
    it = sub.add_parser("integrations", help="broadcast p99: plain chat vs 20 plugins on new_message and 100 web push "
                                             "subscribers pushed by every message (a local fake push service)")
    it.add_argument("-n", type=int, default=100, help="receivers")
    it.add_argument("-s", "--senders", type=int, default=4)
    it.add_argument("-m", "--messages", type=int, default=400, help="messages in the saturation phase")
    it.add_argument("-w", "--window", type=int, default=1, help="messages in flight per sender")
    it.add_argument("--one-at-a-time", type=int, default=1000,
                    help="messages sent one by one (1,000: a p99 of 200 rested on two messages)")
    it.add_argument("--users", type=int, default=100)
    it.add_argument("--plugins", type=int, default=20, help="trivial plugins subscribed to new_message")
    it.add_argument("--subscribers", type=int, default=100, help="offline push subscribers every message pushes to")

    im = sub.add_parser("import", help="`originchats import` of an original db/ folder with M generated messages: "
                                       "seconds, peak RSS")
    im.add_argument("-m", "--messages", type=int, default=1_000_000, help="messages generated (the fixture adds 302)")

    a = sub.add_parser("all", help="every scenario (under 15 minutes); writes docs/performance.md")
    a.add_argument("--output", default="docs/performance.md")
    a.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not for the figures)")
    return p


async def run_one(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One scenario invocation (several N values give several results)."""
    out: list[dict[str, Any]] = []
    sc = args.scenario
    if sc in ("fanout", "ceiling"):
        from .fanout import fanout

        for n in args.n:
            a = argparse.Namespace(**{**vars(args), "n": n})
            out.append(await fanout(a, ceiling=sc == "ceiling" or args.ceiling))
            common.emit(out[-1])
        return out
    if sc == "connect":
        from .connect import connect

        for n in args.n:
            out.append(await connect(args, n))
            common.emit(out[-1])
        return out
    if sc == "ingest":
        from .ingest import ingest

        for k in args.senders:
            out.append(await ingest(args, k))
            common.emit(out[-1])
        return out
    if sc == "import":  # (a keyword: the module is importbench)
        from .importbench import importbench

        out.append(await importbench(args))
        common.emit(out[-1])
        return out
    module = __import__(f"bench.{sc}", fromlist=[sc])
    out.append(await getattr(module, sc)(args))
    common.emit(out[-1])
    return out


#: what `all` runs, in order (about 8 minutes on the 2-core machine, 4 of them `rich`, whose 1.1M rows
#: of history take ~2.5 minutes to write)
ALL = [["ceiling", "-n", "100", "1000"], ["fanout", "-n", "10"], ["connect"], ["logins"], ["ingest"],
       ["history"], ["rich"], ["soak"], ["coldstart"], ["files"]]
QUICK = [["ceiling", "-n", "20"], ["fanout", "-n", "10", "-m", "300"], ["connect", "-n", "200"],
         ["logins", "--secs", "2", "--in-flight", "8", "--observers", "4", "--tokens", "40"],
         ["ingest", "--secs", "2"], ["history", "--sizes", "0", "20000", "--reps", "100"],
         ["rich", "--sizes", "0", "20000", "--reps", "50"],
         ["soak", "--clients", "20", "--secs", "5"], ["coldstart", "--messages", "20000", "--reps", "1"],
         ["files", "--reps", "2", "--big-mb", "20", "--downloads", "20", "--chatters", "20", "--secs", "2"]]


def _subprocess(argv: list[str]) -> list[dict[str, Any]]:
    import json
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "bench", *argv], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/bench {' '.join(argv)} failed ({proc.returncode})")
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    for r in out:
        print(json.dumps(r, separators=(",", ":")), flush=True)
    return out


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    plan = [args] if args.scenario != "all" else [build_parser().parse_args(argv)
                                                  for argv in (QUICK if args.quick else ALL)]
    runs: list[list[dict[str, Any]]] = []
    for i in range(max(1, args.runs)):
        if args.runs > 1:
            print(f"# run {i + 1} of {args.runs}", file=sys.stderr)
        one: list[dict[str, Any]] = []
        if args.scenario == "all":
            # each scenario in a fresh load-generator process: none inherits another's garbage
            for argv in (QUICK if args.quick else ALL):
                one += _subprocess(argv)
        else:
            for a in plan:
                one += await run_one(a)
        runs.append(one)
    if len(runs) == 1:
        return runs[0]
    from .report import median_result

    medians = [median_result([r[j] for r in runs]) for j in range(len(runs[0]))]
    for m in medians:
        m["median_of"] = len(runs)
        common.emit(m)
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pinned = pin_self()
    command = "scripts/bench " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    t0 = time.monotonic()
    results = asyncio.run(_run(args))
    for r in results:
        r.setdefault("pinned", pinned)
    if args.markdown:
        from .report import append_markdown

        append_markdown(args.markdown, command, results)
    if args.scenario == "all":
        from .report import write_performance

        write_performance(args.output, command, results, time.monotonic() - t0)
        print(f"# wrote {args.output}", file=sys.stderr)
    print(f"# {len(results)} run(s) in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 0
