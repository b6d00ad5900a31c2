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


async def owner_beside_the_plugin_account(server: Server) -> Client:
    """The owner's client, once the plugins' account exists (its welcome and presence drained)."""
    boss = await server.owner()
    robot = await server.user("robot")
    await robot.drain()
    await boss.drain()
    return boss


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
    boss = await owner_beside_the_plugin_account(server)
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


async def test_plugins_do_not_answer_themselves_or_each_other_forever_and_required_roles_filter(server):
    boss = await owner_beside_the_plugin_account(server)
    for name in ("a", "b"):  # each repeats every message it hears
        write(server, f"{name}.py", f'''
            def getInfo():
                return {{"handles": ["new_message"]}}

            def on_new_message(api, data):
                api.send_message(data["channel"], "{name}: " + data["content"])
        ''')
    write(server, "owners.py", '''
        REQUIRED_PERMISSIONS = ["owner"]

        def getInfo():
            return {"handles": ["new_message"]}

        def on_new_message(api, data):
            if data["content"] == "yo":
                api.send_message(data["channel"], "owner said " + data["content"])
    ''')
    await reload_all(boss)
    ann = await server.user("ann")
    await ann.drain()
    await ann.send("message_new", channel="general", content="hi")
    got = sorted([(await next_message(ann))["message"]["content"] for _ in range(5)])
    # a and b answer ann (depth 1) and each other's answer (depth 2), which nobody hears
    assert got == ["a: b: hi", "a: hi", "b: a: hi", "b: hi", "hi"]
    await ann.assert_silent()  # nobody repeats itself; `owners` ignores ann, who is no owner
    await boss.drain()
    await boss.send("message_new", channel="general", content="yo")
    got = [(await next_message(boss))["message"]["content"] for _ in range(8)]
    assert "owner said yo" in got
    await boss.assert_silent()


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
    boss = await owner_beside_the_plugin_account(server)
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
    runs while the deadline (1 s) passes."""
    server = await make_server(plugins=PluginsSection(account=ROBOT, queue_size=4, deadline_seconds=1.0))
    stop = tmp_path / "stop"
    boss = await owner_beside_the_plugin_account(server)
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
    robot = await server.user("robot")  # drained again below, once it is made an admin
    await robot.drain()
    await boss.drain()
    write(server, "automod.py", AUTOMOD.read_text())
    (folder(server) / "automod_config.json").write_text(
        '{"blocked_words": ["ass"], "timeout_duration": 60, "send_mod_message": false}')
    await reload_all(boss)
    ann = await server.user("ann")
    # the plugin account is a plain member yet: it may neither delete ann's message nor time her out
    await ann.send("message_new", channel="general", content="ass")
    assert (await ann.expect("message_new"))["message"]["content"] == "ass"
    await ann.assert_silent()
    (folder(server) / "automod_config.json").write_text('{"blocked_words": ["ass"], "timeout_duration": 60}')
    write(server, "watcher.py", '''
        def getInfo():
            return {"handles": ["auto_moderate"]}

        async def on_auto_moderate(api, data):
            await api.send_message(data["channel"], f"{data['reason']}: {data['duration']}")
    ''')
    await boss.drain()
    await reload_all(boss)
    await boss.send("user_roles_set", user=ROBOT, roles=["user", "admin"], listener="roles")
    await boss.expect("user_roles_get")
    await robot.drain()
    await boss.drain()
    await ann.drain()
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
    # automod's custom event (raised from its worker thread) reaches the other plugin
    assert (await ann.expect("message_new"))["message"]["content"] == "blocked_words: 60"
    await boss.send("messages_get", channel="general", listener="h")
    _, page = await until_reply(boss, "h")
    contents = [m["content"] for m in page["messages"]]
    assert "a class of its own" in contents and "you ASS!" not in contents
    assert kept["message"]["content"] == "a class of its own"


async def test_welcome_plugin_greets_a_new_user_once_as_the_plugin_account(server):
    boss = await owner_beside_the_plugin_account(server)
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


RECORDER = '''
    import json, os

    EVENTS = ["server_start", "user_join", "user_connect", "new_message", "message_edit", "message_delete",
              "message_pin", "message_unpin", "user_timeout", "user_ban", "user_unban", "user_roles_set",
              "channel_create", "channel_update", "channel_delete", "role_create", "role_delete"]

    def getInfo():
        return {"handles": EVENTS}

    def record(event, data):
        with open(os.path.join(os.path.dirname(__file__), "events.jsonl"), "a") as out:
            out.write(json.dumps([event, data]) + "\\n")

    for _name in EVENTS:
        globals()["on_" + _name] = (lambda e: lambda api, data: record(e, data))(_name)
'''


async def test_events_carry_what_the_spec_names_and_no_secrets(make_server):
    import json

    from tests.client import settle

    server = await make_server(plugins=PluginsSection(account=ROBOT), rate_limiting=RateLimitingSection())
    boss = await server.owner()
    write(server, "recorder.py", RECORDER)
    await reload_all(boss)
    ann = await server.user("ann")
    await boss.drain()
    steps = [("message_new", {"channel": "general", "content": "hello"})]
    await boss.send("message_new", channel="general", content="hello", listener="s")
    _, sent = await until_reply(boss, "s")
    mid = sent["message"]["id"]
    for n, (cmd, fields) in enumerate([
            ("message_edit", {"channel": "general", "id": mid, "content": "hello again"}),
            ("message_pin", {"channel": "general", "id": mid}),
            ("message_unpin", {"channel": "general", "id": mid}),
            ("message_delete", {"channel": "general", "id": mid}),
            ("channel_create", {"name": "side", "type": "text"}),
            ("channel_delete", {"name": "side"}),
            ("user_timeout", {"user": ann.username, "timeout": 30}),
            ("user_roles_set", {"user": ann.username, "roles": ["user", "moderator"]}),
            ("user_ban", {"user": ann.username, "reason": "spam"}),
            ("user_unban", {"user": ann.username})]):
        steps.append((cmd, fields))
        await boss.send(cmd, listener=f"l{n}", **fields)
        _, answer = await until_reply(boss, f"l{n}")
        assert answer["cmd"] != "error", answer
    await settle()
    lines = (folder(server) / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    by_name = {}
    for name, data in events:
        by_name.setdefault(name, []).append(data)
    assert [e for e, _ in events][:3] == ["user_join", "user_connect", "new_message"]  # ann's login, then
    ann_id = by_name["user_join"][0]["user_id"]
    assert by_name["user_join"][0] == {"username": ann.username, "user_id": ann_id, "roles": ["user"], "color": None}
    msg = by_name["new_message"][0]
    assert (msg["content"], msg["channel"], msg["username"], msg["message"]["id"]) == ("hello", "general", "USR:local_boss", mid)
    assert by_name["message_edit"][0]["content"] == "hello again"
    assert [by_name[e][0]["id"] for e in ("message_edit", "message_pin", "message_unpin", "message_delete")] == [mid] * 4
    assert by_name["message_pin"][0]["pinned"] is True and by_name["message_unpin"][0]["pinned"] is False
    assert by_name["channel_create"][0]["channel"]["name"] == "side"
    assert by_name["channel_delete"][0]["channel_name"] == "side"
    assert by_name["user_timeout"][0]["user_id"] == ann_id and by_name["user_timeout"][0]["timeout"] == 30000
    assert by_name["user_roles_set"][0]["roles"] == ["user", "moderator"]
    assert (by_name["user_ban"][0]["username"], by_name["user_ban"][0]["reason"]) == (ann.username, "spam")
    assert by_name["user_unban"][0]["user_id"] == ann_id
    assert "password" not in json.dumps(events)


async def test_a_webhook_post_reaches_the_plugins_like_a_members_message(server):
    """A webhook's message goes the members' way after its commit, plugin events included."""
    from tests.test_webhooks import create, post

    boss = await owner_beside_the_plugin_account(server)
    write(server, "echo.py", ECHO)
    await reload_all(boss)
    hook = await create(boss)
    ann = await server.user("ann")
    await boss.drain()
    status, _, _ = await post(server, {"content": "ping", "username": "CI"}, hook["token"])
    assert status == 204
    assert (await next_message(ann))["message"]["content"] == "ping"
    pong = await next_message(ann)
    assert (pong["message"]["user"], pong["message"]["content"]) == (ROBOT, "pong originChats")
