"""welcome: greets a user in a channel, as the plugin account, when they log in.

Copy this file into `<data_dir>/plugins/`. Settings in `welcome_config.json` beside it: `enabled`,
`welcome_channel`, `welcome_message` (`{username}` is replaced), `first_time_only` (greet each
account once; the ids greeted are kept in `welcome_greeted.json`).

The server's own welcome (`[welcome]` in config.toml) already greets each new account, in the same
transaction as the account; turn it off (`[welcome] enabled = false`) if you use this plugin
instead. The message goes through the plugin account (`[plugins] account`), so it reaches only
those who can view the channel, and the account needs to be allowed to send there.
"""

from __future__ import annotations

DEFAULTS = {
    "enabled": True,
    "welcome_channel": "general",
    "welcome_message": "Welcome {username}! Thanks for joining the server.",
    "first_time_only": True,
}
GREETED = "welcome_greeted.json"


def getInfo():
    return {"name": "Welcome", "description": "Greets users when they join.", "handles": ["user_join"]}


def on_user_join(api, data):
    config = api.load_config(DEFAULTS)
    if not config["enabled"]:
        return
    greeted = api.load_config({"users": []}, GREETED)
    if config["first_time_only"] and data["user_id"] in greeted["users"]:
        return
    api.send_message(config["welcome_channel"], config["welcome_message"].replace("{username}", data["username"]))
    if config["first_time_only"]:
        api.save_config({"users": [*greeted["users"], data["user_id"]]}, GREETED)
