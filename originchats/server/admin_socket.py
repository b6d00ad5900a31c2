"""The operator's way into a running server: a Unix socket `admin.sock` in the data directory
(mode 0600, so only the account that runs the server can use it). One JSON line in, one out.

`originchats admin …` connects here when the server runs, so the change goes through the same
pure handlers, is persisted by the writer and broadcast to connected clients at once. When no
server runs, the CLI applies the same handler to the database directly (server/offline.py). The
command itself runs through the operator bridge (server/operator.py), the same in both cases.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import structlog
import trio

from ..datadir import socket_path
from .hub import Hub

log = structlog.get_logger("originchats.admin")
MAX_REQUEST = 64 * 1024


async def serve_admin(hub: Hub, data_dir: str | Path, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    path = socket_path(data_dir)
    if path.exists():
        path.unlink()  # a stale socket of a server that was killed
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old_umask)
    sock.listen(16)
    listener = trio.SocketListener(sock)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started()
            await trio.serve_listeners(lambda stream: _handle(hub, stream), [listener], handler_nursery=nursery)
    finally:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


async def _handle(hub: Hub, stream: trio.SocketStream) -> None:
    async with stream:
        buf = b""
        try:
            with trio.fail_after(10):
                while b"\n" not in buf and len(buf) < MAX_REQUEST:
                    data = await stream.receive_some(4096)
                    if not data:
                        break
                    buf += data
            request = json.loads(buf.split(b"\n", 1)[0] or b"null")
            if not isinstance(request, dict):
                raise ValueError("expected a JSON object")
            result = await hub.operator.run(request)
        except (ValueError, trio.TooSlowError) as exc:
            result = {"ok": False, "message": f"bad admin request: {exc}"}
        log.info("admin_command", cmd=request.get("cmd") if isinstance(locals().get("request"), dict) else None,
                 ok=result.get("ok"))
        try:
            await stream.send_all(json.dumps(result).encode() + b"\n")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
