"""Per-address connection limits and X-Forwarded-For (issue 14, per-IP limits; `[network]` in
config.toml): over a limit the upgrade is answered 429 and the connection closed, and only a trusted
proxy may say on whose behalf it connects. Then the descriptor limit (unbounded fd use): a server
out of file descriptors refuses new connections with a 503, logs that once, and recovers."""

from __future__ import annotations

import json
import resource
import sys

import pytest
import trio

from originchats.config import ConfigError, NetworkSection, parse_config
from tests.client import Closed, settle
from tests.test_durability import ServerProcess
from tests.test_logs import json_logs, parse, restore_logging  # noqa: F401  (fixtures)


async def refused(server, ip: str, xff: str | None = None) -> bool:  # type: ignore[no-untyped-def]
    """True when a connection from `ip` (through a proxy naming `xff`) is answered 429."""
    headers = [(b"X-Forwarded-For", xff.encode())] if xff is not None else None
    try:
        await server.connect(ip=ip, extra_headers=headers)
    except Closed as exc:
        assert str(exc) == "closed with None 'rejected 429'", exc
        return True
    return False


async def test_open_connections_per_address(make_server, json_logs, autojump_clock):  # noqa: F811
    server = await make_server(network=NetworkSection(max_connections_per_ip=3, new_connections_per_second=0))
    first = [await server.connect(ip="203.0.113.1") for _ in range(3)]
    assert await refused(server, "203.0.113.1")
    assert not await refused(server, "203.0.113.2")  # another address is not affected
    for client in first:  # the refusal left the others alone
        await client.send("ping")
        assert (await client.recv())["cmd"] == "auth_error"
    await first[0].close()
    await settle()
    assert not await refused(server, "203.0.113.1")  # a slot is free again
    assert await refused(server, "203.0.113.1")
    events = parse(json_logs)
    assert [e["reason"] for e in events if e["event"] == "connection_refused"] == ["too_many_connections"] * 2
    assert not [e for e in events if "exception" in e or e["event"] == "connection_crashed"]


async def test_new_connections_per_second_per_address(make_server, autojump_clock):
    server = await make_server(network=NetworkSection(new_connections_per_second=1, new_connections_burst=3))
    for _ in range(3):  # the burst
        await (await server.connect(ip="203.0.113.1")).close()
    assert await refused(server, "203.0.113.1")
    assert not await refused(server, "203.0.113.2")
    await trio.sleep(1)  # one more token
    assert not await refused(server, "203.0.113.1")
    assert await refused(server, "203.0.113.1")


async def test_ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4(make_server):
    server = await make_server(network=NetworkSection(max_connections_per_ip=1, new_connections_per_second=0))
    assert not await refused(server, "2001:db8:0:1::1")
    assert await refused(server, "2001:db8:0:1::ffff")  # the same /64
    assert not await refused(server, "2001:db8:0:2::1")
    assert not await refused(server, "::ffff:198.51.100.7")
    assert await refused(server, "198.51.100.7")


async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(make_server):
    server = await make_server(network=NetworkSection(max_connections_per_ip=1, new_connections_per_second=0,
                                                      trusted_proxies=["10.9.0.0/16", "192.0.2.1"]))
    proxy = "10.9.0.1"
    # through the proxy each client has its own allowance, whichever proxy connection carries it
    assert not await refused(server, proxy, "203.0.113.7")
    assert not await refused(server, "10.9.0.2", "203.0.113.8")
    assert await refused(server, "10.9.0.3", "203.0.113.7")
    # what the client wrote itself (left of the address our proxy appended) proves nothing
    assert not await refused(server, proxy, "203.0.113.7, 203.0.113.99")
    assert await refused(server, proxy, "6.6.6.6, 203.0.113.99")
    # a chain of trusted proxies: the right-most address that is not one of them
    assert not await refused(server, proxy, "203.0.113.50, 192.0.2.1")
    assert await refused(server, proxy, "203.0.113.50")
    # from anyone else the header is ignored: the peer is the client
    assert not await refused(server, "198.51.100.1", "1.1.1.1")
    assert await refused(server, "198.51.100.1", "2.2.2.2")


def test_trusted_proxies_must_be_addresses_or_networks():
    with pytest.raises(ConfigError, match=r"network.trusted_proxies.1: not an address or network"):
        parse_config({"network": {"trusted_proxies": ["10.0.0.0/8", "proxy.example"]}})
    assert parse_config({"network": {"trusted_proxies": ["::1", "10.0.0.1"]}}).network.trusted_proxies == ["::1", "10.0.0.1"]


# ---- file descriptors: a real listener in a server process with a low descriptor limit -------------


class LowFdServer(ServerProcess):
    """The server process, started with RLIMIT_NOFILE (soft and hard) at `nofile`, so it cannot raise it."""

    def __init__(self, tmp_path, nofile: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(tmp_path, config_text=None)
        self.config_path.write_text(self.config_path.read_text() + (
            "[network]\nmax_connections_per_ip = 0\nnew_connections_per_second = 0.0\n"))
        self.nofile = nofile

    async def __aenter__(self) -> LowFdServer:
        nofile = self.nofile

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        out = open(self.log_path, "wb")  # noqa: SIM115 - closed in __aexit__
        err = open(self.err_path, "wb")  # noqa: SIM115
        self._files = [out, err]
        self.proc = await trio.lowlevel.open_process(
            [sys.executable, "-m", "originchats", "serve", "--config", str(self.config_path)],
            stdout=out, stderr=err, cwd=str(self.dir), preexec_fn=limit)
        await self.wait_listening()
        return self


async def test_out_of_file_descriptors_new_connections_get_503_and_one_log_line(tmp_path):
    with trio.fail_after(30):  # a connection left in the backlog would wait for ever
        await _out_of_fds(tmp_path)


async def _out_of_fds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with LowFdServer(tmp_path, nofile=40) as srv, trio.open_nursery() as nursery:
        alice = await srv.user(nursery, "alice")  # the database's files are open now
        held, refused = [alice], 0
        for _ in range(40):
            try:
                held.append(await srv.connect(nursery))
            except Closed as exc:
                assert str(exc) == "closed with None 'rejected 503'", exc
                refused += 1
        assert 5 < len(held) < 40 and refused == 41 - len(held)
        for client in held[1:]:  # descriptors free again: the server takes connections again
            await client.close()
        newcomer = await srv.connect(nursery)
        await newcomer.send("ping")
        assert (await newcomer.recv())["cmd"] == "auth_error"
        await alice.send("ping", listener="still-here")  # the logged-in socket never noticed
        while (await alice.recv()).get("listener") != "still-here":
            pass
        failed = [e for e in srv.events() if e["event"] == "accept_failed"]
        assert len(failed) == 1 and failed[0]["error"] == "EMFILE" and failed[0]["level"] == "warning"
        assert "Traceback" not in srv.stderr() and "exception" not in json.dumps(srv.events())
        nursery.cancel_scope.cancel()
