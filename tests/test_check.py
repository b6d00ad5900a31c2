"""`originchats check --config FILE`: the configuration and the data directory are checked without
starting a server; each problem is one clear line, and the exit code says whether to start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from originchats import cli
from originchats.datadir import db_path
from originchats.store.migrate import apply_migrations, available


def check(tmp_path: Path, capsys, data_dir: Path, extra: str = "") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "{data_dir}"\n{extra}')
    code = cli.main(["check", "--config", str(config)])
    out = capsys.readouterr()
    return code, out.out + out.err


def make_db(data_dir: Path, version_extra: int | None = None) -> None:
    data_dir.mkdir(mode=0o700, exist_ok=True)
    con = sqlite3.connect(db_path(data_dir), isolation_level=None)
    apply_migrations(con)
    if version_extra is not None:
        con.execute("INSERT INTO schema_version VALUES (?, datetime('now'))", (version_extra,))
    con.close()


def test_a_new_install_passes(tmp_path, capsys):
    code, out = check(tmp_path, capsys, tmp_path / "data", "[backup]\nenabled = true\n")
    assert code == 0, out
    assert "ok    config:" in out and "does not exist yet" in out and "database: none yet" in out
    assert "backup: daily at 03:30 UTC" in out
    assert not (tmp_path / "data").exists()  # nothing was created


def test_a_current_database_passes_and_an_open_data_dir_is_a_warning(tmp_path, capsys):
    data = tmp_path / "data"
    make_db(data)
    data.chmod(0o755)
    code, out = check(tmp_path, capsys, data)
    assert code == 0, out
    assert f"database: schema {available()[-1][0]}, current" in out
    assert "warn  data dir:" in out and "chmod 700" in out


def test_an_older_schema_is_reported_with_the_migrations_to_come(tmp_path, capsys):
    data = tmp_path / "data"
    make_db(data)
    newest = available()[-1][0]
    con = sqlite3.connect(db_path(data), isolation_level=None)
    con.execute("DELETE FROM schema_version WHERE version = ?", (newest,))
    con.close()
    code, out = check(tmp_path, capsys, data)
    assert code == 0, out
    assert f"the next start applies migration(s) {newest} after a snapshot" in out


def test_a_newer_schema_and_a_data_dir_that_is_a_file_fail(tmp_path, capsys):
    data = tmp_path / "data"
    make_db(data, version_extra=9999)
    code, out = check(tmp_path, capsys, data)
    assert code == 1
    assert "FAIL  database: schema 9999 is newer than this server knows" in out
    afile = tmp_path / "afile"
    afile.write_text("")
    code, out = check(tmp_path, capsys, afile)
    assert code == 1 and f"FAIL  data dir: {afile} is not a directory" in out


def test_an_invalid_config_exits_2(tmp_path, capsys):
    code, out = check(tmp_path, capsys, tmp_path / "data", "[backup]\nat = \"noon\"\n")
    assert code == 2
    assert "FAIL  config:" in out and "backup.at" in out


def test_an_unreadable_tls_key_exits_2_as_serve_would(tmp_path, capsys):
    code, out = check(tmp_path, capsys, tmp_path / "data",
                      f'[tls]\ncert = "{tmp_path / "no-cert.pem"}"\nkey = "{tmp_path / "no-key.pem"}"\n')
    assert code == 2
    assert "FAIL  config:" in out and "no-cert.pem" in out
