"""Every text the server sends a client as an error, a refusal or a reason: the one catalogue.

Constants for fixed texts, small functions for texts with a value in them. Handlers raise
`ProtocolError(texts.X)` / `AuthError(texts.X)`; nothing in the core or the shell writes an error
text inline (tests/test_texts.py scans the code for that, checks that every entry here is used, and
that each text the protocol documents (README §7, §9) is spelled exactly as there).
"""

from __future__ import annotations

# ---- frames that are not requests (protocol/codec.py) -----------------------------------------

INVALID_JSON = "Invalid JSON"
NOT_AN_OBJECT = "Invalid message format: expected a JSON object"
CMD_NOT_A_STRING = "Invalid field 'cmd': expected string"
