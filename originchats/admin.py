"""`originchats admin …`: operator commands on the data directory (see docs)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    admin = sub.add_parser("admin", help="operator commands on the data directory")
    admin.set_defaults(func=lambda args: admin.print_help() or 2)
