"""Command handlers, one module per family. Importing this package registers them all."""

from . import auth, messages, moderation, modlog, operator, session, users  # noqa: F401
