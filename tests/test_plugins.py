"""Plugins (issue 10, item 3; extended/plugins.md): real modules written into the data directory's
`plugins/` folder, loaded by the real server, driven through the real protocol."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from originchats.config import PluginsSection, RateLimitingSection
from tests.client import Client, until_reply
from tests.conftest import Server, make_config


ROBOT = "USR:local_robot"  # the plugins' account (a cracked account's name carries this prefix)


@pytest.fixture
def config(tmp_path: Path):
    return make_config(tmp_path, plugins=PluginsSection(account=ROBOT, queue_size=4))


def folder(server: Server) -> Path:
    path = Path(server.config.storage.data_dir) / "plugins"
    path.mkdir(exist_ok=True)
    return path


def write(server: Server, name: str, source: str) -> None:
    (folder(server) / name).write_text(textwrap.dedent(source), encoding="utf-8")


async def next_message(client: Client) -> dict:
    """The next `message_new` (presence packets before it are skipped)."""
    while True:
        packet = await client.recv()
        if packet["cmd"] == "message_new":
            return packet


async def reload_all(boss: Client, expect: str = "All plugins reloaded successfully") -> None:
    await boss.send("plugins_reload", listener="r")
    answer = await boss.expect("plugins_reload")
    assert answer["val"] == expect


ECHO = '''
    def getInfo():
        return {"name": "echo", "description": "answers ping", "handles": ["new_message"]}

    def on_new_message(api, data):
        if data["content"] == "ping":
            api.send_message(data["channel"], "pong " + data["username"])
'''


async def test_a_plugin_hears_a_stored_message_after_its_broadcast_and_answers_as_its_account(server):
    boss = await server.owner()
    robot = await server.user("robot")
    await robot.drain()
    await boss.drain()
    write(server, "echo.py", ECHO)
    await reload_all(boss)
    ann = await server.user("ann")
    await boss.drain()
    await ann.send("message_new", channel="general", content="ping", listener="m")
    mine = await ann.expect("message_new")
    assert mine["message"]["content"] == "ping"  # the broadcast comes first
    pong = await ann.expect("message_new")
    assert (pong["message"]["user"], pong["message"]["content"]) == (ROBOT, "pong USR:local_ann")
    seen = await boss.expect("message_new")
    assert seen["message"]["content"] == "ping"
    assert (await boss.expect("message_new"))["message"]["content"] == "pong USR:local_ann"


async def test_plugins_list_and_reload_do_real_work_and_a_broken_module_is_reported(server):
    boss = await server.owner()
    write(server, "echo.py", ECHO)
    write(server, "_off.py", ECHO)  # a leading "_" keeps a module off (the original loaded it)
    write(server, "broken.py", "raise RuntimeError('at import')\n")
    write(server, "noinfo.py", "x = 1\n")
    await boss.send("plugins_reload")
    await boss.expect_error("Failed to reload plugin 'broken, noinfo'", src="plugins_reload")
    await boss.send("plugins_list")
    listed = await boss.expect("plugins_list")
    assert listed["plugins"] == {"echo.py": {"name": "echo", "description": "answers ping",
                                             "handles": ["new_message"]}}
    write(server, "echo.py", ECHO.replace('"answers ping"', '"answers ping, v2"'))
    await boss.send("plugins_reload", plugin="echo")
    assert (await boss.expect("plugins_reload"))["val"] == "Plugin 'echo' reloaded successfully"
    await boss.send("plugins_list")
    assert (await boss.expect("plugins_list"))["plugins"]["echo.py"]["description"] == "answers ping, v2"
    # a named reload of a module not loaded fails (a new file needs a reload of all)
    write(server, "late.py", ECHO.replace('"echo"', '"late"'))
    await boss.send("plugins_reload", plugin="late")
    await boss.expect_error("Failed to reload plugin 'late'", src="plugins_reload")
    (folder(server) / "broken.py").unlink()
    (folder(server) / "noinfo.py").unlink()
    await reload_all(boss)
    await boss.send("plugins_list")
    assert sorted((await boss.expect("plugins_list"))["plugins"]) == ["echo.py", "late.py"]
    ann = await server.user("ann")
    for cmd in ("plugins_list", "plugins_reload"):
        await ann.send(cmd)
        assert (await ann.expect("error"))["val"].startswith("Access denied")


async def test_a_plugin_that_raises_or_is_slow_stalls_nothing(server, autojump_clock):
    boss = await server.owner()
    robot = await server.user("robot")
    await robot.drain()
    await boss.drain()
    write(server, "echo.py", ECHO)
    write(server, "crash.py", '''
        def getInfo():
            return {"handles": ["new_message"]}

        def on_new_message(api, data):
            raise ValueError(data["content"])
    ''')
    write(server, "sleepy.py", '''
        import trio

        def getInfo():
            return {"handles": ["new_message"]}

        async def on_new_message(api, data):
            if data["username"] != "USR:local_ann":
                return
            if data["content"] == "ping":
                await trio.sleep(3600)  # far past the deadline: abandoned
            await api.send_message(data["channel"], "sleepy saw " + data["content"])
    ''')
    await reload_all(boss)
    ann = await server.user("ann")
    await boss.drain()
    await ann.send("message_new", channel="general", content="ping")
    assert (await ann.expect("message_new"))["message"]["content"] == "ping"
    assert (await ann.expect("message_new"))["message"]["content"] == "pong USR:local_ann"
    await ann.send("message_new", channel="general", content="again")
    assert (await ann.expect("message_new"))["message"]["content"] == "again"
    # the sleepy plugin was cut off at its deadline and handles the next event
    assert (await ann.expect("message_new"))["message"]["content"] == "sleepy saw again"


async def test_a_hung_thread_costs_one_thread_and_a_bounded_queue(make_server, tmp_path):
    """A plain `def` callback that never returns: the server keeps serving, the plugin's extra
    events are dropped (its queue holds 4), and other plugins go on. Real time: a worker thread
    runs while the deadline (0.05 s) passes."""
    server = await make_server(plugins=PluginsSection(account=ROBOT, queue_size=4, deadline_seconds=0.05))
    stop = tmp_path / "stop"
    boss = await server.owner()
    robot = await server.user("robot")
    await robot.drain()
    await boss.drain()
    write(server, "echo.py", ECHO)
    write(server, "stuck.py", f'''
        import os, time

        calls = 0

        def getInfo():
            return {{"handles": ["new_message"]}}

        def on_new_message(api, data):
            global calls
            calls += 1
            while not os.path.exists({str(stop)!r}):
                time.sleep(0.01)
    ''')
    await reload_all(boss)
    ann = await server.user("ann")
    await boss.drain()
    try:
        for n in range(20):
            await ann.send("message_new", channel="general", content="ping")
            assert (await ann.expect("message_new"))["message"]["content"] == "ping"
            assert (await ann.expect("message_new"))["message"]["content"] == "pong USR:local_ann"
        host = server.hub.plugins
        assert host.plugins["stuck"].dropped > 0
        assert host.plugins["stuck"].receive.statistics().current_buffer_used <= 4
    finally:
        stop.write_text("")


AUTOMOD = Path(__file__).resolve().parent.parent / "originchats" / "plugins" / "automod.py"
WELCOME = Path(__file__).resolve().parent.parent / "originchats" / "plugins" / "welcome.py"


async def test_automod_matches_whole_words_and_acts_through_the_plugin_account(make_server):
    # rate limiting on: a timeout does something only then (core.md, user_timeout)
    server = await make_server(plugins=PluginsSection(account=ROBOT), rate_limiting=RateLimitingSection())
    boss = await server.owner()
    robot = await server.user("robot")
    await boss.drain()
    await boss.send("user_roles_set", user=ROBOT, roles=["user", "admin"], listener="roles")
    await boss.expect("user_roles_get")
    await robot.drain()
    await boss.drain()
    write(server, "automod.py", AUTOMOD.read_text())
    (folder(server) / "automod_config.json").write_text('{"blocked_words": ["ass"], "timeout_duration": 60}')
    await reload_all(boss)
    ann = await server.user("ann")
    await boss.drain()
    await ann.send("message_new", channel="general", content="a class of its own")
    kept = await ann.expect("message_new")
    await ann.send("message_new", channel="general", content="you ASS!")
    bad = await ann.expect("message_new")
    deleted = await ann.expect("message_delete")
    assert deleted["id"] == bad["message"]["id"]
    assert await ann.expect("rate_limit") == {"cmd": "rate_limit", "reason": "User timeout set", "length": 60000}
    mod = await ann.expect("message_new")
    assert (mod["message"]["user"], mod["message"]["content"]) == (
        ROBOT, "USR:local_ann was automatically timed out for violating chat rules.")
    await boss.send("messages_get", channel="general", listener="h")
    _, page = await until_reply(boss, "h")
    contents = [m["content"] for m in page["messages"]]
    assert "a class of its own" in contents and "you ASS!" not in contents
    assert kept["message"]["content"] == "a class of its own"


async def test_welcome_plugin_greets_a_new_user_once_as_the_plugin_account(server):
    boss = await server.owner()
    robot = await server.user("robot")
    await robot.drain()
    await boss.drain()
    write(server, "welcome.py", WELCOME.read_text())
    await reload_all(boss)
    await server.user("ann")
    greeting = await next_message(boss)
    assert (greeting["message"]["user"], greeting["message"]["content"]) == (
        ROBOT, "Welcome USR:local_ann! Thanks for joining the server.")
    await boss.drain()
    again = await server.user("ann")
    await again.assert_silent()
    assert [p["cmd"] for p in await boss.drain()] == []
