"""Settings: the JSON schema Meltano and `--about` show, and the typed view the code uses.

The names follow DESIGN.md (`api_token`, `base_url`, `map`, `crosswalk_url`, `mode`,
`fallback_user_email`, `rate_limit_burst`, `daily_token_budget`); the rest are ours.
Plan tiers give the defaults for burst and budget (research notes §12).
"""

from __future__ import annotations

import ipaddress
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from singer_sdk import typing as th

from target_pipedrive.crosswalk.dbschema import is_postgres, place, schema_problem

DEFAULT_BASE_URL = "https://api.pipedrive.com"
DEFAULT_CROSSWALK_URL = "sqlite:///output/crosswalk.sqlite"
DEFAULT_CROSSWALK_SCHEMA = "crosswalk"
DEFAULT_MAP_OUTPUT_DIR = "output/map"
BASE_DAILY_TOKENS = 30_000
# The top tier allows 60 requests/s; at 150-250 ms a request, that needs 9-15 in flight (the pacer caps the rate)
WRITES_IN_FLIGHT = 16
# plan tier -> (API-token burst per 2 s, daily budget multiplier)
PLAN_TIERS: dict[str, tuple[int, int]] = {"lite": (20, 1), "growth": (40, 2), "premium": (100, 5), "ultimate": (120, 7)}

CONFIG_SCHEMA = th.PropertiesList(
    th.Property("api_token", th.StringType, required=True, secret=True,
                description="Pipedrive personal API token (sent as the x-api-token header)."),
    th.Property("base_url", th.StringType, default=DEFAULT_BASE_URL,
                description="https://<company>.pipedrive.com, https://api.pipedrive.com or a loopback sandbox URL."),
    th.Property("map", th.StringType,
                description="Cliniko->Pipedrive map applied inline to Cliniko streams (default: the packaged map of "
                            "the cliniko_map package). Contract streams (persons, ...) are loaded unmapped."),
    th.Property("map_output_dir", th.StringType, default=DEFAULT_MAP_OUTPUT_DIR,
                description="Folder for the files the map generates (per-patient communication CSVs, "
                            "workflow-reference.json); relative to the working directory."),
    th.Property("crosswalk_url", th.StringType, default=DEFAULT_CROSSWALK_URL,
                description="SQLAlchemy URL of the crosswalk database (relative SQLite paths are resolved from the "
                            "working directory)."),
    th.Property("shared_database_url", th.StringType, secret=True,
                description="A PostgreSQL database shared with Meltano's system database (meltano.yml sets it to "
                            "$MELTANO_DATABASE_URI): when it is PostgreSQL the crosswalk lives there, in schema "
                            "crosswalk_schema, instead of at crosswalk_url; any other value is ignored."),
    th.Property("crosswalk_schema", th.StringType, default=DEFAULT_CROSSWALK_SCHEMA,
                description="The crosswalk's schema in shared_database_url (created on first use): one per clinic."),
    th.Property("mode", th.StringType, default="apply", allowed_values=["plan", "apply"],
                description="plan: compute creates/updates/skips and tokens, write nothing; apply: write."),
    th.Property("fallback_user_email", th.StringType,
                description="Pipedrive user to own records whose owner_email matches no user."),
    th.Property("plan_tier", th.StringType, default="lite", allowed_values=list(PLAN_TIERS),
                description="Pipedrive plan; sets the defaults of rate_limit_burst and daily_token_budget."),
    th.Property("seats", th.IntegerType, default=1, description="Paid seats (the daily budget scales with them)."),
    th.Property("rate_limit_burst", th.IntegerType,
                description="Max requests per rolling 2 s window (default: the plan tier's API-token limit)."),
    th.Property("daily_token_budget", th.IntegerType,
                description="Max tokens this target may spend per budget day (default: 30,000 x tier multiplier x "
                            "seats)."),
    th.Property("budget_timezone", th.StringType, default="UTC",
                description="Timezone of the Pipedrive server's midnight, when the company's daily token budget "
                            "resets (an IANA name such as Europe/Dublin or America/New_York; Company settings > API "
                            "usage shows when yours resets)."),
    th.Property("plan_start", th.StringType,
                description="When the migration will start, for the plan's finish times (ISO 8601, e.g. "
                            "2026-12-07T08:00; without an offset it is read in budget_timezone; default: now)."),
    th.Property("budget_reserve_tokens", th.IntegerType, default=0,
                description="Stop when Pipedrive reports fewer daily tokens left than this (room for other apps)."),
    th.Property("external_id_field", th.StringType, default="Cliniko ID",
                description="Label of the varchar custom field on persons and products holding the source key."),
    th.Property("ignore_unknown_streams", th.BooleanType, default=False,
                description="Skip streams outside the input contract instead of stopping with an error."),
    th.Property("max_file_size_mb", th.NumberType, default=50,
                description="Files larger than this are reported as failed (file_too_large), never dropped "
                            "silently."),
    th.Property("request_timeout_s", th.NumberType, default=60, description="Timeout of one HTTP request."),
    th.Property("max_retries", th.IntegerType, default=8,
                description="Retries of one request on 5xx, timeouts and dropped connections."),
    th.Property("max_writes_in_flight", th.IntegerType, default=WRITES_IN_FLIGHT,
                description="Pipedrive requests kept in flight at once (the burst pacer still caps the rate); "
                            "1 writes one record at a time. Plan mode is always sequential."),
    th.Property("state_interval_s", th.NumberType, default=30,
                description="At most one STATE relayed to Meltano per this many seconds (each relay waits for the "
                            "writes in flight and saves the map's memory); the last one is always relayed."),
    th.Property("checkpoint_records", th.IntegerType, default=10000,
                description="At most this many Cliniko records (or changes to the map's memory) between two saves "
                            "of the map's memory and of the records' statuses (each waits for the writes in flight), "
                            "however fast they arrive: what a checkpoint writes, and what the target holds meanwhile, "
                            "stay bounded."),
    th.Property("progress_interval_s", th.NumberType, default=10,
                description="Seconds between progress lines on stderr (0 disables them)."),
    th.Property("cliniko_api_key", th.StringType, secret=True,
                description="For verify only: a Cliniko API key to count what Cliniko holds (default: the "
                            "TAP_CLINIKO_API_KEY environment variable)."),
    th.Property("cliniko_user_agent", th.StringType,
                description="For verify only: the User-Agent sent to Cliniko (default: TAP_CLINIKO_USER_AGENT)."),
    th.Property("cliniko_base_url", th.StringType,
                description="For verify only: Cliniko's API base URL (default: TAP_CLINIKO_BASE_URL, else the key's "
                            "shard)."),
).to_dict()


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str) -> str | None:
    """One sentence saying why `url` is refused, or None when it is acceptable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}."
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return ("base_url must use https:// (plain http is only allowed for a sandbox on a loopback address "
                "such as http://127.0.0.1:8080).")
    return None


SQLITE_MAGIC = b"SQLite format 3\x00"
CROSSWALK_TABLES = {"xwalk", "runs", "audit"}


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def folder_problem(folder: str, setting: str) -> str | None:
    """Why files cannot be written in `folder` (created if missing), checked before anything is written."""
    found = _nearest_existing(Path(folder))
    if not found.is_dir():
        return f"{setting} {folder} cannot be a folder: {found} is a file."
    if not os.access(found, os.W_OK | os.X_OK):
        return f"{setting} {folder} is not writable ({found} is read-only): choose a folder this user can write."
    return None


def crosswalk_problem(url: str) -> str | None:
    """Why `crosswalk_url` cannot hold this migration's crosswalk: unknown database type, a file that is
    not SQLite, or a SQLite database of something else (its tables would be mixed with ours)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return "crosswalk_url must be a SQLAlchemy database URL such as sqlite:///output/crosswalk.sqlite."
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return (f"crosswalk_url needs the Python driver {exc.name or parsed.get_driver_name()} for "
                f"{parsed.get_backend_name()}: install it next to target-pipedrive.")
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = Path(parsed.database)
    if not path.exists():
        return folder_problem(str(path.parent), "crosswalk_url's folder")
    if path.is_dir():
        return f"crosswalk_url points at the folder {path}: give a file name, e.g. {path}/crosswalk.sqlite."
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        return f"crosswalk_url {path} cannot be read ({exc.strerror})."
    if head and head != SQLITE_MAGIC:
        return f"crosswalk_url {path} is not a SQLite database (the file is corrupt or something else)."
    if not head:
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        return f"crosswalk_url {path} is not a readable SQLite database (the file is corrupt)."
    if tables and not CROSSWALK_TABLES <= tables:
        return (f"crosswalk_url {path} is a database of something else, not a target-pipedrive crosswalk: "
                "point it at a new file or at this migration's crosswalk.")
    return None


def timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return (f"budget_timezone {name!r} is not a known timezone name (e.g. UTC, Europe/Dublin, "
                "America/New_York).")
    return None


def start_problem(value: Any, timezone: str) -> str | None:
    if not value:
        return None
    try:
        start_time(str(value), timezone)
    except ValueError:
        return f"plan_start {str(value)[:40]!r} is not an ISO 8601 date and time (e.g. 2026-12-07T08:00)."
    return None


def start_time(value: str | None, timezone: str) -> datetime:
    """`plan_start` (or now) as an aware time in the server's timezone."""
    tz = ZoneInfo(timezone)
    if not value:
        return datetime.now(tz)
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def api_root(url: str) -> str:
    """The scheme://host[:port] part; tolerates a pasted /api/v2, /api/v1 or /v1 suffix."""
    root = url.rstrip("/")
    for suffix in ("/api/v2", "/api/v1", "/v1"):
        if root.endswith(suffix):
            root = root[: -len(suffix)]
    return root


@dataclass(frozen=True)
class Settings:
    api_token: str
    base_url: str = DEFAULT_BASE_URL
    crosswalk_url: str = DEFAULT_CROSSWALK_URL
    mode: str = "apply"
    fallback_user_email: str | None = None
    rate_limit_burst: int = PLAN_TIERS["lite"][0]
    daily_token_budget: int = BASE_DAILY_TOKENS
    budget_reserve_tokens: int = 0
    seats: int = 1
    budget_timezone: str = "UTC"
    plan_start: str | None = None
    external_id_field: str = "Cliniko ID"
    ignore_unknown_streams: bool = False
    max_file_size_bytes: int = 50 * 1024 * 1024
    request_timeout_s: float = 60.0
    max_retries: int = 8
    progress_interval_s: float = 10.0
    max_writes_in_flight: int = WRITES_IN_FLIGHT
    state_interval_s: float = 30.0
    checkpoint_records: int = 10_000
    map_path: str | None = None
    map_output_dir: str = DEFAULT_MAP_OUTPUT_DIR

    @property
    def dry_run(self) -> bool:
        return self.mode == "plan"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        """Typed settings with tier-derived defaults; raises ValueError with one sentence."""
        token = config.get("api_token")
        if not token:
            raise ValueError("api_token is required.")
        base_url = str(config.get("base_url") or DEFAULT_BASE_URL)
        problem = base_url_problem(base_url)
        if problem:
            raise ValueError(problem)
        mode = str(config.get("mode") or "apply")
        if mode not in ("plan", "apply"):
            raise ValueError("mode must be 'plan' or 'apply'.")
        tier = str(config.get("plan_tier") or "lite").lower()
        if tier not in PLAN_TIERS:
            raise ValueError(f"plan_tier must be one of {', '.join(PLAN_TIERS)}.")
        burst, multiplier = PLAN_TIERS[tier]
        seats = int(config.get("seats") or 1)
        timezone = str(config.get("budget_timezone") or "UTC")
        problem = timezone_problem(timezone) or start_problem(config.get("plan_start"), timezone)
        if problem:
            raise ValueError(problem)
        crosswalk_url = str(config.get("crosswalk_url") or DEFAULT_CROSSWALK_URL)
        shared = str(config.get("shared_database_url") or "")
        if is_postgres(shared):  # Meltano's system database in PostgreSQL: the crosswalk goes beside it
            schema = str(config.get("crosswalk_schema") or DEFAULT_CROSSWALK_SCHEMA)
            problem = schema_problem(schema)
            if problem:
                raise ValueError(problem)
            crosswalk_url = place(shared, schema)
        problem = crosswalk_problem(crosswalk_url)
        if problem:
            raise ValueError(problem)
        map_output_dir = str(config.get("map_output_dir") or DEFAULT_MAP_OUTPUT_DIR)
        problem = folder_problem(map_output_dir, "map_output_dir")
        if problem:
            raise ValueError(problem)
        return cls(
            api_token=str(token),
            base_url=api_root(base_url),
            crosswalk_url=crosswalk_url,
            mode=mode,
            fallback_user_email=config.get("fallback_user_email") or None,
            rate_limit_burst=int(config.get("rate_limit_burst") or burst),
            daily_token_budget=int(config.get("daily_token_budget") or BASE_DAILY_TOKENS * multiplier * seats),
            budget_reserve_tokens=int(config.get("budget_reserve_tokens") or 0),
            seats=seats,
            budget_timezone=timezone,
            plan_start=str(config["plan_start"]) if config.get("plan_start") else None,
            external_id_field=str(config.get("external_id_field") or "Cliniko ID"),
            ignore_unknown_streams=bool(config.get("ignore_unknown_streams", False)),
            max_file_size_bytes=int(float(config.get("max_file_size_mb") or 50) * 1024 * 1024),
            request_timeout_s=float(config.get("request_timeout_s") or 60),
            max_retries=int(config.get("max_retries") if config.get("max_retries") is not None else 8),
            max_writes_in_flight=max(1, int(config.get("max_writes_in_flight") or WRITES_IN_FLIGHT)),
            state_interval_s=float(config["state_interval_s"]) if config.get("state_interval_s") is not None
            else 30.0,
            checkpoint_records=max(1, int(config.get("checkpoint_records") or 10_000)),
            progress_interval_s=float(config["progress_interval_s"]) if config.get("progress_interval_s")
            is not None else 10.0,
            map_path=str(config["map"]) if config.get("map") else None,
            map_output_dir=map_output_dir,
        )
