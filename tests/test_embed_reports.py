"""The report of an invalid embed on message_new and message_edit (extended/embeds.md, "Validation
errors"): `Embed <i>: ` and pydantic 2's report of the original's model, error for error (the
expected texts are what pydantic 2.13 gave for that model, written out), without the input echo; and
the lax values the original let through, stored as sent."""

from __future__ import annotations

from tests.msgworld import online, post

HEAD = "Embed 0: "
REPORTS = [  # (embed, the report after `Embed 0: `), in pydantic 2's words, as the original sent them
    ({"type": "x"}, "1 validation error for Embed\ntype\n  Input should be 'rich', 'poll', 'link', 'image', 'video'"
                    " or 'article'"),
    ({"type": None}, "1 validation error for Embed\ntype\n  Input should be 'rich', 'poll', 'link', 'image', 'video'"
                     " or 'article'"),
    # the model's own rules have no location line
    ({"type": "link"}, "1 validation error for Embed\n  Value error, Link embeds must have 'url'"),
    ({"type": "poll"}, "1 validation error for Embed\n  Value error, Poll embeds must have 'poll' data"),
    ({"type": "image"}, "1 validation error for Embed\n  Value error, Image embeds must have 'image'"),
    ({"description": "d" * 4096, "footer": {"text": "f" * 2000}},
     "1 validation error for Embed\n  Value error, Embed total characters cannot exceed 6000"),
    ("card", "1 validation error for Embed\n  Input should be a valid dictionary or instance of Embed"),
    ({"color": -1}, "1 validation error for Embed\ncolor\n  Input should be greater than or equal to 0"),
    ({"color": 16777216}, "1 validation error for Embed\ncolor\n  Input should be less than or equal to 16777215"),
    ({"color": "red"}, "1 validation error for Embed\ncolor\n  Input should be a valid integer, unable to parse string"
                       " as an integer"),
    ({"color": 1.5}, "1 validation error for Embed\ncolor\n  Input should be a valid integer, got a number with a"
                     " fractional part"),
    ({"author": "me"}, "1 validation error for Embed\nauthor\n  Input should be a valid dictionary or instance of"
                       " EmbedAuthor"),
    ({"author": {"name": None}}, "1 validation error for Embed\nauthor.name\n  Input should be a valid string"),
    ({"image": {}}, "1 validation error for Embed\nimage.url\n  Field required"),
    ({"fields": [{"name": "a", "value": "b"}] * 26},
     "1 validation error for Embed\nfields\n  List should have at most 25 items after validation, not 26"),
    ({"fields": [{"name": "a", "value": "b", "inline": "maybe"}]},
     "1 validation error for Embed\nfields.0.inline\n  Input should be a valid boolean, unable to interpret input"),
    ({"poll": {"question": "q", "options": [{"id": "a", "text": "b"}]}},
     "1 validation error for Embed\npoll.options\n  List should have at least 2 items after validation, not 1"),
    ({"poll": {"question": "q", "options": [{"id": "", "text": "b"}, {"id": "x" * 51, "text": "c"}]}},
     "2 validation errors for Embed\npoll.options.0.id\n  String should have at least 1 character\n"
     "poll.options.1.id\n  String should have at most 50 characters"),
    ({"poll": {"question": "q", "options": [{"id": "a", "text": "b"}] * 2, "expires_at": "soon"}},
     "1 validation error for Embed\npoll.expires_at\n  Input should be a valid number, unable to parse string as a"
     " number"),
    # every error of the embed, in the schema's order
    ({"footer": {}, "title": 5, "color": -1}, "3 validation errors for Embed\ntitle\n  Input should be a valid string\n"
     "color\n  Input should be greater than or equal to 0\nfooter.text\n  Field required"),
]


async def test_an_invalid_embed_is_reported_as_the_original_reported_it(server):
    (alice,) = await online(server, "alice")
    mine = await post(alice, "general", "to edit")
    for embed, report in REPORTS:
        await alice.send("message_new", channel="general", content="x", embeds=[{"title": "fine"}, embed])
        await alice.expect_error("Embed 1: " + report, src="message_new")
        await alice.send("message_edit", channel="general", id=mine["id"], content="x", embeds=[embed])
        await alice.expect_error(HEAD + report, src="message_edit")
    await alice.assert_silent()


async def test_lax_values_pass_as_the_original_let_them(server):
    (alice,) = await online(server, "alice")
    lax = {"color": True, "image": {"url": "u", "width": " 7 ", "height": 2.0},
           "fields": [{"name": "a", "value": "b", "inline": "TRUE"}, {"name": "c", "value": "d", "inline": 1}],
           "poll": {"question": "q", "options": [{"id": "a", "text": "b"}] * 2, "allow_multiselect": "off",
                    "expires_at": "12.5"}}
    m = await post(alice, "general", "lax", embeds=[lax])
    assert m["embeds"] == [lax]  # stored as sent
