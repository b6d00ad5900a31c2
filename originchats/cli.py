"""Command line: `originchats serve --config PATH [...]`, `originchats --version`."""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence

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
    ADMIN_SETUP(sub)
    return parser


def _admin_setup(sub: argparse._SubParsersAction) -> None:  # replaced when the admin CLI is present
    from . import admin

    admin.add_parser(sub)


ADMIN_SETUP = _admin_setup


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    listen = config.listen
    if args.host:
        listen = attrs.evolve(listen, host=args.host)
    if args.port is not None:
        listen = attrs.evolve(listen, port=args.port)
    storage = config.storage
    if args.data_dir:
        storage = attrs.evolve(storage, data_dir=args.data_dir)
    return attrs.evolve(config, listen=listen, storage=storage)


async def _serve_until_signal(config: Config) -> None:
    from .server.app import serve

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        async def watch_signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    stop.set()
                    return

        nursery.start_soon(watch_signals)
        await serve(config, stop=stop)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # whatever the server creates (database, sockets, later files) is its user's alone
    if args.command == "serve":
        try:
            config = apply_overrides(load_config(args.config), args)
        except ConfigError as exc:
            print(f"originchats: {exc}", file=sys.stderr)
            return 2
        configure_logging(config.log.level, config.log.format)
        raise_fd_limit()
        try:
            trio.run(_serve_until_signal, config)
        except (Exception, BaseExceptionGroup) as exc:
            leaves = _startup_errors(exc)
            if not leaves:
                raise
            for leaf in leaves:
                print(f"originchats: cannot start: {leaf}", file=sys.stderr)
            return 1
        return 0
    return args.func(args)
