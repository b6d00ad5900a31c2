"""The codec (protocol/codec.py): the one place JSON meets the protocol. Wire behaviour is covered
through the real server in test_bad_input.py and test_ws.py; these pin the codec's own contract."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from originchats.core import texts
from originchats.core.request import Request
from originchats.protocol import codec


def dumps(value: object) -> str:
    """What the server has always sent: compact, non-ASCII kept, key order kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_a_request_carries_its_cmd_the_whole_object_and_its_listener():
    req = codec.decode('{"cmd":"message_new","channel":"général","listener":"l1"}')
    assert req == Request(cmd="message_new", data={"cmd": "message_new", "channel": "général", "listener": "l1"},
                          listener="l1")


@pytest.mark.parametrize("text,cmd,listener", [
    ('{"x":1}', None, None),  # no cmd: the dispatcher answers "Unknown command: None"
    ('{"cmd":null,"listener":"a"}', None, "a"),
    ('{"cmd":"ping","listener":7}', "ping", None),  # only a string listener is echoed
    ('{"cmd":"ping","listener":null}', "ping", None),
    ('{"cmd":"ping","listener":""}', "ping", ""),
])
def test_cmd_and_listener_are_taken_as_sent(text, cmd, listener):
    req = codec.decode(text)
    assert (req.cmd, req.listener) == (cmd, listener)


@pytest.mark.parametrize("text,val,reason,listener", [
    ("not json", texts.INVALID_JSON, "invalid_json", None),
    ("[" * 100_000, texts.INVALID_JSON, "invalid_json", None),
    ('{"cmd":"ping","listener":"\\ud800"}', texts.INVALID_JSON, "lone_surrogate", None),
    ('"\\udc00"', texts.INVALID_JSON, "lone_surrogate", None),  # checked before the shape
    ('[{"cmd":"ping"}]', texts.NOT_AN_OBJECT, "not_an_object", None),
    ('{"cmd":7,"listener":"l"}', texts.CMD_NOT_A_STRING, "cmd_not_a_string", "l"),
    ('{"cmd":["ping"]}', texts.CMD_NOT_A_STRING, "cmd_not_a_string", None),
])
def test_a_frame_that_is_not_a_request_says_why(text, val, reason, listener):
    with pytest.raises(codec.Undecodable) as caught:
        codec.decode(text)
    assert (caught.value.val, caught.value.reason, caught.value.listener) == (val, reason, listener)


def test_the_log_fields_of_an_undecodable_frame_hold_its_size_not_its_content():
    with pytest.raises(codec.Undecodable) as caught:
        codec.decode("secret stuff")
    assert caught.value.fields == {"size": 12}


def test_an_operator_request_has_no_listener_and_a_cmd_only_when_it_is_a_string():
    assert codec.operator_request({"cmd": "ban", "user": "x", "listener": "l"}).listener is None
    assert codec.operator_request({"cmd": 3}).cmd is None


def test_encoding_is_compact_keeps_non_ascii_and_the_key_order():
    packet = {"cmd": "message_new", "z": 1, "a": "日本 é", "n": None, "b": [True, 1.5]}
    assert codec.encode(packet) == '{"cmd":"message_new","z":1,"a":"日本 é","n":null,"b":[true,1.5]}'


def test_a_reply_has_its_listener_as_the_last_key():
    assert codec.encode_reply({"cmd": "pong", "val": "pong"}, "x") == '{"cmd":"pong","val":"pong","listener":"x"}'
    assert codec.encode_reply({"cmd": "pong", "val": "pong"}, None) == '{"cmd":"pong","val":"pong"}'


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=8)
PACKETS = st.dictionaries(st.text(max_size=6), JSON, max_size=4).map(lambda d: {"cmd": "x", **d})


@given(packet=PACKETS, listener=st.none() | st.text(max_size=6))
def test_the_callers_copy_of_a_broadcast_is_byte_for_byte_its_reply(packet, listener):
    text = codec.encode(packet)
    assert text == dumps(packet)
    assert codec.reply_from(text, packet, listener) == codec.encode_reply(packet, listener)
    expected = packet if listener is None else {**packet, "listener": listener}
    assert codec.encode_reply(packet, listener) == dumps(expected)


@given(st.text(), st.text())
def test_a_spliced_packet_encodes_as_the_whole_packet(name, value):
    """The handshake is encoded once per settings and each socket's key spliced in: the text must
    be what encoding the whole packet gives, whatever the strings (quotes, non-ASCII, the slot's
    own characters)."""
    from originchats.core import packets

    template = packets.handshake(server={"name": name}, limits={}, attachments={}, version="1", validator_key=packets.SLOT,
                                 capabilities=["a"], permissions=[], auth_mode="cracked")
    for key in (value, "originChats-" + value):
        packet = packets.handshake_for(template, key)
        assert codec.encode(packet) == dumps(dict(packet))
        assert packet["val"]["validator_key"] == key


def test_a_template_whose_slot_appears_twice_is_encoded_whole():
    from originchats.core import packets

    template = packets.handshake(server={"name": packets.SLOT}, limits={}, attachments={}, version="1",
                                 validator_key=packets.SLOT, capabilities=[], permissions=[], auth_mode="cracked")
    packet = packets.handshake_for(template, "k")
    assert codec.encode(packet) == dumps(dict(packet))
