"""The `import` subcommand's arguments and its entry point (originchats/cli.py only wires it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import attrs

from ..config import ConfigError, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import an original OriginChats server's db/ folder into the store",
                       description="Read the original server's db/ folder (and its config.json) into this "
                                   "server's store. See docs/import.md.")
    p.add_argument("path", help="the original server's db/ folder")
    p.add_argument("--config", required=True, help="path to the TOML configuration (as for `serve`)")
    p.add_argument("--data-dir", help="data directory (overrides storage.data_dir)")
    p.add_argument("--source-config", help="the original's config.json (default: config.json beside PATH, if any)")
    p.add_argument("--dry-run", action="store_true", help="print the counts and the problems; write nothing")
    p.add_argument("--merge", action="store_true", help="import into a store that already has data "
                                                        "(what is in the store wins)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .run import run_import

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"originchats: {exc}", file=sys.stderr)
        return 2
    if args.data_dir:
        config = attrs.evolve(config, storage=attrs.evolve(config.storage, data_dir=args.data_dir))
    return run_import(Path(args.path), config, source_config=Path(args.source_config) if args.source_config else None,
                      dry_run=args.dry_run, merge=args.merge)
