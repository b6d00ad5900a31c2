"""Command line: `originchats serve --config PATH [...]`, `originchats init [DIR]`, `originchats --version`
(and `originchats admin ...`, originchats/admin.py)."""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shlex
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

from . import __version__
from .config import Config, ConfigError, load_config
from .logs import configure_logging


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port < 65536:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {port}")
    return port


def _startup_errors(exc: BaseException) -> list[BaseException] | None:
    """The leaves of `exc` when every one is an expected start-up failure (the port is taken, the
    database cannot be opened or migrated), else None: anything else is a bug and keeps its traceback."""
    from .store.migrate import MigrationError

    leaves: list[BaseException] = []
    stack = [exc]
    while stack:
        e = stack.pop()
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        elif isinstance(e, (OSError, MigrationError, sqlite3.Error)):
            leaves.append(e)
        else:
            return None
    return leaves


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="originchats", description="OriginChats-compatible chat server")
    parser.add_argument("--version", action="version", version=f"originchats {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--config", required=True, help="path to the TOML configuration")
    serve.add_argument("--host", help="listen address (overrides listen.host)")
    serve.add_argument("--port", type=_port, help="listen port (overrides listen.port)")
    serve.add_argument("--data-dir", help="data directory (overrides storage.data_dir)")
    serve.add_argument("--role", choices=("all", "core", "gateway"),
                       help="all: the whole server (default); core or gateway of a cluster (overrides cluster.role)")
    serve.add_argument("--redis", help="redis://HOST:PORT of a cluster (overrides cluster.redis)")
    init = sub.add_parser("init", help="write a commented config.toml and an empty data directory")
    init.add_argument("dir", nargs="?", default=".", help="where to write them (default: the current directory)")
    init.set_defaults(func=run_init)
    ADMIN_SETUP(sub)
    from .importer.command import add_parser as add_import  # `originchats import` (docs/import.md)

    add_import(sub)
    _operate_setup(sub)
    return parser


def _operate_setup(sub: argparse._SubParsersAction) -> None:
    """`backup`, `restore` (originchats/backup_cli.py) and `check` (originchats/check.py)."""
    from . import backup_cli, check

    backup_cli.add_parsers(sub)
    check.add_parser(sub)


def _admin_setup(sub: argparse._SubParsersAction) -> None:  # replaced when the admin CLI is present
    from . import admin

    admin.add_parser(sub)


ADMIN_SETUP = _admin_setup


# The data_dir line of the checked-in config.toml; `init` points it at DIR/data by absolute path, since a
# relative data_dir is read from the working directory and the server may be started from anywhere.
_DATA_DIR_LINE = re.compile(r'^data_dir = "data" +# .*$', re.MULTILINE)


def init_config_text(data_dir: Path) -> str:
    """The checked-in config.toml (shipped as package data) with storage.data_dir set to `data_dir`."""
    from .resources import data_file

    template = data_file("config.toml").read_text(encoding="utf-8")
    line = (f"data_dir = {json.dumps(str(data_dir), ensure_ascii=False)}"
            "  # written by `originchats init`; a relative path would be read from the working directory")
    text, n = _DATA_DIR_LINE.subn(lambda _: line, template)
    if n != 1:
        raise RuntimeError("the packaged config.toml has no `data_dir = \"data\"` line to point at the data directory")
    return text


def run_init(args: argparse.Namespace) -> int:
    target = Path(args.dir).absolute()
    config_path, data_dir = target / "config.toml", target / "data"
    problem = None
    if config_path.exists() or config_path.is_symlink():
        problem = f"{config_path} already exists; not overwriting it (move it away or choose another directory)"
    elif data_dir.exists() and not data_dir.is_dir():
        problem = f"{data_dir} exists and is not a directory"
    elif data_dir.is_dir() and any(data_dir.iterdir()):
        problem = f"{data_dir} already exists and is not empty; not touching it (choose another directory)"
    if problem:
        print(f"originchats: {problem}", file=sys.stderr)
        return 1
    text = init_config_text(data_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
        with open(config_path, "x", encoding="utf-8") as f:  # "x": never replaces a file, even one made just now
            f.write(text)
        data_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(data_dir, 0o700)  # mkdir's mode is filtered by the umask; the database is for this account only
    except OSError as exc:
        print(f"originchats: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {config_path}\ncreated {data_dir} (mode 0700)\n"
          f"start the server with: originchats serve --config {shlex.quote(str(config_path))}")
    return 0


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    listen = config.listen
    if args.host:
        listen = attrs.evolve(listen, host=args.host)
    if args.port is not None:
        listen = attrs.evolve(listen, port=args.port)
    storage = config.storage
    if args.data_dir:
        storage = attrs.evolve(storage, data_dir=args.data_dir)
    cluster = config.cluster
    if getattr(args, "role", None):
        cluster = attrs.evolve(cluster, role=args.role)
    if getattr(args, "redis", None):
        cluster = attrs.evolve(cluster, redis=args.redis)
    config = attrs.evolve(config, listen=listen, storage=storage, cluster=cluster)
    if getattr(args, "role", None) or getattr(args, "redis", None):
        from .config.loading import _cluster_problems

        problems = _cluster_problems(config)
        if problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


async def _serve_until_signal(config: Config, tls: object = None) -> None:
    from .server.app import serve

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        async def watch_signals() -> None:
            # SIGHUP reloads the TLS certificate (server/tls.py); without [tls] it keeps its default action
            watched = (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if tls is not None else ()))
            with trio.open_signal_receiver(*watched) as signals:
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        tls.reload()  # type: ignore[attr-defined]
                        continue
                    stop.set()
                    return

        nursery.start_soon(watch_signals)
        await serve(config, stop=stop, tls=tls)  # type: ignore[arg-type]
        nursery.cancel_scope.cancel()


def raise_fd_limit() -> None:
    """Every connection is a file descriptor: lift the soft limit (often 1024) to the hard limit."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20), hard))
    except (ImportError, ValueError, OSError):
        pass  # not fatal: the server just holds fewer connections


#: The cyclic garbage collector's thresholds in the server process (Python's default: 700, 10, 10).
#: Every connection keeps ~70 container objects alive (its task's coroutines, streams, parsers) and
#: a full collection walks all of them. With the defaults one ran every ~1,000 new connections
#: (each time the long-lived objects had grown by a quarter): connecting 10,000 clients took ~11 s
#: of server CPU, ~8 s with these (docs/performance.md, "Garbage collection"). Young collections
#: run every 100,000 new objects: each one walks every young object still alive, including those
#: of the connections in flight, and at 10,000 they took ~12% of the server's CPU while clients
#: connected (a gc callback timed ~1.1 s in the young and middle generations over a 10,000-client
#: run, ~0.3-0.5 s at 100,000). A middle one runs after 5 young ones, and a full one is considered
#: after 10 middle ones (~5 million objects, as before) and still only once the long-lived objects
#: grew by a quarter: cyclic garbage that reaches the old generation (closed connections) waits
#: longer to be freed, but not without bound.
GC_THRESHOLDS = (100_000, 5, 10)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # whatever the server creates (database, sockets, later files) is its user's alone
    if args.command == "serve":
        try:
            config = apply_overrides(load_config(args.config), args)
        except ConfigError as exc:
            print(f"originchats: {exc}", file=sys.stderr)
            return 2
        from .server.tls import Tls

        try:  # the certificate and key are read now: a wrong path is a configuration error
            tls = Tls.from_config(config.tls)
        except ConfigError as exc:
            print(f"originchats: {args.config}: {exc}", file=sys.stderr)
            return 2
        configure_logging(config.log.level, config.log.format)
        raise_fd_limit()
        tune_gc()
        try:
            trio.run(_serve_until_signal, config, tls)
        except (Exception, BaseExceptionGroup) as exc:
            leaves = _startup_errors(exc)
            if not leaves:
                raise
            for leaf in leaves:
                print(f"originchats: cannot start: {leaf}", file=sys.stderr)
            return 1
        return 0
    return args.func(args)
