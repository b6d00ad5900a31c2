"""Command handlers, one module per family. Importing this package registers them all."""

from . import account, auth, channels, messages, moderation, modlog, operator, roles, session, users  # noqa: F401
