"""`originchats init [DIR]`: the checked-in config.toml with its data_dir pointed at DIR/data (an absolute
path, so the server starts from any working directory), an empty data directory only this account can
read, and never an overwritten file. (The installed command runs it for real in test_install.py.)"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from originchats import cli
from originchats.config import load_config

ROOT = Path(__file__).resolve().parent.parent
ORIGINCHATS = Path(sys.executable).parent / "originchats"


def init(directory: Path, *, umask: int = 0o022) -> int:
    old = os.umask(umask)
    try:
        return cli.main(["init", str(directory)])
    finally:
        os.umask(old)


def without_data_dir_line(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("data_dir = ")]


def test_init_writes_the_checked_in_config_and_a_private_empty_data_dir(tmp_path, capsys):
    site = tmp_path / "a" / "site"
    assert init(site, umask=0) == 0  # even with a permissive umask
    config = site / "config.toml"
    checked_in = (ROOT / "config.toml").read_text()
    assert without_data_dir_line(config.read_text()) == without_data_dir_line(checked_in)  # every comment kept
    assert load_config(config).storage.data_dir == str(site / "data")
    data = site / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700 and list(data.iterdir()) == []
    out = capsys.readouterr().out
    assert f"originchats serve --config {config}" in out


def test_init_defaults_to_the_working_directory_and_the_path_may_need_quoting(tmp_path):
    site = tmp_path / 'my "chat" \\ server'
    site.mkdir()
    result = subprocess.run([str(ORIGINCHATS), "init"], cwd=site, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert load_config(site / "config.toml").storage.data_dir == str(site / "data")


def test_init_refuses_to_overwrite_a_config(tmp_path):
    (tmp_path / "config.toml").write_text("# mine\n")
    result = subprocess.run([str(ORIGINCHATS), "init", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"originchats: {tmp_path / 'config.toml'} already exists; not overwriting it "
                             "(move it away or choose another directory)\n")
    assert (tmp_path / "config.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no data directory either


@pytest.mark.parametrize("make_data,message", [
    (lambda d: (d.mkdir(), (d / "originchats.sqlite3").write_bytes(b"x")), "already exists and is not empty"),
    (lambda d: d.write_text("x"), "exists and is not a directory"),
])
def test_init_refuses_a_data_dir_in_use_and_writes_nothing(tmp_path, capsys, make_data, message):
    make_data(tmp_path / "data")
    assert init(tmp_path) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "config.toml").exists()


def test_init_keeps_an_empty_data_dir_and_makes_it_private(tmp_path):
    (tmp_path / "data").mkdir(mode=0o755)
    assert init(tmp_path) == 0
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
