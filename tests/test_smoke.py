"""End to end through the real serve(): handshake, register, post, broadcast, history."""


async def test_handshake_lists_what_the_server_handles(server):
    client = await server.connect()
    val = client.handshake["val"]
    assert val["version"] == "1.1.0"
    assert val["auth_mode"] == "cracked"
    assert val["validator_key"].startswith("originChats-") and len(val["validator_key"]) == 44
    assert val["limits"] == {"post_content": 2000, "search_results": 30}
    assert val["server"]["name"] == "My OriginChats Server"
    assert "message_new" in val["capabilities"] and "login" in val["capabilities"]
    assert val["capabilities"] == sorted(val["capabilities"])
    assert val["permissions"][0] == "administrator" and len(val["permissions"]) == 20


async def test_message_reaches_viewers_after_commit_and_is_stored(server):
    alice = await server.user("alice")
    bob = await server.user("bob")
    await alice.drain()
    await alice.send("message_new", channel="general", content="  hello @bob  ", listener="L1")
    seen_by_bob = await bob.expect("message_new", channel="general", thread_id=None, **{"global": True})
    assert "listener" not in seen_by_bob
    mine = await alice.expect("message_new", listener="L1")
    assert mine["message"]["content"] == "hello @bob"
    assert mine["message"]["user"] == "USR:local_alice"
    # `@bob` names the local account USR:local_bob (docs/compatibility.md, "Unreads and pings")
    assert mine["message"]["pings"] == {"users": ["USR:local_bob"], "roles": [], "replies": []}
    await server.restart()
    carol = await server.user("carol")
    await carol.send("messages_get", channel="general")
    hist = await carol.expect("messages_get", channel="general")
    assert [m["content"] for m in hist["messages"]] == ["hello @bob"]
    assert "pings" not in hist["messages"][0]
