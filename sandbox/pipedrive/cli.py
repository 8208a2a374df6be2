"""Pipedrive API emulator (v2 persons/activities/products/fields, v1 notes/files/users/activityTypes).

Used by `python -m sandbox pipedrive [--db PATH] [--plan growth] [--api-token TOKEN] ...`.
"""

from __future__ import annotations

import argparse

from sandbox.common.http import App
from sandbox.common.store import DocStore
from sandbox.pipedrive.app import PipedriveApp
from sandbox.pipedrive.config import DEFAULT_TOKEN, PLANS, Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=":memory:", help="SQLite file to keep the account in (default: in memory)")
    parser.add_argument("--plan", default="growth", choices=sorted(PLANS),
                        help="plan tier: sets the burst limit and the daily token budget (default: growth)")
    parser.add_argument("--seats", type=int, default=1, help="paid seats; the daily budget scales with them")
    parser.add_argument("--api-token", default=DEFAULT_TOKEN,
                        help=f"API token the owner uses (default: {DEFAULT_TOKEN})")
    parser.add_argument("--seed-value", default=None,
                        help="seed for custom field keys and option ids (default: random per new database)")
    parser.add_argument("--burst-limit", type=int, default=None, help="override: requests per 2 s per token")
    parser.add_argument("--search-burst-limit", type=int, default=None, help="override: searches per 2 s (10)")
    parser.add_argument("--daily-budget", type=int, default=None, help="override: tokens per day (0 = unlimited)")
    parser.add_argument("--no-limits", action="store_true", help="turn burst windows and the daily budget off")
    parser.add_argument("--max-upload-mb", type=int, default=None, help="largest accepted file upload (default 50)")


def create_app(args: argparse.Namespace) -> App:
    if args.seats < 1:
        raise ValueError("--seats must be at least 1")
    for name in ("burst_limit", "search_burst_limit", "daily_budget", "max_upload_mb"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ValueError(f"--{name.replace('_', '-')} must not be negative")
    if args.no_limits:
        config = Config.unlimited()
    else:
        config = Config.for_plan(args.plan, args.seats, burst_limit=args.burst_limit,
                                 search_burst_limit=args.search_burst_limit, daily_budget=args.daily_budget)
    if args.max_upload_mb is not None:
        config.max_upload_bytes = args.max_upload_mb * 1024 * 1024
    if not args.api_token:
        raise ValueError("--api-token must not be empty")
    return PipedriveApp(DocStore(args.db), config, api_token=args.api_token, seed_value=args.seed_value)
