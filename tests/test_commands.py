"""Typed commands (core/commands.py) check a request's fields in the order clients have always
seen: a request wrong in two ways gets the error of the check that comes first."""

from __future__ import annotations

import pytest


@pytest.fixture
async def alice(server):  # type: ignore[no-untyped-def]
    client = await server.user("alice")
    await client.drain()
    return client


async def test_message_new_reports_both_missing_fields_at_once(alice):
    await alice.send("message_new", ping="yes")
    await alice.expect_error("Missing fields: channel or thread_id, content or attachments", src="message_new")


@pytest.mark.parametrize("fields,val", [
    # the content's length is checked before the embeds' schema is not: embeds come first
    ({"content": "x" * 5000, "embeds": "no"}, "Embeds must be an array"),
    # and the length before the types of `ping` and `reply_to`
    ({"content": "x" * 5000, "ping": "yes", "reply_to": 7}, "Message too long. Maximum length is 2000 characters"),
    ({"content": "hi", "ping": "yes", "reply_to": 7}, "Invalid field 'ping': expected boolean, got string"),
    ({"content": "hi", "reply_to": 7}, "Invalid field 'reply_to': expected string, got number"),
    # request checks all come before the channel is looked up
    ({"content": "   "}, "Message content or attachments cannot be empty"),
])
async def test_message_new_checks_its_fields_before_the_channel(alice, fields, val):
    await alice.send("message_new", channel="no-such-channel", **fields)
    await alice.expect_error(val, src="message_new")


async def test_message_edit_checks_its_fields_before_the_channel(alice):
    await alice.send("message_edit", channel="no-such-channel", id="m1", content="x" * 5000)
    await alice.expect_error("Message too long. Maximum length is 2000 characters", src="message_edit")
    await alice.send("message_edit", channel="no-such-channel", id="m1")
    await alice.expect_error("Invalid message edit format", src="message_edit")
    await alice.send("message_edit", channel="no-such-channel", id="m1", content="ok")
    await alice.expect_error("Channel not found", src="message_edit")


async def test_typing_needs_a_channel_or_thread_before_anything_else(alice):
    await alice.send("typing")
    await alice.expect_error("Channel name or thread_id not provided", src="typing")
    await alice.send("typing", channel=5)
    await alice.expect_error("Invalid field 'channel': expected string, got number", src="typing")
    await alice.send("typing", channel="general", thread_id="t1")
    await alice.expect_error("Thread not found", src="typing")
