"""modlog_get and modlog_summary (extended/moderation_log.md): what is recorded, filters, paging,
errors, who may read, and retention per category (reads hide expired entries; a daily task
deletes them)."""

from __future__ import annotations

import json

import pytest
import trio

from originchats.config import HeartbeatSection, ModlogSection, RateLimitingSection
from originchats.core.audit import retention_cutoffs
from tests.conftest import make_config
from tests.modhelpers import LOCAL, db, members, start, stop

DAY = 86400
DENIED = "Access denied: 'view_audit_log' or 'manage_users' permission required"


@pytest.fixture
def config(tmp_path):
    retention = {"default": 90, "user_moderation": 3, "role_management": 365, "channel_management": 180,
                 "message_moderation": 90, "server_management": 1}
    return make_config(tmp_path, rate_limiting=RateLimitingSection(enabled=True),
                       heartbeat=HeartbeatSection(interval_seconds=10_000_000),
                       modlog=ModlogSection(retention=retention))


async def modlog(client, **fields) -> dict:
    await client.send("modlog_get", **fields)
    return await client.expect("modlog_get")


async def three_entries(server):
    """boss bans alice (reason), unbans her, renames the server: three entries, oldest first."""
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"]})
    boss = m["boss"]
    await boss.send("user_ban", user=LOCAL + "alice", reason="spam")
    await boss.expect("user_ban", banned=True)
    await boss.expect("user_disconnect")
    await boss.send("user_unban", user=LOCAL + "alice")
    await boss.expect("user_unban", unbanned=True)
    await boss.send("server_update", name="Renamed")
    await boss.expect("server_update")
    await boss.expect("server_update")
    return m


async def test_entries_have_the_documented_shape_newest_first(server):
    m = await three_entries(server)
    page = await modlog(m["boss"], listener="L")
    assert page["listener"] == "L"
    assert (page["total"], page["offset"], page["limit"]) == (3, 0, 100)
    entries = page["entries"]
    assert [e["action"] for e in entries] == ["server_update", "user_unban", "user_ban"]
    ban = entries[2]
    assert isinstance(ban["id"], str) and isinstance(ban["timestamp"], float)
    assert {k: v for k, v in ban.items() if k not in ("id", "timestamp")} == {
        "action": "user_ban", "category": "user_moderation", "actor_id": LOCAL + "boss",
        "actor_name": LOCAL + "boss", "target_id": LOCAL + "alice", "target_name": LOCAL + "alice",
        "details": {"reason": "spam"}}
    assert entries[0]["category"] == "server_management"
    assert entries[0]["details"] == {"name": "Renamed"}
    assert entries[0]["target_id"] is None and entries[0]["target_name"] is None
    assert entries[0]["timestamp"] > entries[1]["timestamp"] > entries[2]["timestamp"]


async def test_filters_and_paging(server):
    m = await three_entries(server)
    boss = m["boss"]
    everything = (await modlog(boss))["entries"]
    unban_time = everything[1]["timestamp"]

    def actions(page: dict) -> list[str]:
        return [e["action"] for e in page["entries"]]

    assert actions(await modlog(boss, category="user_moderation")) == ["user_unban", "user_ban"]
    assert actions(await modlog(boss, action="user_ban")) == ["user_ban"]
    assert actions(await modlog(boss, actor=LOCAL + "boss")) == ["server_update", "user_unban", "user_ban"]
    assert actions(await modlog(boss, actor="boss")) == []  # an exact user id, not a name
    assert actions(await modlog(boss, target=LOCAL + "alice")) == ["user_unban", "user_ban"]
    assert actions(await modlog(boss, after=unban_time)) == ["server_update"]
    assert actions(await modlog(boss, after=str(unban_time))) == ["server_update"]
    assert actions(await modlog(boss, category="", action=None, after=0, actor="")) == [
        "server_update", "user_unban", "user_ban"]  # falsy filters are ignored
    page = await modlog(boss, limit=1, offset=1)
    assert (actions(page), page["total"], page["limit"], page["offset"]) == (["user_unban"], 3, 1, 1)
    page = await modlog(boss, category="user_moderation", offset=5)
    assert (page["entries"], page["total"]) == ([], 2)


async def test_modlog_get_errors_in_order(server):
    boss = await server.owner("boss")
    cases = [
        ({"limit": 0, "offset": -1}, "Limit must be between 1 and 200"),
        ({"limit": 201}, "Limit must be between 1 and 200"),
        ({"limit": "5"}, "Limit must be between 1 and 200"),
        ({"limit": True}, "Limit must be between 1 and 200"),
        ({"limit": 1.5}, "Limit must be between 1 and 200"),
        ({"offset": -1, "after": "x"}, "Offset must be a non-negative integer"),
        ({"offset": "0"}, "Offset must be a non-negative integer"),
        ({"offset": False}, "Offset must be a non-negative integer"),
        ({"after": "yesterday"}, "After must be a valid Unix timestamp"),
        ({"after": True}, "After must be a valid Unix timestamp"),
        ({"after": [1]}, "After must be a valid Unix timestamp"),
        ({"after": "nan"}, "After must be a valid Unix timestamp"),
        ({"after": "inf"}, "After must be a valid Unix timestamp"),
        ({"after": "1" * 100}, "After must be a valid Unix timestamp"),
        ({"category": 5}, "Invalid field 'category': expected string, got number"),
    ]
    for fields, error in cases:
        await boss.send("modlog_get", **fields)
        await boss.expect_error(error, src="modlog_get")


async def test_who_may_read_the_log(server):
    m = await members(server, {"adm": ["admin", "user"], "mod": ["moderator", "user"], "alice": ["user"],
                               "aud": ["user"]})
    for name in ("alice", "mod"):
        for cmd in ("modlog_get", "modlog_summary"):
            await m[name].send(cmd)
            await m[name].expect_error(DENIED, src=cmd)
    await m["adm"].send("modlog_get")
    await m["adm"].expect("modlog_get", total=0, entries=[])
    # a role granting only view_audit_log is enough
    for client in m.values():
        await client.close()
    await stop(server)
    con = db(server)
    con.execute("INSERT INTO roles(id, name, permissions, position) VALUES ('r-aud', 'auditor', ?, 4)",
                (json.dumps(["view_audit_log"]),))
    con.execute("UPDATE users SET roles = ? WHERE id = ?", (json.dumps(["auditor", "user"]), LOCAL + "aud"))
    con.commit()
    con.close()
    await start(server)
    aud = await server.user("aud")
    await aud.send("modlog_summary")
    await aud.expect("modlog_summary", total=0)


async def test_every_moderation_and_administration_action_is_recorded(server):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"], "bob": ["user"], "carol": ["user"],
                               "dave": ["user"]})
    boss = m["boss"]
    await m["alice"].send("typing", channel="general")
    await m["alice"].expect("typing")  # now alice's limiter has something to reset
    steps = [
        ("rate_limit_reset", {"user": LOCAL + "alice"}),
        ("user_timeout", {"user": LOCAL + "alice", "timeout": 30}),
        ("user_update", {"user": LOCAL + "bob", "updates": {"nickname": "B"}}),
        ("user_leave", {"user": LOCAL + "carol"}),
        ("user_ban", {"user": LOCAL + "dave"}),
        ("user_unban", {"user": LOCAL + "dave"}),
        ("user_delete", {"user": LOCAL + "bob"}),
        ("server_update", {"name": "Audited"}),
        ("plugins_reload", {}),
    ]
    for cmd, fields in steps:
        await boss.send(cmd, **fields, listener=cmd)
        while (await boss.recv()).get("listener") != cmd:
            pass
    await boss.drain()
    await boss.send("modlog_summary", listener="s")
    summary = await boss.expect("modlog_summary", listener="s")
    assert summary["action_counts"] == {
        "user_moderation.rate_limit_reset": 1, "user_moderation.user_ban": 1, "user_moderation.user_delete": 1,
        "user_moderation.user_kick": 1, "user_moderation.user_timeout": 1, "user_moderation.user_unban": 1,
        "user_moderation.user_update": 1, "server_management.plugins_reload": 1,
        "server_management.server_update": 1}
    assert summary["category_totals"] == {"user_moderation": 7, "server_management": 2}
    assert summary["total"] == 9
    entries = (await modlog(boss))["entries"]
    assert all(e["actor_id"] == LOCAL + "boss" for e in entries)
    # a deleted member's entries still name them
    assert [e["target_name"] for e in entries if e["action"] == "user_delete"] == [LOCAL + "bob"]


async def test_expired_entries_disappear_per_category_and_are_deleted(server, autojump_clock):
    m = await members(server, {"boss": ["owner", "user"], "alice": ["user"]})
    boss = m["boss"]
    await boss.send("server_update", name="Old news")  # server_management: kept 1 day here
    await boss.expect("server_update")
    await boss.expect("server_update")
    await boss.send("user_timeout", user=LOCAL + "alice", timeout=5)  # user_moderation: 3 days
    await boss.expect("user_timeout")

    def stored() -> list[str]:
        con = db(server)
        try:
            return [r[0] for r in con.execute("SELECT action FROM audit_log ORDER BY time")]
        finally:
            con.close()

    assert [e["action"] for e in (await modlog(boss))["entries"]] == ["user_timeout", "server_update"]
    await trio.sleep(2.5 * DAY)
    assert [e["action"] for e in (await modlog(boss))["entries"]] == ["user_timeout"]
    await boss.send("modlog_summary")
    await boss.expect("modlog_summary", total=1, category_totals={"user_moderation": 1})
    assert await trio.to_thread.run_sync(stored) == ["user_timeout"]  # pruned by the daily task
    await trio.sleep(2 * DAY)
    assert (await modlog(boss))["entries"] == []
    assert await trio.to_thread.run_sync(stored) == []


def test_retention_per_category_else_default():
    cutoffs, default = retention_cutoffs({"default": 10, "server_management": 2}, now=100 * DAY)
    by = dict(cutoffs)
    assert by["server_management"] == 98 * DAY
    assert by["user_moderation"] == 90 * DAY
    assert default == 90 * DAY
    cutoffs, default = retention_cutoffs({}, now=0.0)  # no table at all (an offline operator command)
    assert set(dict(cutoffs).values()) == {None} and default is None


def test_a_config_naming_some_categories_keeps_the_defaults_of_the_others():
    from originchats.config import RETENTION_DAYS, parse_config

    config = parse_config({"modlog": {"retention": {"server_management": 2}}})
    assert config.modlog.retention == {**RETENTION_DAYS, "server_management": 2}
    assert parse_config({}).modlog.retention == RETENTION_DAYS
