"""Cliniko API emulator: `python -m sandbox cliniko [--seed small|standard|large|none] ...`.

Default API key: sandbox-cliniko-key-au1 (send it as the Basic username, empty password,
with or without the -au1 suffix) and a User-Agent like `MyApp (me@example.com)`.
`python -m sandbox cliniko change ...` changes the data of a running one (see change.py).
"""

from __future__ import annotations

import argparse
import sys

from sandbox.cliniko import change
from sandbox.cliniko.app import ClinikoApp, Config
from sandbox.cliniko.auth import DEFAULT_API_KEY
from sandbox.common.http import App
from sandbox.generator import SIZES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", action="append", dest="api_keys", metavar="KEY",
                        help=f"accepted API key (repeatable; default {DEFAULT_API_KEY})")
    parser.add_argument("--db", default=":memory:", metavar="PATH", help="SQLite file (default: in memory)")
    parser.add_argument("--seed", default="small", choices=[*SIZES, "none"],
                        help="clinic to generate at start (none = empty account)")
    parser.add_argument("--seed-value", type=int, default=42, help="random seed of the generated clinic")
    parser.add_argument("--keep-data", action="store_true",
                        help="with --db: keep the data already in the file instead of regenerating")
    parser.add_argument("--rate-limit-per-minute", type=int, default=200, help="per key; 0 = off")
    parser.add_argument("--no-require-user-agent", action="store_true",
                        help="accept requests without a User-Agent naming a contact email")
    parser.add_argument("--storage-host", default=None,
                        help="host name for attachment download URLs (default: the other loopback name)")


def add_commands(parser: argparse.ArgumentParser) -> None:
    """Commands that talk to a running sandbox instead of starting one."""
    commands = parser.add_subparsers(dest="command", title="commands",
                                     description="without a command the sandbox starts; with one it talks to a "
                                                 "running sandbox")
    change.add_parser(commands)


def create_app(args: argparse.Namespace) -> App:
    if args.rate_limit_per_minute < 0:
        raise ValueError("--rate-limit-per-minute must be >= 0")
    config = Config(
        api_keys=args.api_keys or [DEFAULT_API_KEY], require_user_agent=not args.no_require_user_agent,
        rate_limit_per_minute=args.rate_limit_per_minute, db_path=args.db, size=args.seed, seed=args.seed_value,
        storage_host=args.storage_host, reseed=not args.keep_data,
    )
    app = ClinikoApp(config)
    summary = app.state.summary()
    print(f"cliniko sandbox: clinic size={summary.get('size')} seed={summary.get('seed')}, "
          f"keys={', '.join(config.api_keys)}", file=sys.stderr, flush=True)
    return app
