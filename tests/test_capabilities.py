"""The handshake's `capabilities` lists exactly the commands this server handles."""

from originchats.config.sections import AttachmentsSection
from originchats.core.dispatch import HANDLERS

NOT_COMMANDS = ["events", "pong", "chat_message"]
# listed, as the original lists it, though uploads are `POST /attachments/upload`: the official
# client offers its own upload button only when the handshake names it
HTTP_ONLY = ["attachment_upload"]


def unknown(packets):
    return [p for p in packets if p.get("cmd") == "error" and str(p.get("val", "")).startswith("Unknown command")]


async def test_every_listed_command_is_handled(server):
    caps = (await server.connect()).handshake["val"]["capabilities"]
    assert set(caps) == set(HANDLERS) | {"auth", "login", "register"} | set(HTTP_ONLY)
    assert {"logout", "password_change"} <= set(caps)
    client = await server.owner("capcheck")
    for name in caps:
        if name in ("auth", "login", "register", "user_leave", "user_delete", "logout", *HTTP_ONLY):
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


async def test_attachment_upload_is_listed_only_while_attachments_are_enabled(server, make_server):
    client = await server.user("capcheck3")
    assert "attachment_upload" in client.handshake["val"]["capabilities"]
    await client.send("attachment_upload")  # the WebSocket command itself stays unknown, as in the original
    await client.expect_error("Unknown command: attachment_upload", src="attachment_upload")
    off = await make_server(attachments=AttachmentsSection(enabled=False))
    caps = (await off.connect()).handshake["val"]["capabilities"]
    assert "attachment_upload" not in caps and "attachment_get" in caps
