"""How `originchats import` runs: twice changes nothing, an interrupted import is never served and
finishes when run again, a store with data of its own is refused unless --merge, bad input is
reported with its path and line while the rest goes on, --dry-run writes nothing, and the progress
is plain lines to a pipe and a bar on a terminal."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from originchats.cli import main
from originchats.importer import run as run_mod
from originchats.importer.progress import Progress
from originchats.server.app import open_store
from originchats.server.ops import bcrypt_check
from originchats.store.migrate import MigrationError
from tests.conftest import make_config
from tests.importhelp import ORIGINAL_DB, do_import, login, query, start_server, table_dump

ROOT = Path(__file__).resolve().parent.parent
#: what the server or the import itself changes between two imports of the same source
_VARYING = {"settings", "users", "schema_version"}  # import markers, created_at (the import's time)


def _content(data: Path) -> dict:
    return {k: v for k, v in table_dump(data).items() if k not in _VARYING}


def test_running_it_twice_changes_nothing_and_merge_adds_nothing_new(tmp_path):
    assert do_import(ORIGINAL_DB, tmp_path)[0] == 0
    data = tmp_path / "data"
    before = table_dump(data)
    code, out, _ = do_import(ORIGINAL_DB, tmp_path)
    assert code == 0 and "already imported" in out and "nothing changed" in out
    assert table_dump(data) == before
    code, out, _ = do_import(ORIGINAL_DB, tmp_path, merge=True)
    assert code == 0, out
    assert _content(data) == {k: v for k, v in before.items() if k not in _VARYING}
    assert "messages already in the store (kept): 302" in out


async def test_a_store_with_data_of_its_own_is_refused_unless_merge(nursery, tmp_path):
    srv = await start_server(nursery, tmp_path)
    from tests.client import sign_in

    await sign_in(await srv.connect(), "zoe", "zoe-password")
    await srv.shutdown()
    code, out, _ = do_import(ORIGINAL_DB, tmp_path)
    assert code == 1 and query(tmp_path / "data", "SELECT COUNT(*) FROM messages") == [(0,)]
    code, out, _ = do_import(ORIGINAL_DB, tmp_path, merge=True)
    assert code == 0, out
    assert query(tmp_path / "data", "SELECT COUNT(*) FROM users") == [(7,)]
    assert query(tmp_path / "data", "SELECT COUNT(*) FROM messages") == [(302,)]
    srv = await start_server(nursery, tmp_path)
    alice = await login(srv, "alice")
    channels = [c["name"] for c in (await alice.request("channels_get"))["val"]]
    assert channels[0] == "general" and "announcements" in channels  # the server's own come first
    await srv.shutdown()


def test_an_interrupted_import_is_never_served_and_finishes_when_run_again(tmp_path, monkeypatch):
    real = run_mod.import_messages

    def interrupted(job, polls):  # type: ignore[no-untyped-def]
        real(job, polls)  # every message written in the group's transaction, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "import_messages", interrupted)
    code, _, _ = do_import(ORIGINAL_DB, tmp_path)
    assert code == 130
    data = tmp_path / "data"
    assert query(data, "SELECT COUNT(*) FROM messages") == [(0,)]  # the group was rolled back
    assert query(data, "SELECT COUNT(*) FROM users") == [(6,)]     # the groups before it were committed
    with pytest.raises(MigrationError, match="unfinished"):
        open_store(make_config(tmp_path))
    monkeypatch.setattr(run_mod, "import_messages", real)
    code, out, _ = do_import(ORIGINAL_DB, tmp_path)
    assert code == 0 and "roles" not in out and "messages: 302" in out  # resumed at the messages
    whole = tmp_path / "whole"
    assert do_import(ORIGINAL_DB, whole)[0] == 0
    assert _content(data) == _content(whole / "data")
    con, reader, _ = open_store(make_config(tmp_path))  # served now
    con.close()
    reader.close()


def test_bad_input_is_reported_with_path_and_line_and_the_rest_goes_on(tmp_path):
    src = tmp_path / "db"
    shutil.copytree(ORIGINAL_DB, src)
    with (src / "channels" / "general.json").open("a") as f:
        f.write('\n{"user": "USR:local_bob", "content": "cut off')
    random = (src / "channels" / "random.json").read_text().splitlines()
    first = json.loads(random[0])
    random[0] = json.dumps({**first, "mood": "sunny"})
    (src / "channels" / "random.json").write_text("\n".join(random))
    (src / "threadMessages" / "285bc110-1d66-4b96-9d35-51ba82985650.jsonl").unlink()
    (src / "webhooks.json").write_text('{"2e205f52": {"id": "2e205f52",\n  "channel": }')
    dev = (src / "channels" / "dev.json").read_text().splitlines()
    dev[2] = dev[2].replace('"content":"', '"content":"\\ud800 lone: ', 1)  # the original stored these
    (src / "channels" / "dev.json").write_text("\n".join(dev))
    polls = json.loads((src / "polls.json").read_text())
    polls["d84a2f5b-a87e-4d4f-8ab5-a46b260bd20b"]["options"].append({"id": "2"})
    (src / "polls.json").write_text(json.dumps(polls))
    code, out, _ = do_import(src, tmp_path / "store")
    assert code == 0, out
    assert "channels/general.json:129: corrupt JSON line" in out
    assert "channels/random.json:1: unknown field 'mood': not imported" in out
    assert "threadMessages/285bc110-1d66-4b96-9d35-51ba82985650.jsonl: missing file" in out
    assert "webhooks.json:2: corrupt JSON" in out
    assert "channels/dev.json:3: lone UTF-16 surrogate escapes replaced by U+FFFD" in out
    assert "polls.json [d84a2f5b-a87e-4d4f-8ab5-a46b260bd20b]: options without a string id and text: dropped" in out
    assert "6 problem(s)" in out
    data = tmp_path / "store" / "data"
    assert query(data, "SELECT COUNT(*) FROM messages") == [(302 - 19,)]  # that thread's 19 are missing
    assert query(data, "SELECT COUNT(*) FROM webhooks") == [(0,)]
    assert query(data, "SELECT COUNT(*) FROM audit_log") == [(67,)]
    assert query(data, "SELECT COUNT(*) FROM messages WHERE content LIKE '\ufffd lone: %'") == [(1,)]
    assert (data / "import-report.txt").read_text() in out


def test_dry_run_prints_counts_and_problems_and_writes_nothing(tmp_path):
    code, out, _ = do_import(ORIGINAL_DB, tmp_path, dry_run=True)
    assert code == 0
    assert out.startswith(f"dry run of importing {ORIGINAL_DB} (nothing written; the store would be filled)")
    assert "  messages: 302" in out and "no problems" in out
    assert not (tmp_path / "data").exists()


def test_the_command_line_prints_plain_progress_lines_to_a_pipe(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    capsys.readouterr()
    code = main(["import", str(ORIGINAL_DB), "--config", str(tmp_path / "config.toml"),
                 "--data-dir", str(tmp_path / "other"), "--source-config", str(ORIGINAL_DB.parent / "original-config.json")])
    out, err = capsys.readouterr()
    assert code == 0
    assert "messages: started (" in err and "messages: committed (messages 302, reactions 181)" in err
    assert "\r" not in err
    assert query(tmp_path / "other", "SELECT value FROM settings WHERE key = 'server.name'") == [
        ('"OriginChats Fixture Server"',)]
    assert (tmp_path / "other" / "server-assets" / "icon.png").is_file()
    assert not (tmp_path / "data" / "originchats.sqlite3").exists()


def test_a_terminal_gets_a_progress_bar():
    stream = io.StringIO()
    progress = Progress(stream, bar=True)
    progress.start("messages", 1000, unit="B")
    progress.advance(1000)
    progress.close("302 messages")
    assert "100%|" in stream.getvalue() and "messages: 302 messages" in stream.getvalue()


def test_the_import_bench_generates_the_original_format_and_stores_every_message():
    out = subprocess.run([sys.executable, "-m", "bench", "import", "-m", "2000"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.splitlines()[0])
    assert result["scenario"] == "import" and result["messages"] == 2302 and result["all_stored"] is True
    assert result["seconds"] > 0 and result["peak_rss_mb"] > 0


def test_a_bcrypt_password_longer_than_72_bytes_checks_as_the_original_cut_it():
    import bcrypt

    long = "ä" * 50  # 100 bytes: the original's bcrypt read the first 72
    stored = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(4)).decode()
    assert bcrypt_check(stored, long) and not bcrypt_check(stored, "ä" * 35)
    assert not bcrypt_check("$2b$04$not-a-hash", long)
