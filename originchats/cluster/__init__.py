"""Scale-out (issue 12): a core and WebSocket gateways on several machines, Redis between them.

`--role all` (the default) is the whole server in one process and uses nothing from here. With
`--role core` the usual server also serves clients held by gateways (core.py); `--role gateway`
holds connections and passes their commands to the core (gateway.py). wire.py is the format of what
crosses Redis, redis_link.py the connection to it. docs/deploy.md, "Scale-out", shows a layout.
"""
