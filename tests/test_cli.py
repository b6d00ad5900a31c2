"""The command line: --version, `serve` refusing a bad configuration (exit 2, one clear message,
nothing started), start-up failures without a traceback (exit 1), and the flag overrides."""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
import trio

from originchats import __version__, cli
from originchats.config import Config, ListenSection, StorageSection
from tests.test_durability import CONFIG, ServerProcess

BIN = Path(sys.executable).parent


async def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(30):
        return await trio.run_process(list(args), capture_stdout=True, capture_stderr=True, check=False, cwd=cwd)


async def test_version_from_the_console_script(tmp_path):
    result = await run(str(BIN / "originchats"), "--version", cwd=tmp_path)
    assert (result.returncode, result.stdout.decode()) == (0, f"originchats {__version__}\n")


async def test_version_from_python_dash_m(tmp_path):
    result = await run(sys.executable, "-m", "originchats", "--version", cwd=tmp_path)
    assert (result.returncode, result.stdout.decode()) == (0, f"originchats {__version__}\n")


async def test_bad_config_in_a_subprocess_exits_2_with_one_message(tmp_path):
    (tmp_path / "c.toml").write_text("[server]\nhots = 1\n")
    result = await run(sys.executable, "-m", "originchats", "serve", "--config", "c.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode() == "originchats: c.toml: invalid configuration:\n  server.hots: unknown key\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # nothing created


@pytest.fixture
def nothing_starts(monkeypatch):  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr(cli.trio, "run", refuse)


@pytest.mark.parametrize("text,expected", [
    (None, "file not found"),
    ("[listen\n", "not valid TOML"),
    ("[listen]\nprot = 1\n", "listen.prot: unknown key"),
    ("[listen]\nport = \"80\"\n", "listen.port: expected int, got str '80'"),
    ("[storage]\nsynchronous = \"off\"\n", "storage.synchronous: expected one of 'full', 'normal', got 'off'"),
])
def test_serve_refuses_a_bad_config(tmp_path, capsys, nothing_starts, text, expected):
    path = tmp_path / "conf.toml"
    if text is not None:
        path.write_text(text)
    assert cli.main(["serve", "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"originchats: {path}: ")
    assert expected in err
    assert err.count("originchats:") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["serve"],  # --config is required
    ["serve", "--config", "x.toml", "--port", "70000"],
    ["serve", "--config", "x.toml", "--port", "http"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2(capsys, nothing_starts, args):
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    assert "usage: originchats" in capsys.readouterr().err


def test_overrides_replace_the_file_values():
    config = Config(listen=ListenSection(host="0.0.0.0", port=1), storage=StorageSection(data_dir="file"))
    args = argparse.Namespace(host="127.0.0.1", port=0, data_dir="flag")
    assert cli.apply_overrides(config, args) == Config(
        listen=ListenSection(host="127.0.0.1", port=0), storage=StorageSection(data_dir="flag"))
    none = argparse.Namespace(host=None, port=None, data_dir=None)
    assert cli.apply_overrides(config, none) == config


async def test_flags_override_the_file_in_a_running_server(tmp_path):
    # the file names an address we cannot bind and another data directory: only the flags work
    text = CONFIG.format(data_dir=tmp_path / "from-file", level="info").replace(
        'host = "127.0.0.1"\nport = 0', 'host = "192.0.2.1"\nport = 1')
    args = ["--host", "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path / "from-flag")]
    async with ServerProcess(tmp_path, config_text=text, args=args) as srv:
        assert srv.host == "127.0.0.1" and srv.port not in (0, 1)
        assert (tmp_path / "from-flag" / "originchats.sqlite3").exists()
        assert not (tmp_path / "from-file").exists()
        srv.signal(signal.SIGTERM)  # an idle server stops at once, quietly
        assert await srv.wait_exit(5) == 0
        assert srv.stderr() == ""


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    yield
    structlog.reset_defaults()


def test_port_in_use_is_one_line_and_exit_1(tmp_path, capsys, restore_logging):
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = tmp_path / "c.toml"
        conf.write_text(CONFIG.format(data_dir=tmp_path / "data", level="warning"))
        assert cli.main(["serve", "--config", str(conf), "--port", str(port)]) == 1
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert err.startswith("originchats: cannot start: ") and "Address already in use" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_unusable_data_dir_is_one_line_and_exit_1(tmp_path, capsys, restore_logging):
    (tmp_path / "file").write_text("not a directory")
    conf = tmp_path / "c.toml"
    conf.write_text(CONFIG.format(data_dir=tmp_path / "file" / "data", level="warning"))
    assert cli.main(["serve", "--config", str(conf)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("originchats: cannot start: ") and "Traceback" not in err
