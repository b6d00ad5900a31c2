"""`originchats admin …`: operator commands on a server's data directory.

With the server running, the command goes through its admin socket (`<data_dir>/admin.sock`),
so it takes effect at once and connected clients are told. Without a running server, the same
pure handler and the same effect interpreter run on the SQLite file directly (server/offline.py),
each save in its own transaction.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, load_config
from .datadir import socket_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    admin = sub.add_parser("admin", help="operator commands on the data directory")
    admin.add_argument("--config", default="config.toml", help="configuration file (for its data_dir)")
    admin.add_argument("--data-dir", help="data directory (overrides the configuration)")
    cmds = admin.add_subparsers(dest="admin_command", required=True)
    grant = cmds.add_parser("grant-owner", help="give a user the owner role")
    grant.add_argument("name", help="username (local names may omit USR:local_)")
    for extra in ADMIN_COMMANDS:
        extra(cmds)
    admin.set_defaults(func=run)


#: Hooks that add further `admin` subcommands: fn(subparsers) -> None. Each sets `request` on args
#: through `set_defaults(build=fn(args) -> dict)`.
ADMIN_COMMANDS: list[Any] = []


def _ban_command(cmds: argparse._SubParsersAction) -> None:
    ban = cmds.add_parser("ban", help="ban a user and close their open connections")
    ban.add_argument("name", help="username (local names may omit USR:local_)")
    ban.add_argument("--reason", help="recorded in the audit log")
    ban.set_defaults(build=lambda a: {"cmd": "ban", "user": a.name, "reason": a.reason})
    unban = cmds.add_parser("unban", help="lift a user's ban")
    unban.add_argument("name", help="username (local names may omit USR:local_)")
    unban.set_defaults(build=lambda a: {"cmd": "unban", "user": a.name})


def _list_users_command(cmds: argparse._SubParsersAction) -> None:
    users = cmds.add_parser("list-users", help="list every account with its roles and state")
    users.set_defaults(build=lambda a: {"cmd": "list-users"})


class AdminInputError(Exception):
    """The operator's input is unusable (printed, exit code 2)."""


def read_new_password() -> str:
    """The new password: typed twice at a hidden prompt on a terminal, else the first line of stdin
    (`printf '%s\n' "$PW" | originchats admin reset-password NAME`). Never an argument: every
    local user can read another process's arguments (`ps`)."""
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Repeat the new password: ") != first:
            raise AdminInputError("the passwords do not match")
        return first
    line = sys.stdin.readline()
    if not line:
        raise AdminInputError("no password on standard input")
    return line.rstrip("\r\n")


def _reset_password_command(cmds: argparse._SubParsersAction) -> None:
    reset = cmds.add_parser("reset-password", help="set a local account's password (read from a prompt or stdin); "
                                                   "revokes its sessions and closes its connections")
    reset.add_argument("name", help="username (local names may omit USR:local_)")
    reset.set_defaults(build=lambda a: {"cmd": "reset-password", "user": a.name, "password": read_new_password()})


def _files_command(cmds: argparse._SubParsersAction) -> None:
    files = cmds.add_parser("files", help="disk use of attachments per user; --purge NAME deletes that user's uploads")
    files.add_argument("--purge", metavar="NAME", help="delete every upload of this user (records, message "
                                                       "references, and the bytes no other upload shares)")
    files.set_defaults(build=lambda a: {"cmd": "files", "purge": a.purge} if a.purge else {"cmd": "files"})


ADMIN_COMMANDS += [_ban_command, _list_users_command, _reset_password_command, _files_command]


def build_request(args: argparse.Namespace) -> dict[str, Any]:
    builder = getattr(args, "build", None)
    if builder is not None:
        return builder(args)
    return {"cmd": args.admin_command, "user": getattr(args, "name", None)}


def data_dir_of(args: argparse.Namespace) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    return Path(load_config(args.config).storage.data_dir)


def send_to_server(path: Path, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any] | None:
    """The server's answer, or None when no server listens on `path`."""
    if not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        sock.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
    return json.loads(buf.split(b"\n", 1)[0])


def run_offline(data_dir: Path, request: dict[str, Any], argon2_params: tuple[int, int] = (65536, 3)) -> dict[str, Any]:
    """Apply an operator command to the database of a stopped server (server/offline.py: the same
    handler and effect interpreter as through the admin socket). A password is hashed here, with
    `argon2_params` (memory KiB, passes: the configured cost)."""
    import trio

    from .server.offline import run_offline as run

    return trio.run(run, Path(data_dir), request, argon2_params)


def execute(data_dir: Path, request: dict[str, Any], argon2_params: tuple[int, int] = (65536, 3)) -> dict[str, Any]:
    answer = send_to_server(socket_path(data_dir), request)
    if answer is not None:
        return answer
    return run_offline(data_dir, request, argon2_params)


def argon2_params_of(args: argparse.Namespace) -> tuple[int, int]:
    """The configured argon2id cost when the configuration file can be read, else the default."""
    try:
        cracked = load_config(args.config).cracked
    except ConfigError:
        from .config import CrackedSection

        cracked = CrackedSection()
    return cracked.argon2_memory_kib, cracked.argon2_time_cost


def run(args: argparse.Namespace) -> int:
    try:
        data_dir = data_dir_of(args)
        request = build_request(args)
    except (ConfigError, AdminInputError) as exc:
        print(f"originchats: {exc}", file=sys.stderr)
        return 2
    result = execute(data_dir, request, argon2_params_of(args))
    print(result.get("message", ""))
    for line in result.get("lines", []):
        print(line)
    return 0 if result.get("ok") else 1
