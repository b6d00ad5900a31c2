"""The pure core: state, commands and handlers with no I/O.

Nothing in this package may import trio, sqlite3, the network, the clock, uuid/random, or
`originchats.server` / `originchats.store`. `tests/test_architecture.py` enforces it.
"""
