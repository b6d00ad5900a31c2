"""Durability: a message anyone saw broadcast survives `kill -9` of the server process.

Broadcasts are sent only after the commit (Persist → then), so every id a client saw must be in
the database after an abrupt kill and a restart on the same data directory. The server runs as a
real subprocess (`python -m originchats serve`) on a free port; clients talk to it over TCP.

`ServerProcess` is shared with test_shutdown, test_cli and test_logs.
"""

from __future__ import annotations

import ast
import itertools
import json
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import trio

from originchats.store.db import db_path
from wsproto.utilities import LocalProtocolError

from tests.client import Client, Closed, sign_in

CONFIG = """\
auth_mode = "cracked"
[listen]
host = "127.0.0.1"
port = 0
[storage]
data_dir = "{data_dir}"
[cracked]
argon2_memory_kib = 64
argon2_time_cost = 1
[rate_limiting]
enabled = false
[log]
level = "{level}"
format = "json"
"""


class ServerProcess:
    """`python -m originchats serve` in a subprocess with JSON logs in a file.

    Use as `async with ServerProcess(tmp_path) as srv:`; the child is always killed on the way out.
    """

    def __init__(self, tmp_path: Path, *, name: str = "server", level: str = "info", args: list[str] | None = None,
                 config_text: str | None = None) -> None:
        self.dir = tmp_path
        self.data_dir = tmp_path / "data"
        self.config_path = tmp_path / "config.toml"
        if not self.config_path.exists() or config_text is not None:
            self.config_path.write_text(config_text or CONFIG.format(data_dir=self.data_dir, level=level))
        self.log_path = tmp_path / f"{name}.log"
        self.err_path = tmp_path / f"{name}.err"
        self.args = args or []
        self.proc: trio.Process | None = None
        self.clients: list[Client] = []
        self.host = ""
        self.port = 0
        self._files: list[Any] = []

    async def __aenter__(self) -> ServerProcess:
        out = open(self.log_path, "wb")  # noqa: SIM115 - closed in __aexit__
        err = open(self.err_path, "wb")  # noqa: SIM115
        self._files = [out, err]
        self.proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "originchats", "serve", "--config", str(self.config_path), *self.args],
            stdout=out, stderr=err, cwd=str(self.dir))
        await self.wait_listening()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for client in self.clients:
                await trio.aclose_forcefully(client.stream)
            if self.proc is not None and self.proc.returncode is None:
                self.proc.kill()
                with trio.move_on_after(10):
                    await self.proc.wait()
        finally:
            for f in self._files:
                f.close()

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (every stdout line must be one JSON object)."""
        text = self.log_path.read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stderr(self) -> str:
        return self.err_path.read_text()

    async def wait_for_event(self, name: str, timeout: float = 20) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                for event in self.events() if self.log_path.exists() else []:
                    if event["event"] == name:
                        return event
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited with {self.proc.returncode}: {self.stderr()}")
                await trio.sleep(0.02)  # polling a file: bounded by fail_after

    async def wait_listening(self) -> None:
        event = await self.wait_for_event("listening")
        self.host, self.port = ast.literal_eval(event["address"])[:2]

    async def connect(self, nursery: trio.Nursery) -> Client:
        client = Client(await trio.open_tcp_stream(self.host, self.port))
        self.clients.append(client)  # its socket is closed on the way out
        await client.open(nursery)
        client.handshake = await client.expect("handshake")
        return client

    async def user(self, nursery: trio.Nursery, name: str, password: str = "pass1234") -> Client:
        client = await self.connect(nursery)
        await sign_in(client, name, password)
        return client

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        with trio.fail_after(timeout):
            return await self.proc.wait()

    def stored_message_ids(self) -> set[str]:
        con = sqlite3.connect(f"{db_path(self.data_dir).resolve().as_uri()}?mode=ro", uri=True)
        try:
            return {row[0] for row in con.execute("SELECT id FROM messages")}
        finally:
            con.close()


async def record_broadcasts(client: Client, seen: set[str], enough: trio.Event, threshold: int) -> None:
    """Collect the id of every message_new this client receives, until its connection ends."""
    try:
        while True:
            packet = await client.recv()
            if packet.get("cmd") == "message_new":
                seen.add(packet["message"]["id"])
                if len(seen) >= threshold:
                    enough.set()
    except (Closed, trio.TooSlowError):
        pass


async def burst(client: Client, tag: str, done: list[int]) -> None:
    """Send messages as fast as the connection takes them, until the server goes away."""
    try:
        for i in itertools.count():
            await client.send("message_new", channel="general", content=f"{tag} {i}")
            done[0] += 1
    except (trio.BrokenResourceError, trio.ClosedResourceError, LocalProtocolError):
        pass  # the server went away (or closed this connection) mid-burst


async def write_under_load(srv: Any, nursery: trio.Nursery, writers: int, threshold: int, seen: set[str],
                           sent: list[int]) -> list[Client]:
    """`writers` accounts send messages as fast as they can (in `nursery`, until the server goes
    away), each recording every message_new it receives in `seen`; returns their clients once
    `threshold` are seen."""
    clients = [await srv.user(nursery, f"writer{i}") for i in range(writers)]
    for c in clients:
        await c.drain()
    enough = trio.Event()
    for c in clients:
        nursery.start_soon(record_broadcasts, c, seen, enough, threshold)
    for i, c in enumerate(clients):
        nursery.start_soon(burst, c, f"w{i}", sent)
    with trio.fail_after(30):
        await enough.wait()
    return clients


async def all_history(client: Client) -> set[str]:
    ids: set[str] = set()
    start = 0
    while True:
        await client.send("messages_get", channel="general", start=start, limit=200)
        page = (await client.expect("messages_get"))["messages"]
        if not page:
            return ids
        ids |= {m["id"] for m in page}
        start += len(page)


async def test_every_broadcast_message_survives_kill_9(tmp_path):
    clients_n = 4
    seen: set[str] = set()
    sent = [0]
    async with ServerProcess(tmp_path, name="first") as srv:
        async with trio.open_nursery() as nursery:
            clients = await write_under_load(srv, nursery, clients_n, 300, seen, sent)
            srv.signal(signal.SIGKILL)  # mid-burst: many messages are read, queued or committing
            assert await srv.wait_exit(10) == -signal.SIGKILL
            with trio.fail_after(10):
                for c in clients:
                    await c.closed.wait()
    assert len(seen) >= 300

    async with ServerProcess(tmp_path, name="second") as srv:
        async with trio.open_nursery() as nursery:
            reader = await srv.user(nursery, "reader")
            await reader.drain()
            history = await all_history(reader)
            assert seen <= history, f"{len(seen - history)} broadcast messages were lost"
            assert seen <= srv.stored_message_ids()
            assert len(history) < sent[0], "every message was processed: the kill was not mid-burst"
            # the restarted server works normally on the recovered database
            await reader.send("message_new", channel="general", content="after the crash")
            await reader.expect("message_new")
            srv.signal(signal.SIGTERM)
            assert await srv.wait_exit(10) == 0
