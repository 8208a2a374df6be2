"""The crosswalk's tables, and the engine they live in (SQLAlchemy Core: SQLite by default, PostgreSQL via
`crosswalk_url` or `shared_database_url`).

Per record of the source, what each table keeps and why:
- `xwalk`: one row per written record (stream, source_key): its Pipedrive id, last action and payload hash -
  the upsert (an unchanged record costs no request) and every later update and rollback need it.
- `changes`: one row per write: before-image of every field it overwrote (rollback puts it back),
  after-image of what it wrote (verify compares it, reports name it), the xwalk row it replaced.
- `intents`: the write-ahead log (write/recovery.py): a row only while a write is in flight.
- `pending`: records held back for a parent, or spooled when a run had to stop (the record itself: the
  next run sends it without reading the source again).
- `audit`: failures, warnings, skips and plan results, with error codes (the report reads it).
- `sources`: one row per source (Cliniko) record ever received and what became of it (the whole
  migration's reconciliation; what verify checks Cliniko against).
- `runs`, `rollback_steps`, `budget`: run bookkeeping, rollback progress, tokens spent per day.
- `map_memory`: the map's memory, one row per value (memory.py): per remembered record the few fields the
  map looks up (`table:patients` etc.), per patient the rollup parts (each invoice's figures, each
  communication) and the last person record a rollup re-emits, and the records that wait for a row. Rows,
  not one blob, so a run reads only what it needs and a checkpoint writes only what changed.
- `kv`: small named values (the epoch, the last STATE relayed, the company).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from target_pipedrive.crosswalk.dbschema import ensure_schema

metadata = MetaData()

xwalk = Table(
    "xwalk", metadata,
    Column("stream", String(64), primary_key=True),
    Column("source_key", String(255), primary_key=True),
    Column("pipedrive_id", Integer, nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("first_run_id", String(64), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
changes = Table(
    "changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("stream", String(64), nullable=False),
    Column("source_key", String(255), nullable=False),
    Column("pipedrive_id", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # created | updated | matched
    Column("before_image", JSON),
    Column("after_image", JSON),
    Column("prev_xwalk", JSON),
    Column("at", String(32), nullable=False),
)
# a record's history, read before a rollup's PATCH and a file's rename; created on older crosswalks too
CHANGES_BY_KEY = Index("ix_changes_stream_source_key", changes.c.stream, changes.c.source_key)
intents = Table(
    "intents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("stream", String(64), nullable=False),
    Column("source_key", String(255), nullable=False),
    Column("op", String(16), nullable=False),  # create | update
    Column("pipedrive_id", Integer),
    Column("payload_hash", String(64), nullable=False),
    Column("lookup", JSON),
    Column("before_image", JSON),
    Column("started_at", String(32), nullable=False),
)
pending = Table(
    "pending", metadata,
    Column("stream", String(64), primary_key=True),
    Column("source_key", String(255), primary_key=True),
    Column("seq", Integer, nullable=False, index=True),
    Column("record", Text, nullable=False),
    Column("waiting_for", String(320), index=True),
    Column("reason", String(32), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("at", String(32), nullable=False),
)
audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("stream", String(64), nullable=False),
    Column("source_key", String(255), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # failed | held | warning | planned | rolled_back
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("action", String(16)),
    Column("pipedrive_id", Integer),
    Column("at", String(32), nullable=False),
)
runs = Table(
    "runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # plan | setup | sample | migration | delta | rollback (| apply)
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("status", String(16), nullable=False),
    Column("summary", JSON),
)
rollback_steps = Table(
    "rollback_steps", metadata,
    Column("change_id", Integer, primary_key=True),
    Column("rollback_run_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # done | refused
    Column("message", Text, nullable=False),
    Column("at", String(32), nullable=False),
)
sources = Table(
    "sources", metadata,
    Column("stream", String(64), primary_key=True),
    Column("source_key", String(255), primary_key=True),
    Column("status", String(16), nullable=False),  # migrated | skipped | failed | held | deferred | waiting
    Column("run_id", String(64), nullable=False, index=True),
    Column("at", String(32), nullable=False),
)
map_memory = Table(
    "map_memory", metadata,
    Column("space", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", JSON, nullable=False),
)
kv = Table(  # small named values that must survive between runs
    "kv", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON),
    Column("updated_at", String(32), nullable=False),
)
budget = Table(
    "budget", metadata,
    Column("day", String(10), primary_key=True),
    Column("tokens", Integer, nullable=False),
)


# keys of the kv table
EPOCH_KEY = "epoch"
COMPANY_KEY = "pipedrive_company_id"  # the company this crosswalk's ids belong to
COMPANY_DOMAIN_KEY = "pipedrive_company_domain"  # its web address (<domain>.pipedrive.com), for the reports
# runs that wrote to Pipedrive ("apply": one whose input never said what it was, e.g. contract records)
WRITE_KINDS = ("apply", "setup", "sample", "migration", "delta")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def open_engine(url: str) -> Engine:
    """The engine of a crosswalk URL: a SQLite file created owner-only in WAL mode, or a PostgreSQL schema."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        directory = os.path.dirname(os.path.abspath(parsed.database))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # patient data and before-images: owner-only; SQLite gives -wal/-shm the same mode
        os.close(os.open(parsed.database, os.O_CREAT | os.O_RDWR, 0o600))
    engine = create_engine(url, future=True)
    if parsed.get_backend_name() == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives any crash of the process (SIGKILL included); only a
            # power cut can lose the last commits, and the Cliniko ID marker finds those objects again.
            # FULL would fsync every commit: two per record, the ceiling of the whole target.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
    elif parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", ensure_schema)  # crosswalk_schema's schema, created on first use
    return engine


def unavailable(url: str, exc: OperationalError | ProgrammingError) -> str:
    """One sentence: where (password and query hidden: a password may be passed there) and the driver's
    reason (libpq's never quotes the password)."""
    where = make_url(url).set(query={}).render_as_string(hide_password=True)
    reason = " ".join(str(exc.orig or exc).split()).rstrip(".")
    return f"crosswalk_url: cannot open the crosswalk database {where} ({reason})."
