"""Helpers of the importer's tests: the original server's data folder (../shared/fixtures), the
import run in-process, and a real server started on a copy of an imported data directory."""

from __future__ import annotations

import io
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import trio

from originchats.importer.progress import Progress
from originchats.importer.run import run_import
from tests.conftest import Server, make_config

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ORIGINAL_DB = FIXTURES / "original-db"
ORIGINAL_CONFIG = FIXTURES / "original-config.json"

PASSWORDS = {"alice": "alice-owner-pw1", "bob": "bob-admin-pw2", "carol": "carol-mod-pw3", "dave": "dave-vip-pw4",
             "erin": "erin-member-pw5", "frank": "frank-banned-pw6"}


def do_import(root: Path, base: Path, *args: str, **kwargs: Any) -> tuple[int, str, str]:
    """Run the import of `root` into `base`/data (the tests' config); (exit code, stdout, progress)."""
    out, err = io.StringIO(), io.StringIO()
    config = make_config(base)
    code = run_import(root, config, source_config=kwargs.pop("source_config", ORIGINAL_CONFIG), out=out,
                      progress=Progress(err, bar=False), **kwargs)
    return code, out.getvalue(), err.getvalue()


def copy_data(src: Path, base: Path) -> Path:
    shutil.copytree(src, base / "data")
    return base / "data"


def query(data_dir: Path, sql: str, *params: Any) -> list[tuple]:
    con = sqlite3.connect(data_dir / "originchats.sqlite3")
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def table_dump(data_dir: Path) -> dict[str, list[tuple]]:
    """Every row of every table (the FTS shadow tables included), to compare two states of a store."""
    con = sqlite3.connect(data_dir / "originchats.sqlite3")
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                          " AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")]
        return {n: sorted(map(repr, con.execute(f'SELECT * FROM "{n}"'))) for n in names}  # type: ignore[arg-type]
    finally:
        con.close()


async def start_server(nursery: trio.Nursery, base: Path) -> Server:
    srv = Server(nursery=nursery, config=make_config(base))
    await srv.start()
    return srv


async def login(srv: Server, name: str) -> Any:
    client = await srv.connect()
    await client.send("login", username=name, password=PASSWORDS[name])
    await client.expect("auth_success")
    client.ready = await client.expect("ready")
    client.username = client.ready["user"]["username"]
    await client.drain()
    return client


async def ask(client: Any, cmd: str, **fields: Any) -> dict[str, Any]:
    """The reply to `cmd` (the packet echoing its listener); other packets before it are dropped."""
    await client.send(cmd, listener="t", **fields)
    while True:
        packet = await client.recv()
        if packet.get("listener") == "t":
            return packet
