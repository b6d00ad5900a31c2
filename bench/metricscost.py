"""metricscost: what `[metrics]` costs the fan-out (issue 11 part 3; server/metrics.py).

The chat fan-out of bench/fanout.py at N receivers, run twice in the same sitting: metrics off,
then on (counted the way the server always counts when on; the run ends with one scrape, whose
`originchats_fanout_deliveries_total` shows the counting ran). Server CPU per delivery of each,
and their ratio (the target: on <= 1.05 x off).
"""

from __future__ import annotations

import argparse
from typing import Any

from .fanout import fanout


async def metricscost(args: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": "metricscost", "n": args.n}
    base = {"n": args.n, "senders": args.senders, "messages": args.messages, "window": args.window,
            "one_at_a_time": args.one_at_a_time, "users": args.users, "pad": 0, "deflate": False, "threshold": None}
    for name, on in (("off", False), ("on", True)):
        r = await fanout(argparse.Namespace(**base, metrics=on))
        out[name] = {k: r[k] for k in ("server_us_per_delivery", "deliveries_per_s", "loss", "timed_out",
                                       "lat_sat_p50_ms", "lat_sat_p99_ms")}
        if on:
            out[name]["metrics_deliveries"] = r.get("metrics_deliveries")
    out["cpu_ratio"] = round(out["on"]["server_us_per_delivery"] / out["off"]["server_us_per_delivery"], 3)
    return out
