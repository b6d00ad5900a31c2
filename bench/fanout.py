"""fanout / ceiling: S senders and N receivers in one channel.

Phase 1 (saturation): each sender keeps `window` messages in flight (a message is acknowledged by
its echo to the sender) until it has sent its share of `messages`. The measured interval runs from
the first send until every receiver has counted every message. Deliveries = messages x (N + S):
each message reaches the N receivers, the S-1 other senders and, as the acknowledgement, its sender.

Phase 2 (one at a time): one sender sends `one_at_a_time` messages, each only after every receiver
got the previous one: the latency of an idle server.

Latency is send-to-arrival (CLOCK_MONOTONIC is shared by the processes), taken on a sample of
receivers spread over the join order (every receiver when N <= 50) that parse every frame; the
other receivers only count `message_new` packets.

Against the ceiling server (`server_trio_raw.py`, which echoes every text frame to every socket)
the sender sends a text frame shaped and sized like our `message_new` broadcast.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import common
from .server import CHEAP_ARGON2, Server, self_cpu
from .wsclient import MSG_NEW, WS, content_ns, dumps, open_ws

HOST = "127.0.0.1"


def ceiling_payload(ns: int, tag: str) -> bytes:
    """A frame like our broadcast: same keys, same order, about the same size."""
    return dumps({"cmd": "message_new", "message": {
        "user": "USR:local_u0", "content": f"{ns}:{tag}", "timestamp": time.time(), "id": str(uuid.uuid4()),
        "pinned": False, "type": "message", "interaction": None,
        "pings": {"users": [], "roles": [], "replies": []}}, "channel": "general", "thread_id": None, "global": True})


class Run:
    """Counters shared by every connection of one fan-out run."""

    def __init__(self) -> None:
        self.received = 0
        self.target = 0
        self.done = asyncio.Event()
        self.lat: list[int] = []
        self.record = True

    def add(self, n: int) -> None:
        self.received += n
        if self.received >= self.target:
            self.done.set()


class Sender:
    def __init__(self, ws: WS, idx: int, run: Run, raw: bool, suffix: bytes = b"") -> None:
        self.ws = ws
        # `suffix` (bench/integrations.py: a role mention) is part of the tag: "<ns>:s<idx><suffix>"
        self.tag = f"s{idx}".encode() + suffix
        self.tag_s = f"s{idx}"
        self.tag_end = b':s%d%s"' % (idx, suffix)  # how the content "<ns>:s<idx>" ends in the JSON
        self.run = run
        self.raw = raw
        self.to_send = 0
        self.in_flight = 0
        self.sent_at: dict[int, int] = {}
        self.rtt: list[int] = []
        self.acked = 0
        self.idle = asyncio.Event()
        ws.framing(self.on_text)

    def send_one(self) -> None:
        ns = time.monotonic_ns()
        if self.raw:
            self.ws.send_bytes(ceiling_payload(ns, self.tag_s))
        else:
            self.ws.send_bytes(b'{"cmd":"message_new","channel":"general","content":"%d:%s","listener":"b"}'
                               % (ns, self.tag))
        self.to_send -= 1
        self.in_flight += 1

    def go(self, count: int, window: int) -> None:
        self.to_send = count
        self.idle.clear()
        for _ in range(min(window, count)):
            self.send_one()

    def on_text(self, data: bytes, start: int, end: int, now: int) -> None:
        # only this sender's own messages matter here: find its tag before parsing anything
        if data.find(self.tag_end, start, end) < 0 or not data.startswith(MSG_NEW, start):
            return
        got = content_ns(data, start, end)
        if got is None:
            return
        ns, tag = got
        if tag == self.tag:
            self.acked += 1
            self.in_flight -= 1
            self.rtt.append(now - ns)
            if self.to_send > 0:
                self.send_one()
            elif self.in_flight == 0:
                self.idle.set()


class SampledReceiver:
    def __init__(self, ws: WS, run: Run) -> None:
        self.ws = ws
        self.run = run
        self.count = 0
        ws.framing(self.on_text)

    def on_text(self, data: bytes, start: int, end: int, now: int) -> None:
        if not data.startswith(MSG_NEW, start):
            return
        self.count += 1
        if self.run.record:
            got = content_ns(data, start, end)
            if got is not None:
                self.run.lat.append(now - got[0])
        self.run.add(1)


def port_of(ports: list[int], i: int, n: int) -> int:
    """The port client `i` connects to: receivers 0..n-1 in equal blocks (so the sampled receivers,
    spread over the join order, are spread over the gateways), senders (n..) in turn."""
    if len(ports) == 1:
        return ports[0]
    if i < n:
        return ports[i * len(ports) // n]
    return ports[(i - n) % len(ports)]


async def _connect_all(port: int | list[int], n: int, senders: int, users: int, raw: bool,
                       deflate: bool = False) -> tuple[list[WS], list[WS], int]:
    ports = port if isinstance(port, list) else [port]

    async def make(i: int) -> WS:
        if raw:
            return await open_ws(HOST, ports[0], handshake=False)
        return await common.connect_login(HOST, port_of(ports, i, n), f"u{i % users}", deflate=deflate)

    total = n + senders
    clients, failures = await common.in_batches([lambda i=i: make(i) for i in range(total)], batch=100)
    return clients[:n], clients[n:], failures


async def run_fanout(port: int | list[int], server_cpu, *, n: int, senders: int, messages: int, window: int,
                     one_at_a_time: int, users: int, raw: bool, sample: int = 4, suffix: bytes = b"",
                     deflate: bool = False, pad: int = 0, walk: bool = False,
                     cpu_parts: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    """`port`: one server, or a list of gateways (the clients spread evenly, `port_of`);
    `cpu_parts`: each server-side process's CPU seconds by name, read with `server_cpu`."""
    receivers, sender_ws, failures = await _connect_all(port, n, senders, users, raw, deflate)
    if failures or len(sender_ws) < senders:
        raise RuntimeError(f"{failures} connections failed")
    run = Run()
    step = max(1, n // sample)
    sampled = [SampledReceiver(ws, run) for ws in receivers[::step]]
    sampled_ids = {id(s.ws) for s in sampled}
    counted = [ws for ws in receivers if id(ws) not in sampled_ids]
    for ws in counted:
        ws.walk = walk
        ws.counting()
        ws.on_count = run.add
    await common.quiet(receivers + sender_ws)
    base_counts = [ws.count for ws in counted]
    snd = [Sender(ws, i, run, raw, suffix) for i, ws in enumerate(sender_ws)]
    if pad:  # longer messages: the content is "<ns>:s<idx><pad x's>"
        for s in snd:
            s.tag += b"x" * pad
            s.tag_end = b":%s\"" % s.tag
    deflated = sum(ws.deflated for ws in receivers)
    bytes0 = sum(ws.bytes_in for ws in receivers)

    # ---- phase 1: saturation
    per_sender = max(1, messages // senders)
    total_msgs = per_sender * senders
    run.target = total_msgs * n
    run.received = 0
    run.done.clear()
    parts0 = cpu_parts() if cpu_parts else {}
    cpu0, ccpu0, t0 = server_cpu(), self_cpu(), time.monotonic()
    for s in snd:
        s.go(per_sender, window)
    timeout = 60 + total_msgs * n / 20_000
    try:
        await asyncio.wait_for(asyncio.gather(run.done.wait(), *(s.idle.wait() for s in snd)), timeout)
        timed_out = False
    except asyncio.TimeoutError:
        timed_out = True
    t1, cpu1, ccpu1 = time.monotonic(), server_cpu(), self_cpu()
    parts1 = cpu_parts() if cpu_parts else {}
    bytes_in = sum(ws.bytes_in for ws in receivers) - bytes0
    secs = t1 - t0
    sat_lat = run.lat
    rtt = [x for s in snd for x in s.rtt]
    got = sum(ws.count - b for ws, b in zip(counted, base_counts)) + sum(s.count for s in sampled)
    loss = total_msgs * n - got
    deliveries = total_msgs * (n + senders)

    # ---- phase 2: one message at a time
    run.lat = []
    one_rtt_start = len(snd[0].rtt)
    for _ in range(one_at_a_time):
        run.target = run.received + n
        run.done.clear()
        snd[0].go(1, 1)
        try:
            await asyncio.wait_for(asyncio.gather(run.done.wait(), snd[0].idle.wait()), 30)
        except asyncio.TimeoutError:
            timed_out = True
            break
    one_lat = run.lat
    one_rtt = snd[0].rtt[one_rtt_start:]
    await common.quiet(receivers + sender_ws, settle=0.2, limit=5)
    got_total = sum(ws.count - b for ws, b in zip(counted, base_counts)) + sum(s.count for s in sampled)
    loss_total = (total_msgs + one_at_a_time) * n - got_total
    for ws in receivers + sender_ws:
        ws.close()
    cpu_s = cpu1 - cpu0
    by_process = {}
    for name in parts1:
        spent = parts1[name] - parts0[name]
        by_process[name] = {"cpu_s": round(spent, 3), "cpu_util": round(spent / secs, 3),
                            "us_per_delivery": round(spent * 1e6 / deliveries, 3),
                            "us_per_message": round(spent * 1e6 / total_msgs, 1)}
    return {
        "n": n, "senders": senders, "window": window, "messages": total_msgs, "secs": round(secs, 3),
        "msgs_per_s": round(total_msgs / secs), "deliveries_per_s": round(deliveries / secs),
        "server_cpu_s": round(cpu_s, 3), "server_cpu_util": round(cpu_s / secs, 3),
        "server_us_per_delivery": round(cpu_s * 1e6 / deliveries, 2),
        "lat_sat_p50_ms": common.ms(sat_lat, .5), "lat_sat_p99_ms": common.ms(sat_lat, .99),
        "ack_sat_p50_ms": common.ms(rtt, .5), "ack_sat_p99_ms": common.ms(rtt, .99),
        "lat_one_p50_ms": common.ms(one_lat, .5), "lat_one_p99_ms": common.ms(one_lat, .99),
        "ack_one_p50_ms": common.ms(one_rtt, .5), "ack_one_p99_ms": common.ms(one_rtt, .99),
        "one_at_a_time": one_at_a_time, "sampled_receivers": len(sampled),
        "loss": loss, "loss_total": loss_total, "timed_out": timed_out,
        "client_cpu_util": round((ccpu1 - ccpu0) / secs, 3),
        # bytes the N receivers took in during phase 1, per message each should have got
        "wire_bytes_per_delivery": round(bytes_in / max(1, total_msgs * n), 1), "receivers_deflated": deflated,
        **({"by_process": by_process} if cpu_parts else {}),
    }


def ceiling_server() -> Path:
    """shared/bench/server_trio_raw.py beside the checkout or one of its parents (a checkout in
    /work/main and a worktree in /work/wt/NAME both find /work/shared)."""
    from .server import ROOT

    for parent in ROOT.parents:
        raw = parent / "shared" / "bench" / "server_trio_raw.py"
        if raw.is_file():
            return raw
    raise FileNotFoundError("shared/bench/server_trio_raw.py not found beside the checkout or its parents")


METRICS_TOKEN = "bench-metrics-token-0123456789"


def scrape_deliveries(port: int) -> float | None:
    """`originchats_fanout_deliveries_total` of a scrape of the server (proof the counting ran)."""
    import urllib.request

    req = urllib.request.Request(f"http://{HOST}:{port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("originchats_fanout_deliveries_total "):
                return float(line.split()[1])
    return None


def default_messages(n: int) -> int:
    return max(200, min(20_000, 400_000 // max(1, n)))


TOPOLOGY = re.compile(r"core\+([1-9][0-9]?)gw")  # a core and 1..99 gateways
TOPOLOGY_MESSAGES = 10  # x default_messages(n) when --topology is given (4,000 at N=1000)
HOP_TARGET_MS = 5.0  # issue 12: the Redis hop adds at most 5 ms to the broadcast p99


def topologies(arg: str | None) -> list[str]:
    names = [t.strip() for t in (arg or "all").split(",") if t.strip()]
    for t in names:
        if t != "all" and not TOPOLOGY.fullmatch(t):
            raise ValueError(f"--topology: {t!r} is neither all nor core+Ngw (core+2gw: a core and two gateways)")
    return names or ["all"]


async def fanout(args: Any, *, ceiling: bool = False) -> dict[str, Any]:
    tops = topologies(getattr(args, "topology", None))
    if tops == ["all"]:
        return await fanout_all(args, ceiling=ceiling)
    if ceiling:
        raise ValueError("--ceiling runs with --topology all only")
    if not args.messages:  # several seconds per topology: CPU is read in 10 ms clock ticks per process
        args = type(args)(**{**vars(args), "messages": TOPOLOGY_MESSAGES * default_messages(args.n)})
    runs = {}
    for t in tops:
        if t == "all":
            runs[t] = await fanout_all(args, by_process=True)
        else:
            runs[t] = await fanout_cluster(args, int(TOPOLOGY.fullmatch(t).group(1)))  # type: ignore[union-attr]
    if len(runs) == 1 or "all" not in runs:
        return runs[tops[0]] if len(runs) == 1 else {"scenario": "fanout-topologies", "n": args.n, **runs}
    return compare(args.n, runs)


def versus(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """A cluster run against the one-process run of the same invocation."""

    def ratio(key: str) -> float | None:
        a, b = one.get(key), two.get(key)
        return round(b / a, 3) if a and b is not None else None

    def extra(key: str) -> float | None:
        a, b = one.get(key), two.get(key)
        return round(b - a, 3) if a is not None and b is not None else None

    hop = extra("lat_one_p99_ms")
    return {
        "deliveries_per_s_ratio": ratio("deliveries_per_s"),
        "us_per_delivery_ratio": ratio("server_us_per_delivery"),
        "redis_hop_p50_ms": extra("lat_one_p50_ms"), "redis_hop_p99_ms": hop,
        "redis_hop_p99_target_ms": HOP_TARGET_MS, "redis_hop_p99_met": hop is not None and hop <= HOP_TARGET_MS,
        "saturated_extra_p50_ms": extra("lat_sat_p50_ms"), "saturated_extra_p99_ms": extra("lat_sat_p99_ms"),
        "ack_one_extra_p50_ms": extra("ack_one_p50_ms"),
    }


def compare(n: int, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The topologies of one invocation side by side; the ratios at the top are those of the first
    cluster topology to one process (each cluster run has its own under `vs_all`)."""
    one = runs["all"]
    clusters = [t for t in runs if t != "all"]
    for t in clusters:
        runs[t]["vs_all"] = versus(one, runs[t])
    first = runs[clusters[0]]
    return {
        "scenario": "fanout-topology", "n": n, "senders": one["senders"], "messages": one["messages"],
        "topologies": list(runs), "cluster": clusters[0], "placement": first.get("placement"),
        **first["vs_all"],
        "loss_total": max(r["loss_total"] for r in runs.values()),
        "timed_out": any(r["timed_out"] for r in runs.values()),
        **runs,
    }


async def fanout_cluster(args: Any, gateways: int = 2) -> dict[str, Any]:
    """The fan-out against Redis, a core and `gateways` gateways (bench/cluster.py), the clients
    spread evenly over the gateways; CPU is summed over the processes and reported for each."""
    from .cluster import PLACEMENT, Cluster

    n = args.n
    messages = args.messages or default_messages(n)
    users = min(args.users, n + args.senders)
    cluster = Cluster(argon2=CHEAP_ARGON2, gateways=gateways)
    common.add_users(cluster.core.data_dir, [f"u{i}" for i in range(users)], CHEAP_ARGON2)
    with cluster:
        ready = await cluster.ready()
        r = await run_fanout(cluster.ports, cluster.cpu, n=n, senders=args.senders, messages=messages,
                             window=args.window, one_at_a_time=args.one_at_a_time, users=users, raw=False,
                             cpu_parts=cluster.cpu_parts)
        rss = cluster.rss_mib()
    gws = [v for k, v in r["by_process"].items() if k.startswith("gateway")]
    r["gateways_us_per_delivery"] = round(sum(g["us_per_delivery"] for g in gws), 3)  # all gateways together
    r["gateways_us_per_message"] = round(sum(g["us_per_message"] for g in gws), 1)
    return {"scenario": "fanout", "topology": f"core+{gateways}gw", "placement": PLACEMENT,
            "gateways_ready_s": round(ready, 3), **r, "server_rss_mib": round(sum(rss.values()), 1),
            "rss_mib_by_process": rss}


async def fanout_all(args: Any, *, ceiling: bool = False, by_process: bool = False) -> dict[str, Any]:
    n = args.n
    messages = args.messages or default_messages(n)
    users = min(args.users, n + args.senders)
    out: dict[str, Any] = {"scenario": "ceiling" if ceiling else "fanout"}
    if by_process:
        out["topology"] = "all"
    if ceiling:
        import sys

        raw = ceiling_server()

        with Server(argv=[sys.executable, str(raw)]) as srv:
            r = await run_fanout(srv.port, srv.cpu, n=n, senders=args.senders, messages=messages,
                                 window=args.window, one_at_a_time=args.one_at_a_time, users=users, raw=True)
        out["ceiling"] = r
    extra: dict[str, dict[str, Any]] = {}
    if getattr(args, "metrics", False):  # GET /metrics on (its counting is what is measured)
        extra["metrics"] = {"enabled": True, "token": METRICS_TOKEN}
    if getattr(args, "threshold", None) is not None:
        extra["compression"] = {"threshold_bytes": args.threshold}
    srv = Server(argon2=CHEAP_ARGON2, config=extra)
    common.add_users(srv.data_dir, [f"u{i}" for i in range(users)], CHEAP_ARGON2)
    with srv:
        r = await run_fanout(srv.port, srv.cpu, n=n, senders=args.senders, messages=messages,
                             window=args.window, one_at_a_time=args.one_at_a_time, users=users, raw=False,
                             deflate=getattr(args, "deflate", False), pad=getattr(args, "pad", 0),
                             walk=getattr(args, "walk", False),
                             cpu_parts=(lambda: {"server": srv.cpu()}) if by_process else None)
        r["server_rss_mib"] = round(srv.rss_kib() / 1024, 1)
        if getattr(args, "metrics", False):
            r["metrics_deliveries"] = scrape_deliveries(srv.port)
    for key in ("metrics", "deflate", "threshold", "pad", "walk"):
        if getattr(args, key, None):
            out[key] = getattr(args, key)
    out.update(r)
    if ceiling:
        out["fraction_of_ceiling"] = round(r["deliveries_per_s"] / out["ceiling"]["deliveries_per_s"], 3)
    return out
