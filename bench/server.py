"""Start the real server (`python -m originchats serve`) as a subprocess on a temporary data directory,
pinned to CPU 0, and read its CPU time and memory from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU = 0
CLIENT_CPU = 1
CHEAP_ARGON2 = {"argon2_memory_kib": 64, "argon2_time_cost": 1}
# Every client of a bench connects from 127.0.0.1, so the per-address limits of the auth path
# (docs/security.md) are lifted, except where a scenario measures them (`logins --hostile`).
OPEN_AUTH = {"hash_queue": 1_000_000, "hash_per_ip": 1_000_000, "rotur_per_ip": 1_000,
             "registrations_per_ip_per_hour": 0, "ip_failures": 0}
# The machine is shared (other test suites run beside the bench): when we may, the server and the load
# generator run at a higher priority than those neighbours (BENCH_NICE=0 turns this off).
NICE = int(os.environ.get("BENCH_NICE", "-10"))


def use_nice() -> bool:
    return NICE != 0 and os.geteuid() == 0 and shutil.which("nice") is not None


def can_pin() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pin_self(cpu: int = CLIENT_CPU) -> bool:
    """Pin this (load generator) process to `cpu`; also raise its fd soft limit."""
    raise_nofile()
    if use_nice():
        try:
            os.setpriority(os.PRIO_PROCESS, 0, NICE)  # absolute: children of `all` do it again
        except OSError:
            pass
    if not can_pin():
        return False
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True


def raise_nofile() -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, sections: dict[str, dict[str, Any]], top: dict[str, Any]) -> None:
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for name, values in sections.items():
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")


def proc_cpu(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of the whole process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_status_kib(pid: int, key: str) -> int:
    """A KiB figure of /proc/PID/status: `VmRSS` (resident now), `VmHWM` (the peak so far)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_rss_kib(pid: int) -> int:
    return proc_status_kib(pid, "VmRSS")


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


class Server:
    """`with Server(...) as srv:` starts the server and waits until it accepts connections."""

    def __init__(self, *, data_dir: Path | None = None, argon2: dict[str, int] | None = None,
                 synchronous: str = "full", heartbeat: float = 3600.0, log_level: str = "warning",
                 argv: list[str] | None = None, keep: bool = False,
                 config: dict[str, dict[str, Any]] | None = None, auth: dict[str, Any] | None = None) -> None:
        self.tmp = None
        if data_dir is None:
            self.tmp = tempfile.mkdtemp(prefix="oc-bench-", dir=os.environ.get("BENCH_TMP"))
            data_dir = Path(self.tmp) / "data"
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.argon2 = argon2
        self.synchronous = synchronous
        self.heartbeat = heartbeat
        self.log_level = log_level
        self.argv = argv  # a different server program (the ceiling); gets the port as last argument
        self.keep = keep or bool(os.environ.get("BENCH_KEEP"))  # BENCH_KEEP=1: keep the data dir and server.log
        self.extra_config = config or {}  # more config sections (or keys of ours), e.g. {"limits": {...}}
        self.auth = OPEN_AUTH if auth is None else auth  # the [auth] section
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.ready_after = 0.0

    @property
    def config_path(self) -> Path:
        return self.data_dir.parent / "bench-config.toml"

    def write_config(self) -> None:
        cracked: dict[str, Any] = {"allow_registration": True}
        if self.argon2:
            cracked.update(self.argon2)
        sections: dict[str, dict[str, Any]] = {
            "listen": {"host": "127.0.0.1", "port": self.port},
            "storage": {"data_dir": str(self.data_dir), "synchronous": self.synchronous},
            "cracked": cracked,
            "rate_limiting": {"enabled": False},
            **({"auth": self.auth} if self.auth else {}),
            "heartbeat": {"interval_seconds": self.heartbeat},
            "log": {"level": self.log_level, "format": "json"},
            # thousands of connections from 127.0.0.1: no per-address limits (the defaults are 64 open, 10/s)
            "network": {"max_connections_per_ip": 0, "new_connections_per_second": 0.0},
        }
        for name, values in self.extra_config.items():
            sections[name] = {**sections.get(name, {}), **values}
        write_config(self.config_path, sections, {"auth_mode": "cracked"})

    def command(self) -> list[str]:
        if self.argv is not None:
            cmd = [*self.argv, str(self.port)]
        else:
            cmd = [sys.executable, "-m", "originchats", "serve", "--config", str(self.config_path)]
            if os.environ.get("BENCH_SWITCH"):  # experiment: another GIL switch interval
                cmd[1:3] = ["-c", "import sys; sys.setswitchinterval(%s); from originchats.cli import main;"
                            " sys.exit(main(sys.argv[1:]))" % os.environ["BENCH_SWITCH"]]
        if can_pin():
            cmd = ["taskset", "-c", str(SERVER_CPU), *cmd]
        if use_nice():
            cmd = ["nice", "-n", str(NICE), *cmd]  # nice and taskset exec: the pid stays the server's
        return cmd

    def start(self, wait: bool = True) -> None:
        if self.argv is None:
            self.write_config()
        log = open(self.data_dir.parent / "server.log", "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        if wait:
            self.wait_listening()
        self.profiler = None
        out = os.environ.get("BENCH_PYSPY")  # a folded-stacks file: profile the server while it runs
        if out and self.argv is None:
            Server._profiles = getattr(Server, "_profiles", 0) + 1
            if Server._profiles > 1:
                out = f"{out}.{Server._profiles}"
            spy = Path(sys.executable).parent / "py-spy"
            self.profiler = subprocess.Popen([str(spy), "record", "--pid", str(self.proc.pid), "--format", "raw",
                                              "--rate", "250", "--nonblocking", *(["--idle"] if os.environ.get("BENCH_PYSPY_IDLE") else []), "-o", out],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_listening(self, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    self.ready_after = time.monotonic() - self.started_at
                    return self.ready_after
            except OSError:
                time.sleep(0.005)
        raise RuntimeError(f"server did not listen within {timeout} s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.data_dir.parent / "server.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        # `taskset -c 0 cmd` execs cmd, so the Popen pid is the server process itself
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def stop(self, timeout: float = 20.0) -> int | None:
        if getattr(self, "profiler", None) is not None:
            self.profiler.send_signal(signal.SIGINT)
            self.profiler.wait(30)
            self.profiler = None
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self) -> None:
        self.kill()
        if self.tmp is not None and not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.cleanup()
