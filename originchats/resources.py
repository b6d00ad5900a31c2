"""The data files the server reads at run time: the SQL migrations and the commented config.toml.

There is one copy of each in the repository, at its top level (`migrations/`, `config.toml`). A
wheel carries them as package data under `originchats/_bundled/`, copied there at build time (setup.py
for wheels and pipx, scripts/build-binary for the single-file binary); a checkout or an editable
install has no such copy and reads the top-level files, so a new migration is picked up at once.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable
from pathlib import Path

BUNDLED = "_bundled"
_CHECKOUT = Path(__file__).resolve().parent.parent  # the repository root, when run from a checkout


def data_file(name: str) -> Traversable:
    """`name` ("migrations" or "config.toml") as packaged, else from the checkout. When neither
    exists the packaged location is returned, so that the error that follows names it."""
    packaged = importlib.resources.files(__package__) / BUNDLED / name
    if packaged.is_dir() or packaged.is_file():
        return packaged
    in_checkout = _CHECKOUT / name
    if in_checkout.exists():
        return in_checkout
    return packaged
