"""The TOML configuration: the checked-in file is the documented defaults, and loading is strict."""

from __future__ import annotations

import tomllib
from pathlib import Path

import attrs
import pytest

from originchats.config import Config, ConfigError, LimitsSection, ListenSection, load_config, parse_config

REPO = Path(__file__).resolve().parent.parent
CHECKED_IN = REPO / "config.toml"


def test_checked_in_config_is_exactly_the_defaults():
    assert load_config(CHECKED_IN) == Config()


def test_every_key_is_documented_in_the_checked_in_config():
    raw = tomllib.loads(CHECKED_IN.read_text())
    for field in attrs.fields(Config):
        assert field.name in raw, f"{field.name} is missing from config.toml"
        default = getattr(Config(), field.name)
        if attrs.has(type(default)):
            documented = set(raw[field.name])
            expected = {f.name for f in attrs.fields(type(default))}
            assert documented == expected, f"[{field.name}]: documented {documented}, expected {expected}"
            for sub in attrs.fields(type(default)):
                if isinstance(getattr(default, sub.name), dict):
                    assert set(raw[field.name][sub.name]) == set(getattr(default, sub.name))


def test_every_key_has_a_comment_or_an_obvious_name():
    """Each section of the file says what it is for (a comment line in or above it)."""
    text = CHECKED_IN.read_text()
    for field in attrs.fields(Config):
        if attrs.has(type(getattr(Config(), field.name))):
            header = text.index(f"[{field.name}")
            block = text[header:text.find("\n[", header + 1)]
            assert "#" in block, f"[{field.name}] has no comment"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message  # every message names the file
    return message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        load_config(tmp_path / "nope.toml")


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory


def test_not_toml(tmp_path):
    assert "not valid TOML" in problems(tmp_path, "[listen\nport = 1\n")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[server]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_unknown_keys_are_named_with_their_section(tmp_path):
    message = problems(tmp_path, "colour = 1\n[server]\nname = \"x\"\nhots = 1\n[listen]\nprot = 1\n")
    assert "colour: unknown key" in message
    assert "server.hots: unknown key" in message
    assert "listen.prot: unknown key" in message


def test_unknown_section(tmp_path):
    assert "websocket: unknown key" in problems(tmp_path, "[websocket]\nport = 1\n")


@pytest.mark.parametrize("text,expected", [
    ("[listen]\nport = \"5613\"\n", "listen.port: expected int, got str '5613'"),
    ("[listen]\nport = true\n", "listen.port: expected int, got bool True"),
    ("[listen]\nport = 5613.0\n", "listen.port: expected int, got float 5613.0"),
    ("[cracked]\nallow_registration = \"yes\"\n", "cracked.allow_registration: expected bool, got str 'yes'"),
    ("[server]\nname = 3\n", "server.name: expected str, got int 3"),
    ("[log]\nformat = \"xml\"\n", "log.format: expected one of 'console', 'json', got 'xml'"),
    ("auth_mode = \"open\"\n", "auth_mode: expected one of 'rotur', 'cracked', 'cracked-only', got 'open'"),
    ("server = \"x\"\n", "server: expected a table, got str 'x'"),
    ("[modlog]\nretention = 5\n", "modlog.retention: expected a table, got int 5"),
    ("[modlog.retention]\nx = \"y\"\n", "modlog.retention.x: expected int, got str 'y'"),
    ("[listen]\nport = 70000\n", "listen.port: 70000 is not a port (0-65535)"),
    ("[limits]\nmax_frame_size = 10\n", "limits.max_frame_size: must be at least 1024, got 10"),
    ("[limits]\npost_content = 0\n", "limits.post_content: must be at least 1, got 0"),
    ("[heartbeat]\ninterval_seconds = 0\n", "heartbeat.interval_seconds: must be positive, got 0"),
    ("[storage]\nsearch_batch = 0\n", "storage.search_batch: must be 1-16384, got 0"),
    ("[storage]\nsearch_batch = 16385\n", "storage.search_batch: must be 1-16384, got 16385"),
    ("[rate_limiting]\nburst_limit = 0\n", "rate_limiting: messages_per_minute and burst_limit must be at least 1"),
    ("[modlog.retention]\ndefault = 0\n", "modlog.retention.default: must be at least 1 day, got 0"),
    ("[polls]\nquestion_length = 0\n", "polls.question_length: must be 1-4000, got 0"),
    ("[slash]\nresponse_seconds = 0\n", "slash.response_seconds: must be 1-86400, got 0"),
    ("[slash]\ncommands_per_connection = 0\n", "slash.commands_per_connection: must be 1-1000, got 0"),
    ("[polls]\noption_length = 5000\n", "polls.option_length: must be 1-1000, got 5000"),
    ("[welcome]\ntext = \" \"\n", "welcome.text: must be 1-2000 characters, not blank"),
    ("[welcome]\nchannel = \"\"\n", "welcome.channel: must name a channel"),
    ("[welcome]\nenabled = 1\n", "welcome.enabled: expected bool, got int 1"),
])
def test_wrong_values_name_the_key_and_the_problem(tmp_path, text, expected):
    assert expected in problems(tmp_path, text)


def test_every_problem_is_reported_at_once(tmp_path):
    message = problems(tmp_path, "[listen]\nport = \"x\"\nhost = 1\n[server]\nhots = 1\n")
    lines = message.splitlines()[1:]
    assert sorted(line.strip() for line in lines) == [
        "listen.host: expected str, got int 1", "listen.port: expected int, got str 'x'", "server.hots: unknown key"]


def test_an_int_is_accepted_where_a_float_is_expected(tmp_path):
    config = load_config(write(tmp_path, "[rotur]\ntimeout_seconds = 2\n[heartbeat]\ninterval_seconds = 10\n"))
    assert config.rotur.timeout_seconds == 2.0 and isinstance(config.rotur.timeout_seconds, float)
    assert config.heartbeat.interval_seconds == 10.0


def test_a_partial_file_keeps_the_other_defaults(tmp_path):
    config = load_config(write(tmp_path, "[listen]\nport = 9000\n[limits]\npost_content = 500\n"))
    assert config.listen == ListenSection(port=9000)
    assert config.limits == LimitsSection(post_content=500)
    assert config.server == Config().server


def test_parse_config_is_the_same_check_without_a_file():
    assert parse_config({}) == Config()
    with pytest.raises(ConfigError, match="listen.port: expected int"):
        parse_config({"listen": {"port": "1"}})
