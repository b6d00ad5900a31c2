"""What crosses Redis between gateways and the core (originchats/cluster/wire.py), and the
`[cluster]` settings that choose a role."""

from __future__ import annotations

import pytest

from originchats.cli import apply_overrides, build_parser
from originchats.cluster import wire
from originchats.config import ConfigError, parse_config


def test_an_inbound_batch_reads_back_as_it_was_written():
    batch = wire.Inbound(gateway="gw-é:5713", boot=2**62 + 5, epoch=7, seq=41)
    batch.open(1, "2001:db8::1", True)
    batch.text(1, '{"cmd":"ping","x":"\\ud800 ünïcode 🎉"}')
    batch.bad(1, "Invalid message format: expected a JSON object", "not_an_object", "L", {"chars": 2})
    batch.open(2, "10.0.0.2")
    batch.closed(1)
    back = wire.Inbound.unpack(batch.pack())
    assert (back.gateway, back.boot, back.epoch, back.seq) == ("gw-é:5713", 2**62 + 5, 7, 41)
    assert back.records == [
        (wire.OPEN, 1, ("2001:db8::1", True)),
        (wire.TEXT, 1, '{"cmd":"ping","x":"\\ud800 ünïcode 🎉"}'),
        (wire.BAD, 1, ("Invalid message format: expected a JSON object", "not_an_object", "L", {"chars": 2})),
        (wire.OPEN, 2, ("10.0.0.2", False)),
        (wire.CLOSED, 1, None),
    ]


def test_a_broadcast_goes_to_a_gateway_once_with_all_its_receivers():
    out = wire.Outbound(epoch=3, boot=9, seq=2)
    frame, other = b"\x81\x05hello", b"\x81\x02hi"
    for local in (4, 5, 6):  # one broadcast: the same frame object to three sockets
        out.frame(frame, local)
    out.frame(other, 5)  # a reply
    out.done(5, True)
    out.frame(frame, 7)  # the same bytes again later: a record of its own, keeping the order
    out.close(6, 1008, "too many invalid requests")
    packed = out.pack()
    assert packed.count(b"hello") == 2  # once per record, never once per receiver
    back = wire.Outbound.unpack(packed)
    assert (back.epoch, back.boot, back.seq) == (3, 9, 2)
    assert [(k, a, list(b) if k == wire.FRAME else b) for k, a, b in back.records] == [
        (wire.FRAME, frame, [4, 5, 6]), (wire.FRAME, other, [5]), (wire.DONE, 5, True),
        (wire.FRAME, frame, [7]), (wire.CLOSE, 6, (1008, "too many invalid requests"))]


@pytest.mark.parametrize("blob", [b"", b"\x02" + b"\0" * 40, b"\x01" + b"\0" * 26 + b"Z", b"\x01\0\0"])
def test_a_blob_that_is_not_a_batch_is_refused_cleanly(blob):
    for kind in (wire.Inbound, wire.Outbound):
        with pytest.raises(wire.WireError):
            kind.unpack(blob)


def _config(text: str):
    return parse_config(__import__("tomllib").loads(text))


def test_the_cluster_settings_are_checked():
    assert _config("").cluster.role == "all"
    with pytest.raises(ConfigError) as err:
        _config('[cluster]\nrole = "edge"\n')
    assert "cluster.role: must be all, core or gateway" in str(err.value)
    with pytest.raises(ConfigError) as err:
        _config('[cluster]\nrole = "gateway"\nredis = "http://x"\n')
    assert "cluster.redis: expected redis://HOST:PORT" in str(err.value)
    with pytest.raises(ConfigError) as err:
        _config('[heartbeat]\ninterval_seconds = 3\n[cluster]\nrole = "core"\nredis = "redis://r:6379"\n')
    assert "cluster.dead_after_seconds: at most heartbeat.interval_seconds" in str(err.value)
    core = _config('[cluster]\nrole = "core"\nredis = "redis://10.0.0.9:6380/2"\nadvertise = "10.0.0.10:5713"\n')
    assert (core.cluster.role, core.cluster.redis) == ("core", "redis://10.0.0.9:6380/2")


def test_role_and_redis_on_the_command_line_override_the_config():
    args = build_parser().parse_args(["serve", "--config", "x.toml", "--role", "gateway", "--redis", "redis://r:1"])
    config = apply_overrides(_config(""), args)
    assert (config.cluster.role, config.cluster.redis) == ("gateway", "redis://r:1")
    args = build_parser().parse_args(["serve", "--config", "x.toml", "--role", "core"])
    with pytest.raises(ConfigError) as err:  # a core without Redis is refused before anything starts
        apply_overrides(_config(""), args)
    assert "cluster.redis" in str(err.value)
