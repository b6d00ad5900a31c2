"""message_new, message_edit, message_delete, typing and channels_get through the real protocol
(core.md §3-4, objects.md §3, §5): reply shapes, errors in their documented order, the `listener`
echo, and who receives each broadcast."""

from __future__ import annotations

import time
import uuid

import pytest

from originchats.config import LimitsSection, RateLimitingSection
from tests.msgworld import LOCAL, NEWS_POST, online, post, stored_rows, world_config


@pytest.fixture
def config(tmp_path, request):
    """The seeded world; `@rate_limited(B)` turns the limiter on with burst limit B."""
    burst = getattr(request, "param", None)
    if isinstance(burst, dict):
        return world_config(tmp_path, **burst)
    if burst is not None:
        return world_config(tmp_path, rate_limiting=RateLimitingSection(
            enabled=True, messages_per_minute=60, burst_limit=burst, cooldown_seconds=30))
    return world_config(tmp_path)


def rate_limited(burst: int):  # type: ignore[no-untyped-def]
    return pytest.mark.parametrize("config", [burst], indirect=True)


def assert_message_shape(m: dict, *, user: str, content: str) -> None:
    assert uuid.UUID(m["id"]).version == 4
    assert isinstance(m["timestamp"], float) and abs(m["timestamp"] - time.time()) < 120
    assert m["user"] == user and m["content"] == content
    assert m["pinned"] is False and m["type"] == "message" and m["interaction"] is None


# ---- message_new ------------------------------------------------------------------------------


async def test_message_new_reply_is_the_broadcast_plus_listener(server):
    alice, bob, mia, boss = await online(server, "alice", "bob", "mia", owner="boss")
    await alice.send("message_new", channel="general", content="hello", listener="L1")
    mine = await alice.expect("message_new")
    m = mine["message"]
    assert_message_shape(m, user=LOCAL + "alice", content="hello")
    assert set(m) == {"user", "content", "timestamp", "id", "pinned", "type", "interaction", "pings"}
    assert m["pings"] == {"users": [], "roles": [], "replies": []}
    assert mine == {"cmd": "message_new", "message": m, "channel": "general", "thread_id": None,
                    "global": True, "listener": "L1"}
    expected = {k: v for k, v in mine.items() if k != "listener"}
    for other in (bob, mia, boss):
        assert await other.recv() == expected
    for c in (alice, bob, mia, boss):
        await c.assert_silent()


async def test_non_string_listener_is_not_echoed(server):
    (alice,) = await online(server, "alice")
    await alice.send("message_new", channel="general", content="x", listener=5)
    assert "listener" not in await alice.expect("message_new")


async def test_posting_where_only_admins_look_reaches_only_admins(server):
    """No owner bypass: the owner does not see `staff`; the admin's other socket does."""
    adam, adam2, mod, alice, boss = await online(server, "adam", "adam", "mod", "alice", owner="boss")
    m = await post(adam, "staff", "admins only")
    got = await adam2.expect("message_new", channel="staff")
    assert got["message"]["id"] == m["id"]
    for c in (adam, adam2, mod, alice, boss):
        await c.assert_silent()


async def test_deny_entries_follow_the_members_role_order(server):
    """`quiet` lists `!muted` before `user`: mia (muted, user) is refused, umi (user, muted) not."""
    umi, mia, alice = await online(server, "umi", "mia", "alice")
    await post(umi, "quiet", "shh")
    await alice.expect("message_new", channel="quiet")
    await mia.assert_silent()
    await mia.send("message_new", channel="quiet", content="me too")
    await mia.expect_error("You do not have permission to send messages in this channel", src="message_new")
    for c in (umi, alice, mia):
        await c.assert_silent()


async def test_view_is_not_needed_to_post(server):
    alice, bob, adam = await online(server, "alice", "bob", "adam")
    await alice.send("message_new", channel="dropbox", content="for the admins", listener="d")
    await adam.expect("message_new", channel="dropbox")
    await alice.expect("message_new", channel="dropbox", listener="d")
    await bob.assert_silent()


async def test_empty_permissions_fall_back_to_the_owner_only_block(server):
    alice, boss = await online(server, "alice", owner="boss")
    await alice.send("message_new", channel="blank", content="x")
    await alice.expect_error("You do not have permission to send messages in this channel", src="message_new")
    await post(boss, "blank", "owner may")
    await alice.assert_silent()


NEW_ERRORS = [
    ({}, "Missing fields: channel or thread_id, content or attachments"),
    ({"content": "x"}, "Missing fields: channel or thread_id"),
    ({"channel": "general"}, "Missing fields: content or attachments"),
    ({"channel": "general", "content": ""}, "Missing fields: content or attachments"),
    ({"channel": "nope", "content": " \n\t "}, "Message content or attachments cannot be empty"),
    ({"channel": "nope", "content": "x", "embeds": {"title": "t"}}, "Embeds must be an array"),
    ({"channel": "nope", "content": "x", "embeds": [{}] * 11}, "Cannot have more than 10 embeds"),
    ({"channel": "nope", "content": "x" * 2001}, "Message too long. Maximum length is 2000 characters"),
    ({"channel": "nope", "content": "hi @&secret"}, "You do not have permission to mention the '@&secret' role"),
    ({"channel": "general", "thread_id": "t-1", "content": "x"}, "Thread not found"),
    ({"channel": "nope", "content": "x"}, "Channel not found"),
    ({"channel": "news", "content": "x"}, "You do not have permission to send messages in this channel"),
    ({"channel": "readonly", "content": "x"}, "You do not have permission to send messages in this channel"),
    ({"channel": "sep", "content": "x"}, "You do not have permission to send messages in this channel"),
    ({"channel": "lobby", "content": "x"}, "Cannot send messages in this channel type"),
    ({"channel": "ideas", "content": "x"}, "Cannot send messages in this channel type"),
    ({"channel": "general", "content": "x", "reply_to": "no-such-id"},
     "The message you're trying to reply to was not found"),
]


async def test_message_new_errors_in_documented_order(server):
    alice, bob = await online(server, "alice", "bob")
    for i, (fields, text) in enumerate(NEW_ERRORS):
        await alice.send("message_new", listener=f"e{i}", **fields)
        await alice.expect_error(text, src="message_new", listener=f"e{i}")
    await alice.assert_silent()
    await bob.assert_silent()
    await alice.send("messages_get", channel="general")
    assert (await alice.expect("messages_get"))["messages"] == []


async def test_embed_errors_name_the_failing_embed(server):
    (alice,) = await online(server, "alice")
    bad = [{"title": "ok"}, {"title": "x" * 257}]
    await alice.send("message_new", channel="general", content="x", embeds=bad)
    err = await alice.expect("error", src="message_new")
    assert err["val"].startswith("Embed 1: ") and "title" in err["val"]
    for embed, where in [({"type": "link"}, "url"), ({"type": "image"}, "image"), ({"type": "poll"}, "poll"),
                         ({"color": 16777216}, "color"), ({"title": 5}, "title"),
                         ({"fields": [{"name": "n"}]}, "fields.0.value"),
                         ({"description": "d" * 4096, "footer": {"text": "f" * 2000}}, "6000")]:
        await alice.send("message_new", channel="general", content="x", embeds=[embed])
        err = await alice.expect("error", src="message_new")
        assert err["val"].startswith("Embed 0: ") and where in err["val"], (embed, err)


async def test_user_without_roles_cannot_post(server):
    (nora,) = await online(server, "nora")
    await nora.send("message_new", channel="general", content="x")
    await nora.expect_error("User roles not found", src="message_new")


async def test_content_is_trimmed_and_measured_in_code_points_after_trimming(server):
    alice, bob = await online(server, "alice", "bob")
    m = await post(alice, "general", "   " + "😀" * 2000 + "\n ")
    assert m["content"] == "😀" * 2000
    await bob.expect("message_new")
    await alice.send("message_new", channel="general", content="é" * 2001)
    await alice.expect_error("Message too long. Maximum length is 2000 characters", src="message_new")


async def test_wrong_types_get_an_error_and_keep_the_connection(server):
    (alice,) = await online(server, "alice")
    for fields in [{"channel": "general", "content": 5}, {"channel": ["general"], "content": "x"},
                   {"channel": "general", "content": "x", "reply_to": 7},
                   {"channel": "general", "content": "x", "ping": "no"},
                   {"channel": "general", "content": "x", "embeds": "nope"},
                   {"channel": "general", "content": "x", "thread_id": 3}]:
        await alice.send("message_new", listener="w", **fields)
        err = await alice.expect("error", src="message_new", listener="w")
        assert err["val"]
    await alice.send("ping")
    await alice.expect("pong")


async def test_embeds_are_stored_in_their_schema_and_an_empty_list_means_none(server):
    """Known keys keep the values (and types) sent; keys outside the schema, at any level, are
    dropped (docs/compatibility.md, Messages)."""
    alice, bob = await online(server, "alice", "bob")
    embeds = [{"title": "T", "color": "12", "custom": {"k": 1},
               "author": {"name": "a", "url": "https://a.example", "avatar": "x"},
               "fields": [{"name": "a", "value": "b", "inline": "yes", "extra": [1]}]}]
    kept = [{"title": "T", "color": "12", "author": {"name": "a", "url": "https://a.example"},
             "fields": [{"name": "a", "value": "b", "inline": "yes"}]}]
    m = await post(alice, "general", "with embed", embeds=embeds)
    assert m["embeds"] == kept
    plain = await post(alice, "general", "no embed", embeds=[])
    assert "embeds" not in plain
    await alice.send("messages_get", channel="general")
    stored = (await alice.expect("messages_get"))["messages"]
    assert stored[0]["embeds"] == kept and "embeds" not in stored[1]


# ---- replies and mentions ---------------------------------------------------------------------


async def test_reply_pings_the_author_unless_ping_is_false(server):
    alice, bob = await online(server, "alice", "bob")
    target = await post(alice, "general", "question")
    await bob.drain()
    r1 = await post(bob, "general", "answer", reply_to=target["id"])
    assert r1["reply_to"] == {"id": target["id"], "user": LOCAL + "alice"}
    assert "ping" not in r1
    assert r1["pings"] == {"users": [], "roles": [], "replies": [LOCAL + "alice"]}
    r2 = await post(bob, "general", "quiet answer", reply_to=target["id"], ping=False)
    assert r2["ping"] is False and r2["pings"]["replies"] == []
    r3 = await post(bob, "general", "loud answer", reply_to=target["id"], ping=True)
    assert r3["ping"] is True and r3["pings"]["replies"] == [LOCAL + "alice"]
    r4 = await post(bob, "general", "not a reply", ping=False)
    assert r4["ping"] is False and "reply_to" not in r4 and r4["pings"]["replies"] == []
    # what alice sees is the same packet
    seen = [p["message"] for p in await alice.drain()]
    assert [s["id"] for s in seen] == [r1["id"], r2["id"], r3["id"], r4["id"]]
    assert seen[0]["pings"]["replies"] == [LOCAL + "alice"]
    # history keeps reply_to and ping, never pings
    await bob.send("messages_get", channel="general")
    hist = (await bob.expect("messages_get"))["messages"]
    assert hist[1]["reply_to"] == {"id": target["id"], "user": LOCAL + "alice"}
    assert hist[2]["ping"] is False and "ping" not in hist[1]
    assert all("pings" not in h for h in hist)


async def test_reply_target_must_be_in_the_same_channel_and_alive(server):
    alice, adam = await online(server, "alice", "adam")
    elsewhere = await post(alice, "history", "in history")
    await alice.send("message_new", channel="general", content="re", reply_to=elsewhere["id"])
    await alice.expect_error("The message you're trying to reply to was not found", src="message_new")
    target = await post(alice, "general", "soon gone")
    reply = await post(alice, "general", "re", reply_to=target["id"])
    await alice.send("message_delete", channel="general", id=target["id"])
    await alice.expect("message_delete")
    await alice.send("message_new", channel="general", content="re again", reply_to=target["id"])
    await alice.expect_error("The message you're trying to reply to was not found", src="message_new")
    # the earlier reply keeps its dangling reply_to
    await alice.send("message_get", channel="general", id=reply["id"])
    got = await alice.expect("message_get")
    assert got["message"]["reply_to"] == {"id": target["id"], "user": LOCAL + "alice"}


async def test_user_mentions_resolve_stored_usernames_case_insensitively(server):
    (alice,) = await online(server, "alice")
    m = await post(alice, "general", "@bob @BOB @zed @ZED hi @nobody @USR:local_bob mail@bob a&@x @usr:LOCAL_Bob")
    # a local account by its name or its whole id (the original stopped at `:`, giving "USR")
    assert sorted(m["pings"]["users"]) == sorted([LOCAL + "bob", "Zed", "nobody"])
    assert m["pings"]["roles"] == []


async def test_role_mentions_follow_mention_roles(server):
    alice, adam, mod, boss = await online(server, "alice", "adam", "mod", owner="boss")
    m = await post(alice, "general", "@&ghost @&open @&ghost")
    assert sorted(m["pings"]["roles"]) == ["ghost", "open"]
    for c in (adam, mod, boss):
        await c.drain()
    cases = [  # (client, role, allowed)
        (alice, "vip", False), (adam, "vip", True), (boss, "vip", True),
        (adam, "secret", False), (boss, "secret", True),
        (alice, "mods", False), (mod, "mods", True),
        # `@&user` pings every member: `mention_everyone` (admins, owners) only
        (alice, "user", False), (mod, "user", False), (adam, "user", True), (boss, "user", True),
    ]
    for client, role, allowed in cases:
        await client.send("message_new", channel="general", content=f"hey @&{role}")
        if allowed:
            assert (await client.expect("message_new"))["message"]["pings"]["roles"] == [role]
        else:
            await client.expect_error(f"You do not have permission to mention the '@&{role}' role",
                                      src="message_new")
        for c in (alice, adam, mod, boss):
            assert len(await c.drain()) == (1 if allowed and c is not client else 0)


# ---- message_edit -----------------------------------------------------------------------------


async def test_message_edit_reply_shape_and_pings_only_when_mentioning(server):
    alice, bob = await online(server, "alice", "bob")
    m = await post(alice, "general", "one")
    await bob.drain()
    await alice.send("message_edit", id=m["id"], channel="general", content="  two @bob @&open ", listener="E")
    mine = await alice.expect("message_edit")
    edited = dict(m, content="  two @bob @&open ", edited=True,
                  pings={"users": [LOCAL + "bob"], "roles": ["open"], "replies": []})
    assert mine == {"cmd": "message_edit", "id": m["id"], "content": "  two @bob @&open ", "message": edited,
                    "channel": "general", "global": True, "listener": "E"}
    assert await bob.recv() == {k: v for k, v in mine.items() if k != "listener"}
    await alice.send("message_edit", id=m["id"], channel="general", content="three")
    plain = await alice.expect("message_edit")
    assert "pings" not in plain["message"] and plain["message"]["content"] == "three"
    await bob.expect("message_edit")
    await alice.send("message_get", channel="general", id=m["id"])
    stored = (await alice.expect("message_get"))["message"]
    assert stored["content"] == "three" and stored["edited"] is True and "pings" not in stored
    await bob.assert_silent()


async def test_message_edit_errors_in_documented_order(server):
    alice, bob, adam, nora, boss = await online(server, "alice", "bob", "adam", "nora", owner="boss")
    mine = await post(alice, "general", "mine")
    elsewhere = await post(alice, "history", "elsewhere")
    for c in (bob, adam, boss):
        await c.drain()
    mid = mine["id"]
    steps = [
        (alice, {"channel": "general", "content": "x"}, "Invalid message edit format"),
        (alice, {"id": mid, "content": "x"}, "Invalid message edit format"),
        (alice, {"id": mid, "channel": "general"}, "Invalid message edit format"),
        (alice, {"id": mid, "channel": "general", "content": ""}, "Invalid message edit format"),
        (alice, {"id": mid, "channel": "nope", "content": "x", "embeds": "e"}, "Embeds must be an array"),
        (alice, {"id": mid, "channel": "nope", "content": "x" * 2001},
         "Message too long. Maximum length is 2000 characters"),
        (nora, {"id": mid, "channel": "nope", "content": "x"}, "User roles not found"),
        (alice, {"id": mid, "channel": "general", "thread_id": "t", "content": "x"}, "Thread not found"),
        (alice, {"id": mid, "channel": "nope", "content": "x"}, "Channel not found"),
        (alice, {"id": "no-such", "channel": "general", "content": "x"}, "Message not found or cannot be edited"),
        (alice, {"id": elsewhere["id"], "channel": "general", "content": "x"},
         "Message not found or cannot be edited"),
        # news: edit_own is admins only, and that is checked before authorship
        (alice, {"id": NEWS_POST, "channel": "news", "content": "x"},
         "You do not have permission to edit your own message in this channel"),
        (bob, {"id": NEWS_POST, "channel": "news", "content": "x"},
         "You do not have permission to edit your own message in this channel"),
        (adam, {"id": NEWS_POST, "channel": "news", "content": "x"}, "You do not have permission to edit this message"),
        (bob, {"id": mid, "channel": "general", "content": "x"}, "You do not have permission to edit this message"),
        (boss, {"id": mid, "channel": "general", "content": "x"}, "You do not have permission to edit this message"),
        (alice, {"id": mid, "channel": "general", "content": "@&secret"},
         "You do not have permission to mention the '@&secret' role"),
    ]
    for i, (client, fields, text) in enumerate(steps):
        await client.send("message_edit", listener=f"s{i}", **fields)
        await client.expect_error(text, src="message_edit", listener=f"s{i}")
    for c in (alice, bob, adam, nora, boss):
        await c.assert_silent()
    await alice.send("message_get", channel="general", id=mid)
    stored = (await alice.expect("message_get"))["message"]
    assert stored["content"] == "mine" and "edited" not in stored


async def test_edit_length_limit_is_the_post_limit(server):
    """A fixed flaw: the original accepted edits of any length."""
    (alice,) = await online(server, "alice")
    m = await post(alice, "general", "short")
    await alice.send("message_edit", id=m["id"], channel="general", content="y" * 2000)
    assert (await alice.expect("message_edit"))["content"] == "y" * 2000
    await alice.send("message_edit", id=m["id"], channel="general", content="y" * 3000)
    await alice.expect_error("Message too long. Maximum length is 2000 characters", src="message_edit")


async def test_edit_embeds_keep_replace_or_clear(server):
    (alice,) = await online(server, "alice")
    first = [{"title": "first"}]
    m = await post(alice, "general", "e", embeds=first)
    await alice.send("message_edit", id=m["id"], channel="general", content="kept")
    assert (await alice.expect("message_edit"))["message"]["embeds"] == first
    second = [{"description": "second", "zzz": True}]
    await alice.send("message_edit", id=m["id"], channel="general", content="replaced", embeds=second)
    assert (await alice.expect("message_edit"))["message"]["embeds"] == [{"description": "second"}]
    await alice.send("message_get", channel="general", id=m["id"])
    assert (await alice.expect("message_get"))["message"]["embeds"] == [{"description": "second"}]
    await alice.send("message_edit", id=m["id"], channel="general", content="cleared", embeds=[])
    assert "embeds" not in (await alice.expect("message_edit"))["message"]
    await alice.send("message_get", channel="general", id=m["id"])
    assert "embeds" not in (await alice.expect("message_get"))["message"]


async def test_edit_broadcast_reaches_only_viewers(server):
    umi, mia, alice = await online(server, "umi", "mia", "alice")
    m = await post(umi, "quiet", "draft")
    await alice.drain()
    await umi.send("message_edit", id=m["id"], channel="quiet", content="final")
    await umi.expect("message_edit", channel="quiet")
    await alice.expect("message_edit", id=m["id"], content="final")
    await mia.assert_silent()


async def test_a_deleted_message_cannot_be_edited(server):
    alice, alice2 = await online(server, "alice", "alice")
    m = await post(alice, "general", "short-lived")
    await alice2.drain()
    await alice.send("message_delete", channel="general", id=m["id"])
    await alice.expect("message_delete")
    await alice2.expect("message_delete")
    await alice2.send("message_edit", channel="general", id=m["id"], content="too late")
    await alice2.expect_error("Message not found or cannot be edited", src="message_edit")
    await alice.assert_silent()


async def test_racing_edit_and_delete_never_resurrect_a_message(server):
    """Sent together from two sockets: whatever wins, nobody sees an edit after the delete and
    the message stays deleted."""
    alice, alice2, bob = await online(server, "alice", "alice", "bob")
    for round_ in range(6):
        m = await post(alice, "general", f"r{round_}")
        await alice2.drain()
        await bob.drain()
        if round_ % 2:  # the edit's read first: it wins, and its broadcast precedes the delete's
            await alice2.send("message_edit", channel="general", id=m["id"], content="edited", listener="ed")
            await alice.send("message_delete", channel="general", id=m["id"], listener="del")
        else:  # the delete's read first: the edit finds nothing
            await alice.send("message_delete", channel="general", id=m["id"], listener="del")
            await alice2.send("message_edit", channel="general", id=m["id"], content="edited", listener="ed")
        own_delete = await answer(alice, "del")
        edit_answer = await answer(alice2, "ed")
        seen = [p["cmd"] for p in await bob.drain() if p.get("id") == m["id"]]
        if edit_answer["cmd"] == "error":
            assert edit_answer["val"] == "Message not found or cannot be edited"
            assert seen == ["message_delete"]
        else:
            assert seen == ["message_edit", "message_delete"], seen
        assert own_delete["id"] == m["id"]
        await alice.drain()
        await alice2.drain()
    await bob.send("messages_get", channel="general")
    assert (await bob.expect("messages_get"))["messages"] == []


async def answer(client, listener: str) -> dict:
    """The caller's answer to its request, skipping broadcasts caused by the other socket."""
    while True:
        packet = await client.recv()
        if packet.get("listener") == listener:
            return packet


# ---- message_delete ---------------------------------------------------------------------------


async def test_message_delete_reply_shape_broadcast_and_audit(server):
    alice, bob, mia = await online(server, "alice", "bob", "mia")
    m = await post(alice, "general", "bye")
    await bob.drain()
    await mia.drain()
    await alice.send("message_delete", channel="general", id=m["id"], listener="D")
    packet = {"cmd": "message_delete", "id": m["id"], "channel": "general", "global": True}
    assert await alice.recv() == {**packet, "listener": "D"}
    assert await bob.recv() == packet
    assert await mia.recv() == packet
    await bob.send("messages_get", channel="general")
    assert (await bob.expect("messages_get"))["messages"] == []
    rows = stored_rows(server.config, "SELECT category, action, actor_id, target, details FROM audit_log"
                                      " WHERE action = 'message_delete'")
    assert rows == [("message_moderation", "message_delete", LOCAL + "alice", m["id"], '{"channel":"general"}')]


async def test_message_delete_errors_in_documented_order(server):
    alice, bob, nora, umi, boss = await online(server, "alice", "bob", "nora", "umi", owner="boss")
    mine = await post(alice, "general", "mine")
    elsewhere = await post(alice, "history", "elsewhere")
    quiet = await post(umi, "quiet", "umi's")
    for c in (bob, umi, boss, alice):
        await c.drain()
    mid = mine["id"]
    steps = [
        (alice, {"channel": "general"}, "Invalid message delete format"),
        (alice, {"id": mid}, "Invalid message delete format"),
        (nora, {"id": mid, "channel": "general"}, "User roles not found"),
        (alice, {"id": mid, "channel": "general", "thread_id": "t"}, "Thread not found"),
        (alice, {"id": mid, "channel": "nope"}, "Channel not found"),
        (alice, {"id": "no-such", "channel": "general"}, "Message not found or cannot be deleted"),
        (alice, {"id": elsewhere["id"], "channel": "general"}, "Message not found or cannot be deleted"),
        (alice, {"id": NEWS_POST, "channel": "news"},
         "You do not have permission to delete your own message in this channel"),
        # evaluator (b): "!user" is not a role name, so `user` is simply not listed
        (umi, {"id": quiet["id"], "channel": "quiet"},
         "You do not have permission to delete your own message in this channel"),
        (bob, {"id": mid, "channel": "general"}, "You do not have permission to delete this message"),
        (boss, {"id": mid, "channel": "general"}, "You do not have permission to delete this message"),
    ]
    for i, (client, fields, text) in enumerate(steps):
        await client.send("message_delete", listener=f"s{i}", **fields)
        await client.expect_error(text, src="message_delete", listener=f"s{i}")
    for c in (alice, bob, nora, umi, boss):
        await c.assert_silent()


async def test_moderators_delete_others_messages_where_listed(server):
    alice, adam, mod = await online(server, "alice", "adam", "mod")
    a = await post(alice, "general", "a")
    b = await post(alice, "general", "b")
    h = await post(alice, "history", "h")
    for c in (adam, mod):
        await c.drain()
    await adam.send("message_delete", channel="general", id=a["id"])
    await adam.expect("message_delete", id=a["id"])
    await mod.expect("message_delete", id=a["id"])
    await mod.send("message_delete", channel="general", id=b["id"])
    await mod.expect("message_delete", id=b["id"])
    # `history` lists only admin for deleting others' messages
    await mod.drain()
    await mod.send("message_delete", channel="history", id=h["id"])
    await mod.expect_error("You do not have permission to delete this message", src="message_delete")
    # deleting twice: the second finds nothing
    await adam.drain()
    await adam.send("message_delete", channel="general", id=a["id"])
    await adam.expect_error("Message not found or cannot be deleted", src="message_delete")
    assert len(stored_rows(server.config, "SELECT id FROM audit_log WHERE action = 'message_delete'")) == 2


async def test_delete_broadcast_reaches_only_viewers(server):
    adam, alice, boss = await online(server, "adam", "alice", owner="boss")
    m = await post(adam, "staff", "secret")
    await adam.send("message_delete", channel="staff", id=m["id"])
    await adam.expect("message_delete", channel="staff")
    await alice.assert_silent()
    await boss.assert_silent()


# ---- typing -----------------------------------------------------------------------------------


async def test_typing_echoes_to_the_caller_and_reaches_viewers(server):
    alice, bob, mia, adam = await online(server, "alice", "bob", "mia", "adam")
    await alice.send("typing", channel="general", listener="T")
    packet = {"cmd": "typing", "channel": "general", "user": LOCAL + "alice", "thread_id": None, "global": True}
    for other in (bob, mia, adam):
        assert await other.recv() == packet
    assert await alice.recv() == {**packet, "listener": "T"}
    await umi_typing_is_hidden_from_mia(server, alice, mia)


async def umi_typing_is_hidden_from_mia(server, alice, mia):
    umi = await server.user("umi")
    await alice.drain()
    await mia.drain()
    await umi.send("typing", channel="quiet")
    await umi.expect("typing", channel="quiet", user=LOCAL + "umi")
    await alice.expect("typing", channel="quiet")
    await mia.assert_silent()


async def test_typing_errors(server):
    alice, mia, nora = await online(server, "alice", "mia", "nora")
    steps = [
        (alice, {}, "Channel name or thread_id not provided"),
        (alice, {"thread_id": "t"}, "Thread not found"),
        (alice, {"channel": "nope"}, "Channel not found"),
        (alice, {"channel": "staff"}, "Access denied to this channel"),
        (alice, {"channel": "dropbox"}, "Access denied to this channel"),
        (alice, {"channel": "lobby"}, "Access denied to this channel"),
        (mia, {"channel": "quiet"}, "Access denied to this channel"),
    ]
    for client, fields, text in steps:
        await client.send("typing", listener="t", **fields)
        await client.expect_error(text, src="typing", listener="t")
    # typing needs view only: news is read-only for members, typing there is allowed
    await alice.send("typing", channel="news")
    await mia.expect("typing", channel="news")
    await nora.assert_silent()  # nora has no roles: she views nothing
    await alice.expect("typing", channel="news")


# ---- rate limiting ----------------------------------------------------------------------------


@rate_limited(2)
async def test_rate_limit_comes_after_validation_and_before_permissions(server):
    alice, bob = await online(server, "alice", "bob")
    for _ in range(4):  # validation failures consume nothing
        await alice.send("message_new", channel="general", content="x" * 2001)
        await alice.expect_error("Message too long. Maximum length is 2000 characters", src="message_new")
    await alice.send("message_new", channel="news", content="x")  # refused, but consumes a slot
    await alice.expect_error("You do not have permission to send messages in this channel", src="message_new")
    await post(alice, "general", "one")
    await alice.send("message_new", channel="news", content="x", listener="R")
    refusal = await alice.expect("rate_limit", listener="R")
    assert refusal["reason"] == "Burst limit exceeded. You're in cooldown for 30 seconds"
    assert refusal["length"] == 30000
    await alice.send("typing", channel="general")  # the same bucket
    typing_refusal = await alice.expect("rate_limit")
    assert typing_refusal["reason"].startswith("You are in cooldown for ")
    await alice.send("message_edit", channel="nope")  # first check, no reason
    edit_refusal = await alice.expect("rate_limit")
    assert set(edit_refusal) == {"cmd", "length"}
    await bob.expect("message_new")
    await bob.assert_silent()


# ---- channels_get -----------------------------------------------------------------------------


async def test_channels_get_lists_viewable_channels_in_order_with_computed_keys(server):
    (alice,) = await online(server, "alice")
    await alice.send("channels_get", listener="C")
    reply = await alice.expect("channels_get", listener="C")
    assert set(reply) == {"cmd", "val", "listener"}
    by_name = {c["name"]: c for c in reply["val"]}
    assert [c["name"] for c in reply["val"]] == ["general", "news", "quiet", "readonly", "lobby", "ideas", "sep",
                                                "pets", "history"]
    assert by_name["general"] == {
        "type": "text", "name": "general", "description": "General chat channel for everyone",
        "display_name": "General",
        "permissions": {"view": ["user"], "send": ["user"], "delete": ["admin", "moderator"],
                        "create_thread": ["user"]},
        "last_message": None, "last_message_id": None,
    }
    assert by_name["news"]["last_message_id"] == NEWS_POST and by_name["news"]["last_message"] == 100.0
    assert by_name["lobby"] == {"type": "voice", "name": "lobby",
                                "permissions": {"view": ["user"], "send": ["user"]}, "voice_state": []}
    assert "threads" in by_name["ideas"]
    assert by_name["sep"] == {"type": "separator", "name": "sep", "permissions": {"view": ["user"]}}
    m = await post(alice, "general", "latest")
    await alice.send("channels_get")
    general = (await alice.expect("channels_get"))["val"][0]
    assert general["last_message_id"] == m["id"] and general["last_message"] == m["timestamp"]


async def test_channels_get_follows_each_members_view(server):
    mia, umi, adam, nora, boss = await online(server, "mia", "umi", "adam", "nora", owner="boss")

    async def names(client):
        await client.send("channels_get")
        return [c["name"] for c in (await client.expect("channels_get"))["val"]]

    assert "quiet" not in await names(mia)
    assert "quiet" in await names(umi)
    admin_sees = await names(adam)
    assert "staff" in admin_sees and "dropbox" in admin_sees and "blank" not in admin_sees
    owner_sees = await names(boss)
    assert "staff" not in owner_sees and "blank" not in owner_sees  # no owner bypass, no fallback here
    assert await names(nora) == []


# ---- malformed requests -----------------------------------------------------------------------

ODD_VALUES = [5, -1, 10**30, 1.5, True, False, None, [], ["x"], {}, {"a": 1}, "", "x" * 300, "general"]
BASE_REQUESTS = {
    "channels_get": {},
    "messages_get": {"channel": "general", "thread_id": None, "start": 0, "limit": 5},
    "message_get": {"channel": "general", "thread_id": None, "id": "m"},
    "messages_around": {"channel": "general", "thread_id": None, "around": "m", "bounds": {"above": 1, "below": 1}},
    "message_new": {"channel": "general", "thread_id": None, "content": "x", "reply_to": None, "ping": None,
                    "embeds": None, "attachments": None},
    "message_edit": {"channel": "general", "thread_id": None, "id": "m", "content": "y", "embeds": None},
    "message_delete": {"channel": "general", "thread_id": None, "id": "m"},
    "message_react_add": {"channel": "general", "thread_id": None, "id": "m", "emoji": "e"},
    "message_react_remove": {"channel": "general", "thread_id": None, "id": "m", "emoji": "e"},
    "typing": {"channel": "general", "thread_id": None},
}


@pytest.mark.parametrize("config", [{"limits": LimitsSection(max_rejected_per_minute=100_000)}], indirect=True)
async def test_every_field_of_every_message_command_answers_any_json_type(server):
    """Each request gets exactly one answer and the connection stays usable (the original
    crashed silently on most of these)."""
    (alice,) = await online(server, "alice")
    for cmd, base in BASE_REQUESTS.items():
        for field in [*base, "bounds"] if cmd == "messages_around" else list(base):
            for value in ODD_VALUES:
                fields = {**base, field: value}
                if field == "bounds" and isinstance(value, dict):
                    fields["bounds"] = {"above": value, "below": value}
                await alice.send(cmd, listener="odd", **fields)
                answer_ = await alice.recv()
                assert answer_.get("listener") == "odd", (cmd, field, value, answer_)
                assert answer_["cmd"] in (cmd, "error"), (cmd, field, value, answer_)
    await alice.assert_silent()
    await alice.send("ping")
    await alice.expect("pong")
