"""Which persistent map for `ServerState` (docs/performance.md, "State"): `.venv/bin/python -m bench.maps`.

For each candidate, on maps of 1,000 / 10,000 / 50,000 int keys: the µs to make a new version with
one key added, replaced or removed (what a login, a status change, a disconnect do), the ns of a
lookup and per entry of a full iteration, and the bytes per entry of a map grown by single
inserts (RSS, in a fresh process per candidate, so that memory a C or Rust extension allocates
counts too). `dict-copy` is the state before: `{**old, key: new}`.

pyrsistent and rpds-py are not dependencies of the project: the script skips what is not installed
(`pip install pyrsistent rpds-py` into the venv to compare them).
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

SIZES = (1_000, 10_000, 50_000)


def _dict_delete(m: dict, k: Any) -> dict:
    d = dict(m)
    del d[k]
    return d


def kinds() -> dict[str, tuple[Callable, Callable, Callable]]:
    """name -> (build from a dict, set, delete), for the candidates that are installed."""
    out: dict[str, tuple[Callable, Callable, Callable]] = {
        "dict-copy": (dict, lambda m, k, v: {**m, k: v}, _dict_delete)}
    try:
        import immutables

        out["immutables.Map"] = (immutables.Map, lambda m, k, v: m.set(k, v), lambda m, k: m.delete(k))
    except ImportError:
        pass
    try:
        import pyrsistent

        out["pyrsistent.pmap"] = (pyrsistent.pmap, lambda m, k, v: m.set(k, v), lambda m, k: m.remove(k))
    except ImportError:
        pass
    try:
        import rpds

        out["rpds.HashTrieMap"] = (rpds.HashTrieMap, lambda m, k, v: m.insert(k, v), lambda m, k: m.remove(k))
    except ImportError:
        pass
    return out


def _us(fn: Callable[[int], None], reps: int) -> float:
    t0 = time.perf_counter()
    fn(reps)
    return (time.perf_counter() - t0) / reps * 1e6


def speed(name: str, n: int) -> tuple[float, float, float, float, float]:
    build, put, drop = kinds()[name]
    value = object()
    m = build({i: value for i in range(n)})
    reps = 200 if name == "dict-copy" else 20_000

    def add(r: int) -> None:
        for j in range(r):
            put(m, n + j, value)

    def replace(r: int) -> None:
        for j in range(r):
            put(m, j % n, value)

    def remove(r: int) -> None:
        for j in range(r):
            drop(m, j % n)

    def lookup(r: int) -> None:
        get = m.get
        for j in range(r):
            get(j % n)

    def iterate(r: int) -> None:
        for _ in range(r):
            for _v in m.values():
                pass

    return (_us(add, reps), _us(replace, reps), _us(remove, reps), _us(lookup, 200_000) * 1000,
            _us(iterate, 20) / n * 1000)


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory(name: str, n: int) -> float:
    """Bytes per entry of a map grown by n single persistent inserts (run in a fresh process)."""
    _, put, _ = kinds()[name]
    build = kinds()[name][0]
    value = object()
    gc.collect()
    before = _rss()
    m = build({})
    if name == "dict-copy":
        m = {}
        for i in range(n):
            m[i] = value  # a dict grown in place: what the copies end up as
    else:
        for i in range(n):
            m = put(m, i, value)
    gc.collect()
    return (_rss() - before) / n


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        print(memory(sys.argv[2], int(sys.argv[3])))
        return
    print(f"Python {sys.version.split()[0]}")
    for n in SIZES:
        print(f"\nn = {n:,}")
        print("| map | add µs | replace µs | remove µs | lookup ns | iterate ns/entry | bytes/entry |")
        print("|---|---|---|---|---|---|---|")
        for name in kinds():
            a, r, d, g, it = speed(name, n)
            mem = float(subprocess.run([sys.executable, "-m", "bench.maps", "--memory", name, str(n)],
                                       capture_output=True, text=True, check=True).stdout)
            print(f"| {name} | {a:.2f} | {r:.2f} | {d:.2f} | {g:.0f} | {it:.1f} | {mem:.0f} |")


if __name__ == "__main__":
    main()
