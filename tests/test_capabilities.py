"""The handshake's `capabilities` lists exactly the commands this server handles."""

from originchats.core.dispatch import HANDLERS

NOT_COMMANDS = ["events", "pong", "attachment_upload", "chat_message"]


def unknown(packets):
    return [p for p in packets if p.get("cmd") == "error" and str(p.get("val", "")).startswith("Unknown command")]


async def test_every_listed_command_is_handled(server):
    caps = (await server.connect()).handshake["val"]["capabilities"]
    assert set(caps) == set(HANDLERS) | {"auth", "login", "register"}
    assert {"logout", "password_change"} <= set(caps)
    client = await server.owner("capcheck")
    for name in caps:
        if name in ("auth", "login", "register", "user_leave", "user_delete", "logout"):
            continue  # auth commands are checked below; the account (and socket) must survive the loop
        await client.send(name)
        packets = await client.drain()
        assert not unknown(packets), (name, packets)
    await client.send("logout")
    assert await client.recv() == {"cmd": "logout", "val": "Logged out"}
    # the auth commands are handled before authentication
    fresh = await server.connect()
    for name in ("auth", "login", "register"):
        await fresh.send(name)
        reply = await fresh.recv()
        assert reply["cmd"] == "auth_error" and reply["val"] != "Authentication required", (name, reply)


async def test_names_not_listed_are_unknown(server):
    client = await server.user("capcheck2")
    caps = client.handshake["val"]["capabilities"]
    for name in NOT_COMMANDS:
        assert name not in caps
        await client.send(name)
        await client.expect_error(f"Unknown command: {name}", src=name)


def test_rotur_mode_does_not_advertise_local_accounts():
    from originchats.core.dispatch import capabilities
    from originchats.core.settings import Settings
    from originchats.core.state import ServerState

    rotur = capabilities(ServerState(settings=Settings(auth_mode="rotur")))
    assert "auth" in rotur and "login" not in rotur and "register" not in rotur
    only = capabilities(ServerState(settings=Settings(auth_mode="cracked-only")))
    assert "auth" not in only and "login" in only
