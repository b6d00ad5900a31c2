"""The streaming upload-body parser (server/upload_body.py): any split of the body into chunks gives
the same fields and file bytes; bad bodies get the documented errors."""

from __future__ import annotations

import base64
import json
import os

import pytest

from originchats.server.upload_body import INVALID_BASE64, INVALID_JSON, BodyError, UploadBody

DATA = os.urandom(23)  # 23 bytes: the base64 ends with one `=`
B64 = base64.b64encode(DATA).decode()


def parse(chunks: list[bytes], file_limit: int = 10**6, fields_limit: int = 65536) -> tuple[dict, bytes | None]:
    body = UploadBody(file_limit=file_limit, fields_limit=fields_limit)
    out = b"".join(body.feed(c) for c in chunks)
    body.finish()
    return body.fields, (out if body.has_file else None)


def every_split(raw: bytes):  # type: ignore[no-untyped-def]
    """The body whole, in every two pieces, in every three pieces, and byte by byte."""
    yield [raw]
    for i in range(len(raw) + 1):
        yield [raw[:i], raw[i:]]
    for i in range(0, len(raw) + 1, 3):
        for j in range(i, len(raw) + 1):
            yield [raw[:i], raw[i:j], raw[j:]]
    yield [raw[i:i + 1] for i in range(len(raw))]


BODIES = {
    "data uri, escaped slashes": json.dumps({"validator_key": "k", "file": f"data:image/png;base64,{B64}",
                                             "name": "a\"b\\c/d", "expires_in_days": 3}).replace("/", "\\/"),
    "raw base64 and odd values": json.dumps({"n": [1, {"x": "}]"}], "file": B64, "t": True, "z": None, "f": -1.5e3}),
    "unicode escapes in the file": '{"file": "' + "".join(f"\\u{ord(c):04x}" for c in B64) + '", "name": "\\u00e9"}',
    "escaped line breaks": '{"file":"' + B64[:8] + "\\n" + B64[8:16] + "\\r\\n" + B64[16:] + '"}',
    "whitespace everywhere": '\n {\t"name" :\r\n"x" , "file"  :  "' + B64 + '"  }\n ',
}


@pytest.mark.parametrize("name", list(BODIES))
def test_every_split_gives_the_same_result(name):
    raw = BODIES[name].encode()
    want_fields, want_file = parse([raw])
    assert want_file == DATA
    assert "file" not in want_fields
    for chunks in every_split(raw):
        assert parse(chunks) == (want_fields, want_file), chunks


def test_the_fields_are_decoded_json():
    fields, _ = parse([BODIES["data uri, escaped slashes"].encode()])
    assert fields == {"validator_key": "k", "name": 'a"b\\c/d', "expires_in_days": 3}
    fields, _ = parse([BODIES["unicode escapes in the file"].encode()])
    assert fields == {"name": "é"}


@pytest.mark.parametrize("b64,data", [("", b""), ("QQ", b"A"), ("QQ=", b"A"), ("QQ==", b"A"), ("QUE", b"AA"),
                                      ("QUE=", b"AA"), ("QUFB", b"AAA"), ("da", b"u"), ("data", base64.b64decode("data"))])
def test_short_and_unpadded_base64(b64, data):
    raw = json.dumps({"file": b64}).encode()
    for chunks in every_split(raw):
        assert parse(chunks) == ({}, data)


def test_no_file_or_a_file_that_is_not_a_string():
    assert parse([b"{}"]) == ({}, None)
    assert parse([b'{"file": null, "name": "x"}']) == ({"file": None, "name": "x"}, None)


@pytest.mark.parametrize("raw,text", [
    (b"[1, 2]", INVALID_JSON), (b'"just a string"', INVALID_JSON), (b"", INVALID_JSON), (b"{", INVALID_JSON),
    (b'{"a": 1', INVALID_JSON), (b'{"a": 1}{}', INVALID_JSON), (b'{"a": }', INVALID_JSON), (b"{,}", INVALID_JSON),
    (b'{"a": 1,}', INVALID_JSON), (b'{"a" 1}', INVALID_JSON), (b'{"a": tru}', INVALID_JSON),
    (b'{"file": "QUFB', INVALID_JSON), (b'{"file": "QU\\x"}', INVALID_JSON), (b'{"file": "\\u00zz"}', INVALID_JSON),
    (b'{"file": "QQ=A"}', INVALID_BASE64), (b'{"file": "QQ==QUFB"}', INVALID_BASE64), (b'{"file": "Q"}', INVALID_BASE64),
    (b'{"file": "QUFBQ"}', INVALID_BASE64), (b'{"file": "QU-_"}', INVALID_BASE64), (b'{"file": "QU FB"}', INVALID_BASE64),
    (b'{"file": "QUFB\\""}', INVALID_BASE64), (b'{"file": "QQ==="}', INVALID_BASE64), (b'{"file": "===="}', INVALID_BASE64),
    (b'{"file": "data:text/plain,hello"}', "The file data URI must be base64 (data:<type>;base64,...)"),
    (b'{"file": "data:image/png;base64"}', "The file data URI must be base64 (data:<type>;base64,...)"),
    (b'{"file": "QQ==", "file": "QQ=="}', "Only one file per upload"),
])
def test_bad_bodies(raw, text):
    for chunks in every_split(raw):
        with pytest.raises(BodyError) as err:
            parse(chunks)
        assert (err.value.status, err.value.text) == (400, text), chunks


def test_a_file_over_its_limit_is_refused_as_soon_as_it_is_decoded():
    body = UploadBody(file_limit=1000, fields_limit=65536)
    body.feed(b'{"file": "' + base64.b64encode(bytes(999)))
    with pytest.raises(BodyError) as err:
        body.feed(b"AAAA")  # 3 more bytes: 1002 > 1000, before the string (or the body) ends
    assert (err.value.status, err.value.text) == (413, "Request body too large (max 1000 bytes)")


def test_fields_over_their_cap_are_refused():
    body = UploadBody(file_limit=1000, fields_limit=2000)
    body.feed(b'{"name": "' + b"x" * 1900)
    with pytest.raises(BodyError) as err:
        body.feed(b"x" * 200)
    assert err.value.status == 413 and "2000" in err.value.text
    with pytest.raises(BodyError):  # many small fields count together
        parse([b"{" + b",".join(b'"k%d": 1' % i for i in range(400)) + b"}"], fields_limit=2000)


def test_a_big_file_decodes_in_bounded_pieces():
    data = os.urandom(3 * 2**20)
    raw = b'{"file": "data:application/octet-stream;base64,' + base64.b64encode(data) + b'"}'
    body = UploadBody(file_limit=len(data), fields_limit=1024)
    pieces = [body.feed(raw[i:i + 65536]) for i in range(0, len(raw), 65536)]
    body.finish()
    assert b"".join(pieces) == data and body.file_size == len(data)
    assert max(len(p) for p in pieces) <= 65536 * 3 // 4 + 3
