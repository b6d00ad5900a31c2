"""Embeds (extended/embeds.md): embeds_list, and the fixed flaws: embeds_list checks `view`, and a
message may be embeds alone. The report of an invalid embed is in tests/test_embed_reports.py."""

from __future__ import annotations

import pytest

from tests.msgworld import LOCAL, channel_id, msg, online, post, world_config

CARD = {"title": "Card", "description": "text", "color": "12", "fields": [{"name": "a", "value": "b", "inline": "yes"}]}
SEEDED = [
    msg("card", channel_id("history"), LOCAL + "alice", "with a card", 3000.0, embeds=[CARD]),
    msg("plain", channel_id("history"), LOCAL + "alice", "no card", 3001.0),
    msg("staffcard", channel_id("staff"), LOCAL + "adam", "admins' card", 3002.0, embeds=[{"title": "secret"}]),
]


@pytest.fixture
def config(tmp_path):
    return world_config(tmp_path, SEEDED)


# ---- embeds_list ------------------------------------------------------------------------------


async def test_embeds_list_returns_a_messages_embeds(server):
    alice, adam = await online(server, "alice", "adam")
    await alice.send("embeds_list", channel="history", id="card", listener="e")
    assert await alice.recv() == {"cmd": "embeds_list", "id": "card", "embeds": [CARD], "listener": "e"}
    await alice.send("embeds_list", channel="history", id="plain")
    assert await alice.recv() == {"cmd": "embeds_list", "id": "plain", "embeds": []}
    await adam.send("embeds_list", channel="staff", id="staffcard")
    assert (await adam.expect("embeds_list"))["embeds"] == [{"title": "secret"}]
    await adam.assert_silent()


async def test_embeds_list_errors_in_documented_order(server):
    alice, nora = await online(server, "alice", "nora")
    steps = [  # (client, fields, text, src)
        (alice, {"channel": "history"}, "Message ID is required", "embeds_list"),
        (alice, {"channel": "history", "id": ""}, "Message ID is required", "embeds_list"),
        (alice, {"id": "card"}, "Channel or thread_id is required", "embeds_list"),
        (nora, {"channel": "history", "id": "card"}, "User roles not found", None),
        (alice, {"channel": "nowhere", "id": "card"}, "Channel not found", "embeds_list"),
        (alice, {"thread_id": "t1", "id": "card"}, "Thread not found", "embeds_list"),
        # the original let anyone read a hidden channel's embeds by message id
        (alice, {"channel": "staff", "id": "staffcard"}, "Access denied to this channel", "embeds_list"),
        (alice, {"channel": "history", "id": "nope"}, "Message not found", "embeds_list"),
        (alice, {"channel": "history", "id": "staffcard"}, "Message not found", "embeds_list"),
    ]
    for i, (client, fields, text, src) in enumerate(steps):
        await client.send("embeds_list", listener=f"e{i}", **fields)
        await client.expect_error(text, src=src, listener=f"e{i}")
    await alice.assert_silent()


# ---- a message of embeds alone ----------------------------------------------------------------


async def test_a_message_may_be_embeds_alone(server):
    """The original insisted on content or attachments over the WebSocket (webhooks could post
    embeds alone)."""
    alice, bob = await online(server, "alice", "bob")
    await alice.send("message_new", channel="general", embeds=[{"title": "only a card"}], listener="n")
    packet = await bob.expect("message_new")
    assert packet["message"]["content"] == "" and packet["message"]["embeds"] == [{"title": "only a card"}]
    mine = await alice.expect("message_new", listener="n")
    await alice.send("message_new", channel="general", content="   ", embeds=[{"title": "blank text"}])
    assert (await alice.expect("message_new"))["message"]["content"] == ""
    await bob.drain()
    # without embeds (or with none) it is refused as before
    for fields, text in (({"embeds": []}, "Missing fields: content or attachments"),
                         ({"content": "  ", "embeds": []}, "Message content or attachments cannot be empty"),
                         ({"content": "  "}, "Message content or attachments cannot be empty"),
                         ({"embeds": [{"title": 5}]},
                          "Embed 0: 1 validation error for Embed\ntitle\n  Input should be a valid string")):
        await alice.send("message_new", channel="general", **fields)
        await alice.expect_error(text, src="message_new")
    # an edit may keep the text empty when it carries embeds
    mid = mine["message"]["id"]
    await alice.send("message_edit", channel="general", id=mid, embeds=[{"title": "new card"}])
    edit = await bob.expect("message_edit")
    assert edit["content"] == "" and edit["message"]["embeds"] == [{"title": "new card"}]
    await alice.drain()
    await alice.send("message_edit", channel="general", id=mid, content="", embeds=[])
    await alice.expect_error("Invalid message edit format", src="message_edit")
    await alice.send("messages_get", channel="general")
    stored = (await alice.expect("messages_get"))["messages"]
    assert [(m["content"], m["embeds"]) for m in stored] == [("", [{"title": "new card"}]),
                                                             ("", [{"title": "blank text"}])]
