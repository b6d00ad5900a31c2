"""The scale-out topology of issue 12 for the benches: a `redis-server` of our own, one core
(`serve --role core`) and two gateways (`serve --role gateway`), each a subprocess with its own port
and data directory, killed at the end.

Placement on the 2-core machine: every server-side process (Redis, the core, both gateways) is
pinned to CPU 0, where the single process of `--topology all` runs alone; the load generator keeps
CPU 1. Both topologies so get one core for the whole server side, and the per-process CPU
(/proc/PID/stat utime + stime) says what each tier costs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .server import NICE, SERVER_CPU, Server, can_pin, free_port, proc_cpu, proc_rss_kib, use_nice
from .wsclient import open_ws

REDIS = "/usr/bin/redis-server"
PLACEMENT = f"redis, core and the gateways pinned to CPU {SERVER_CPU} (sharing it), load generator on CPU 1"


def redis_binary() -> str:
    found = shutil.which("redis-server") or (REDIS if Path(REDIS).exists() else None)
    if found is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server): "
                           "--topology core+Ngw needs Debian's redis-server")
    return found


def wait_for_redis(proc: subprocess.Popen, port: int, log: Path, timeout: float) -> None:
    """Until the redis-server `proc` answers PING on `port`; RuntimeError (with the tail of its `log`)
    when it exits or stays silent for `timeout` seconds. tests/cluster.py uses it too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited at start ({proc.returncode}): "
                               f"{log.read_text(errors='replace')[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout} s")


class RedisServer:
    """redis-server on a free loopback port, no persistence, owned by this process."""

    def __init__(self, workdir: Path) -> None:
        self.binary = redis_binary()
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 10.0, pinned: bool = True) -> None:
        """Start it and wait until it answers (RuntimeError if it does not). `pinned`: on the
        server's CPU and niceness, as the bench places it (tests/cluster.py does not)."""
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning"]
        if pinned and can_pin():
            cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
        if pinned and use_nice():
            cmd = ["nice", "-n", str(NICE), *cmd]  # both exec: the pid is redis-server's
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_redis(self.proc, self.port, self.workdir / "redis.log", timeout)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class RoleServer(Server):
    """The server started as one role of the cluster (`--role`, `--redis`, `--port`, `--data-dir`)."""

    def __init__(self, role: str, redis_url: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.role = role
        self.redis_url = redis_url

    def command(self) -> list[str]:
        cmd = super().command()
        return [*cmd, "--role", self.role, "--redis", self.redis_url, "--port", str(self.port),
                "--data-dir", str(self.data_dir)]


class Cluster:
    """`with Cluster(...) as c:` Redis, a core and two gateways, started; `await c.ready()` before use.
    `c.core.data_dir` is where accounts go (before `start()`); `c.ports` are the gateways'."""

    def __init__(self, *, argon2: dict[str, int] | None = None, config: dict[str, dict[str, Any]] | None = None,
                 gateways: int = 2) -> None:
        self.tmp = tempfile.mkdtemp(prefix="oc-bench-cluster-", dir=os.environ.get("BENCH_TMP"))
        self.redis = RedisServer(Path(self.tmp))
        extra = config or {}
        core_port = free_port()
        while core_port == self.redis.port:
            core_port = free_port()
        self.core = RoleServer("core", self.redis.url, argon2=argon2, config={
            **extra,
            # the gateways' HTTP requests come from loopback, carrying the client's address
            "network": {**extra.get("network", {}), "trusted_proxies": ["127.0.0.1"]},
            "cluster": {"advertise": f"127.0.0.1:{core_port}"},
        })
        self.core.port = core_port
        taken = {self.redis.port, core_port}
        self.gateways = [RoleServer("gateway", self.redis.url, argon2=argon2,
                                    config={**extra, "cluster": {"name": f"gw{i + 1}"}})
                         for i in range(gateways)]
        for g in self.gateways:  # the ports are only picked here, not held: no two the same
            while g.port in taken:
                g.port = free_port()
            taken.add(g.port)

    @property
    def ports(self) -> list[int]:
        return [g.port for g in self.gateways]

    def pids(self) -> dict[str, int]:
        return {"redis": self.redis.pid, "core": self.core.pid,
                **{f"gateway{i + 1}": g.pid for i, g in enumerate(self.gateways)}}

    def cpu_parts(self) -> dict[str, float]:
        return {name: proc_cpu(pid) for name, pid in self.pids().items()}

    def cpu(self) -> float:
        return sum(self.cpu_parts().values())

    def rss_mib(self) -> dict[str, float]:
        return {name: round(proc_rss_kib(pid) / 1024, 1) for name, pid in self.pids().items()}

    def start(self) -> None:
        self.redis.start()
        self.core.start()
        for g in self.gateways:
            g.start()

    async def ready(self, timeout: float = 60.0) -> float:
        """Until a client on each gateway gets its handshake (a gateway not yet working with the
        core closes new connections with 1013); returns the seconds it took."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        for port in self.ports:
            while True:
                try:
                    ws = await open_ws("127.0.0.1", port, timeout=2)
                    ws.close()
                    break
                except Exception as exc:  # closed with 1013, or no answer yet
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"gateway on port {port} not ready within {timeout} s: {exc}\n"
                                           + self.describe()) from None
                    await asyncio.sleep(0.05)
        return time.monotonic() - t0

    def describe(self) -> str:
        """Which processes still run, and the end of each one's log (when something went wrong)."""
        lines = []
        for name, srv in (("core", self.core), *((f"gateway{i + 1}", g) for i, g in enumerate(self.gateways))):
            state = "running" if srv.proc is not None and srv.proc.poll() is None else f"exited ({srv.proc and srv.proc.returncode})"
            lines.append(f"--- {name} on port {srv.port}, {state}:\n{srv.log_tail(1500)}")
        return "\n".join(lines)

    def stop(self) -> None:
        try:
            for g in self.gateways:
                g.stop()
            self.core.stop()
        finally:
            for s in (*self.gateways, self.core):
                s.cleanup()
            self.redis.stop()
            if not os.environ.get("BENCH_KEEP"):
                shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
