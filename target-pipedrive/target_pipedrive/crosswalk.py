"""The crosswalk database: source key -> Pipedrive id, with the history needed to undo it.

Tables (SQLAlchemy Core, so SQLite by default and Postgres via `crosswalk_url`):
- `xwalk`: one row per (stream, source_key): Pipedrive id, last action, payload hash, run.
- `changes`: one row per write to Pipedrive: before-image of every field overwritten,
  after-image of what was written, and the crosswalk row it replaced (for rollback).
- `intents`: the write-ahead log (see recovery.py); a row exists only while a write is
  in flight, committed before the request is sent.
- `pending`: records held back for a parent, or spooled when the run had to stop.
- `audit`: failures, warnings and plan results, with error codes.
- `sources`: one row per source (Cliniko) record ever received: what became of it, by
  which run. The whole migration's reconciliation, and what `verify` checks Cliniko against.
- `runs`, `rollback_steps`, `budget`: run bookkeeping, rollback progress, tokens per day.
- `kv`: small named values (the map's memory, the epoch, the last STATE relayed).

Every method commits before it returns: the caller may be SIGKILLed right after.

The per-record statements (mapping lookups, intents, commits, audit rows) run on one DBAPI
connection with SQL that SQLAlchemy compiled once for the engine's dialect: its per-execute
machinery cost ten times the SQLite statements themselves. Everything else goes through
SQLAlchemy as usual.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from target_pipedrive.dbschema import ensure_schema
from target_pipedrive.errors import TargetError

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
kv = Table(  # small named values that must survive between runs (e.g. the map's memory)
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


# The per-record statements, built once. Parameters: s = stream, k = source key.
_BY_KEY = and_(xwalk.c.stream == bindparam("s"), xwalk.c.source_key == bindparam("k"))
GET_MAPPING = select(xwalk).where(_BY_KEY)
UPDATE_MAPPING = update(xwalk).where(_BY_KEY).values(
    pipedrive_id=bindparam("v_pid"), action=bindparam("v_action"), payload_hash=bindparam("v_hash"),
    run_id=bindparam("v_run"), updated_at=bindparam("v_at"))
TOUCH_MAPPING = update(xwalk).where(_BY_KEY).values(payload_hash=bindparam("v_hash"), updated_at=bindparam("v_at"))
GET_INTENT = select(intents).where(and_(intents.c.stream == bindparam("s"), intents.c.source_key == bindparam("k")))
DELETE_INTENT = delete(intents).where(intents.c.id == bindparam("i"))
DELETE_PENDING = delete(pending).where(and_(pending.c.stream == bindparam("s"), pending.c.source_key == bindparam("k")))
XWALK_COLUMNS = tuple(c.name for c in xwalk.columns)
CHANGE_COLUMNS = tuple(c.name for c in changes.columns if c.name != "id")
INTENT_COLUMNS_WITH_ID = tuple(c.name for c in intents.columns)
INTENT_COLUMNS = INTENT_COLUMNS_WITH_ID[1:]
INTENT_JSON_COLUMNS = tuple(c.name for c in intents.columns if isinstance(c.type, JSON))
AUDIT_COLUMNS = tuple(c.name for c in audit.columns if c.name != "id")
JSON_COLUMNS = frozenset(c.name for t in (xwalk, changes, intents, audit) for c in t.columns
                         if isinstance(c.type, JSON))


class _Sql:
    """A statement compiled once for the engine's dialect, run on a DBAPI cursor."""

    def __init__(self, statement: Any, dialect: Any, column_keys: tuple[str, ...] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        self.sql = str(compiled)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.args: Callable[[dict[str, Any]], Any] = (
            (lambda values: values) if order is None
            else (lambda values, key=order[0]: (values[key],)) if len(order) == 1
            else itemgetter(*order))
        self.json = tuple(name for name in column_keys or () if name in JSON_COLUMNS)

    def run(self, cursor: Any, values: dict[str, Any]) -> Any:
        for name in self.json:
            values[name] = json.dumps(values[name])  # what SQLAlchemy's JSON type stores (None -> 'null')
        cursor.execute(self.sql, self.args(values))
        return cursor


class _Statements:
    def __init__(self, engine: Engine) -> None:
        d = engine.dialect
        # a new intent's id: SQLite's lastrowid, RETURNING elsewhere (Postgres has no lastrowid)
        self.returning = d.name != "sqlite" and bool(getattr(d, "insert_returning", False))
        insert_intent = insert(intents).returning(intents.c.id) if self.returning else insert(intents)
        self.get_mapping = _Sql(GET_MAPPING, d)
        self.insert_mapping = _Sql(insert(xwalk), d, XWALK_COLUMNS)
        self.update_mapping = _Sql(UPDATE_MAPPING, d)
        self.touch_mapping = _Sql(TOUCH_MAPPING, d)
        self.insert_change = _Sql(insert(changes), d, CHANGE_COLUMNS)
        self.get_intent = _Sql(GET_INTENT, d)
        self.insert_intent = _Sql(insert_intent, d, INTENT_COLUMNS)
        self.delete_intent = _Sql(DELETE_INTENT, d)
        self.delete_pending = _Sql(DELETE_PENDING, d)
        self.insert_audit = _Sql(insert(audit), d, AUDIT_COLUMNS)


EPOCH_KEY = "epoch"
# runs that wrote to Pipedrive ("apply": one whose input never said what it was, e.g. contract records)
WRITE_KINDS = ("apply", "setup", "sample", "migration", "delta")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _engine(url: str) -> Engine:
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


def _row(row: Any) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _raw_row(columns: tuple[str, ...], row: Any, json_columns: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """A DBAPI row as SQLAlchemy would return it: `json_columns` decoded (drivers that decode them already hand
    back dicts)."""
    if row is None:
        return None
    out = dict(zip(columns, row, strict=True))
    for name in json_columns:
        if isinstance(out[name], str):
            out[name] = json.loads(out[name])
    return out


class Crosswalk:
    def __init__(self, url: str) -> None:
        self.engine = _engine(url)
        try:
            metadata.create_all(self.engine)
        except (OperationalError, ProgrammingError) as exc:  # server down, wrong password, no such database,
            # no right to create the schema, ...
            self.engine.dispose()
            raise TargetError(unavailable(url, exc)) from None
        # writes read-then-write (the mapping a commit replaces): one at a time in this process, so
        # concurrent writers never interleave between the read and the write
        self._write_lock = threading.Lock()
        self._sql = _Statements(self.engine)
        self._dbapi: Any = None  # the per-record statements' connection, used under _write_lock
        self._reader: Any = None  # its cursor for single-row reads (SQLite only)
        self._sqlite = self.engine.dialect.name == "sqlite"

    def close(self) -> None:
        with self._write_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._dbapi is not None:
                self._dbapi.close()
                self._dbapi = None
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _connection(self) -> Any:
        """The per-record connection (called under _write_lock)."""
        if self._dbapi is None:
            self._dbapi = self.engine.raw_connection()  # from the pool: the pragmas are set
        return self._dbapi

    def _read_one(self, sql: _Sql, values: dict[str, Any]) -> Any:
        """One row of a read on the per-record connection. A SELECT opens no transaction in SQLite (so there is
        nothing to commit and its cursor is kept); elsewhere it does, and is ended like a write."""
        if not self._sqlite:
            with self._raw() as cur:
                return sql.run(cur, values).fetchone()
        with self._write_lock:
            if self._reader is None:
                self._reader = self._connection().cursor()
            return sql.run(self._reader, values).fetchone()

    @contextmanager
    def _raw(self) -> Iterator[Any]:
        """A cursor of the per-record connection: one transaction, committed on leaving (rolled back on error)."""
        with self._write_lock:
            conn = self._connection()
            cursor = conn.cursor()
            try:
                yield cursor
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cursor.close()

    # -- runs -------------------------------------------------------------------------------
    def start_run(self, kind: str, run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        with self._tx() as c:
            c.execute(insert(runs).values(run_id=run_id, kind=kind, started_at=now_iso(), status="running"))
        return run_id

    def set_run_kind(self, run_id: str, kind: str) -> None:
        """What a run turned out to be (the target knows only once the input starts: a migration reads
        Cliniko from the start, a delta from the bookmarks)."""
        with self._tx() as c:
            c.execute(update(runs).where(runs.c.run_id == run_id).values(kind=kind))

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute(update(runs).where(runs.c.run_id == run_id)
                      .values(finished_at=now_iso(), status=status, summary=summary))

    def runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(select(runs).order_by(runs.c.started_at))]

    # -- mapping ----------------------------------------------------------------------------
    def get(self, stream: str, source_key: str) -> dict[str, Any] | None:
        return _raw_row(XWALK_COLUMNS, self._read_one(self._sql.get_mapping, {"s": stream, "k": source_key}))

    def claimed_among(self, stream: str, ids: list[int]) -> set[int]:
        """Which of these Pipedrive ids are already mapped to a source record of the stream."""
        if not ids:
            return set()
        with self.engine.connect() as c:
            return {r[0] for r in c.execute(select(xwalk.c.pipedrive_id).where(
                and_(xwalk.c.stream == stream, xwalk.c.pipedrive_id.in_(ids))))}

    def all_mappings(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(select(xwalk).order_by(xwalk.c.stream, xwalk.c.source_key))]

    def commit_write(self, run_id: str, stream: str, source_key: str, pipedrive_id: int, action: str,
                     payload_hash: str, before_image: dict[str, Any] | None, after_image: dict[str, Any] | None,
                     intent_id: int | None = None) -> None:
        """Record a write Pipedrive confirmed: mapping, change history, and close its intent, atomically."""
        at = now_iso()
        sql = self._sql
        with self._raw() as cur:
            prev = _raw_row(XWALK_COLUMNS, sql.get_mapping.run(cur, {"s": stream, "k": source_key}).fetchone())
            if prev is None:
                sql.insert_mapping.run(cur, {"stream": stream, "source_key": source_key, "first_run_id": run_id,
                                             "pipedrive_id": pipedrive_id, "action": action,
                                             "payload_hash": payload_hash, "run_id": run_id, "updated_at": at})
            else:
                sql.update_mapping.run(cur, {"s": stream, "k": source_key, "v_pid": pipedrive_id, "v_action": action,
                                             "v_hash": payload_hash, "v_run": run_id, "v_at": at})
            sql.insert_change.run(cur, {"run_id": run_id, "stream": stream, "source_key": source_key,
                                        "pipedrive_id": pipedrive_id, "action": action, "before_image": before_image,
                                        "after_image": after_image, "prev_xwalk": prev, "at": at})
            if intent_id is not None:
                sql.delete_intent.run(cur, {"i": intent_id})
            sql.delete_pending.run(cur, {"s": stream, "k": source_key})

    def touch(self, run_id: str, stream: str, source_key: str, payload_hash: str) -> None:
        """The record changed but Pipedrive already holds its values: remember the new hash only."""
        with self._raw() as cur:
            self._sql.touch_mapping.run(cur, {"s": stream, "k": source_key, "v_hash": payload_hash, "v_at": now_iso()})
            self._sql.delete_pending.run(cur, {"s": stream, "k": source_key})

    def restore_mapping(self, stream: str, source_key: str, previous: dict[str, Any] | None) -> None:
        """Put back the crosswalk row a rolled-back change replaced (or remove it)."""
        with self._tx() as c:
            c.execute(delete(xwalk).where(and_(xwalk.c.stream == stream, xwalk.c.source_key == source_key)))
            if previous:
                c.execute(insert(xwalk).values(**previous))

    # -- write-ahead intents ------------------------------------------------------------------
    def begin_intent(self, run_id: str, stream: str, source_key: str, op: str, payload_hash: str,
                     lookup: dict[str, Any], before_image: dict[str, Any] | None = None,
                     pipedrive_id: int | None = None) -> tuple[int, dict[str, Any] | None]:
        """Write the intent before the request; returns (intent id, before-image to keep).

        An update intent left open by a crash already holds the true before-image (taken
        before the first PATCH), so its values win over a fresh read.
        """
        sql = self._sql
        with self._raw() as cur:
            old = _raw_row(INTENT_COLUMNS_WITH_ID, sql.get_intent.run(cur, {"s": stream, "k": source_key}).fetchone(),
                           INTENT_JSON_COLUMNS)
            if old is not None:
                if old["op"] == "update" and op == "update" and old["before_image"]:
                    before_image = _merge_before(old["before_image"], before_image or {})
                sql.delete_intent.run(cur, {"i": old["id"]})
            sql.insert_intent.run(cur, {
                "run_id": run_id, "stream": stream, "source_key": source_key, "op": op, "pipedrive_id": pipedrive_id,
                "payload_hash": payload_hash, "lookup": lookup, "before_image": before_image,
                "started_at": now_iso()})
            intent_id = cur.fetchone()[0] if sql.returning else cur.lastrowid
            return int(intent_id), before_image

    def open_intents(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(select(intents).order_by(intents.c.id))]

    def drop_intent(self, intent_id: int) -> None:
        with self._raw() as cur:
            self._sql.delete_intent.run(cur, {"i": intent_id})

    # -- pending records ------------------------------------------------------------------------
    def hold(self, run_id: str, stream: str, source_key: str, record: dict[str, Any], reason: str,
             waiting_for: str | None = None) -> None:
        with self._tx() as c:
            seq = (c.execute(select(func.max(pending.c.seq))).scalar() or 0) + 1
            c.execute(delete(pending).where(and_(pending.c.stream == stream, pending.c.source_key == source_key)))
            c.execute(insert(pending).values(stream=stream, source_key=source_key, seq=seq,
                                             record=json.dumps(record, default=str), waiting_for=waiting_for,
                                             reason=reason, run_id=run_id, at=now_iso()))

    def discard_pending(self, stream: str, source_key: str) -> None:
        with self._raw() as cur:
            self._sql.delete_pending.run(cur, {"s": stream, "k": source_key})

    def pending_rows(self, waiting_for: str | None = None) -> list[dict[str, Any]]:
        query = select(pending).order_by(pending.c.seq)
        if waiting_for is not None:
            query = query.where(pending.c.waiting_for == waiting_for)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(query)]
        for row in rows:
            row["record"] = json.loads(row["record"])
        return rows

    # -- source records -----------------------------------------------------------------------
    def settle_sources(self, run_id: str, settled: list[tuple[str, str, str]]) -> None:
        """Record (stream, source key, status) for source records received; the latest status wins."""
        if not settled:
            return
        at = now_iso()
        latest = {(stream, key): status for stream, key, status in settled}
        with self._tx() as c:
            for stream, key in latest:
                c.execute(delete(sources).where(and_(sources.c.stream == stream, sources.c.source_key == key)))
            c.execute(insert(sources), [{"stream": stream, "source_key": key, "status": status, "run_id": run_id,
                                         "at": at} for (stream, key), status in latest.items()])

    def source_rows(self, stream: str | None = None) -> list[dict[str, Any]]:
        query = select(sources).order_by(sources.c.stream, sources.c.source_key)
        if stream is not None:
            query = query.where(sources.c.stream == stream)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    def source_counts(self) -> dict[str, dict[str, int]]:
        """{stream: {status: n}} over every source record ever received."""
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as c:
            for stream, status, n in c.execute(select(sources.c.stream, sources.c.status, func.count())
                                               .group_by(sources.c.stream, sources.c.status)):
                out.setdefault(stream, {})[status] = int(n)
        return out

    def settle_parked_sources(self) -> None:
        """Source records held for a parent or deferred by a stop whose write has happened since (their
        person arrived, or a later run sent what was spooled): migrated now."""
        with self._tx() as c:
            parked = c.execute(select(sources.c.stream, sources.c.source_key)
                               .where(sources.c.status.in_(("held", "deferred")))).all()
            for stream, key in parked:
                written = c.execute(select(func.count()).select_from(xwalk).where(xwalk.c.source_key == key)).scalar()
                waiting = c.execute(select(func.count()).select_from(pending)
                                    .where(pending.c.source_key == key)).scalar()
                if written and not waiting:
                    c.execute(update(sources).where(and_(sources.c.stream == stream, sources.c.source_key == key))
                              .values(status="migrated", at=now_iso()))

    def forget_sources(self, run_ids: list[str] | None) -> None:
        """After a rollback: the records these runs (all: None) settled are no longer known to be in Pipedrive."""
        with self._tx() as c:
            query = delete(sources)
            if run_ids is not None:
                query = query.where(sources.c.run_id.in_(run_ids))
            c.execute(query)

    # -- epoch: what Meltano's bookmarks are checked against ----------------------------------------
    def epoch(self) -> str:
        """`<crosswalk id>.<rollbacks so far>`: stamped into every STATE relayed (bookmarks.py)."""
        value = self._epoch_value()
        return f"{value['id']}.{value['n']}"

    def epoch_note(self) -> str:
        """Why bookmarks of an earlier epoch of this crosswalk are stale."""
        return str(self._epoch_value().get("why") or "an earlier rollback")

    def rolled_back_ever(self) -> bool:
        return int(self._epoch_value()["n"]) > 0

    def new_epoch(self, why: str) -> None:
        """A rollback undid records: every bookmark saved until now would skip them."""
        value = self._epoch_value()
        self.put_value(EPOCH_KEY, {"id": value["id"], "n": int(value["n"]) + 1, "why": why})

    def _epoch_value(self) -> dict[str, Any]:
        value = self.get_value(EPOCH_KEY)
        if not isinstance(value, dict) or "id" not in value:
            value = {"id": uuid.uuid4().hex[:12], "n": 0}
            self.put_value(EPOCH_KEY, value)
        return value

    # -- named values ---------------------------------------------------------------------------
    def get_value(self, name: str) -> Any:
        with self.engine.connect() as c:
            row = c.execute(select(kv.c.value).where(kv.c.name == name)).first()
        return row[0] if row is not None else None

    def drop_value(self, name: str) -> None:
        with self._tx() as c:
            c.execute(delete(kv).where(kv.c.name == name))

    def put_value(self, name: str, value: Any) -> None:
        with self._tx() as c:
            c.execute(delete(kv).where(kv.c.name == name))
            c.execute(insert(kv).values(name=name, value=value, updated_at=now_iso()))

    # -- audit ----------------------------------------------------------------------------------
    def audit(self, run_id: str, stream: str, source_key: str, status: str, code: str, message: str,
              action: str | None = None, pipedrive_id: int | None = None) -> None:
        with self._raw() as cur:
            self._sql.insert_audit.run(cur, {"run_id": run_id, "stream": stream, "source_key": source_key,
                                             "status": status, "code": code, "message": message, "action": action,
                                             "pipedrive_id": pipedrive_id, "at": now_iso()})

    def audit_rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        query = select(audit).order_by(audit.c.id)
        if run_id is not None:
            query = query.where(audit.c.run_id == run_id)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    # -- history and rollback --------------------------------------------------------------------
    def changes(self, run_ids: list[str] | None = None) -> list[dict[str, Any]]:
        query = select(changes).order_by(changes.c.id)
        if run_ids is not None:
            query = query.where(changes.c.run_id.in_(run_ids))
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    def last_after_image(self, stream: str, source_key: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(select(changes.c.after_image).where(
                and_(changes.c.stream == stream, changes.c.source_key == source_key))
                .order_by(changes.c.id.desc()).limit(1)).first()
        return row[0] if row is not None else None

    def rollback_done(self) -> dict[int, dict[str, Any]]:
        with self.engine.connect() as c:
            return {r.change_id: dict(r._mapping) for r in c.execute(select(rollback_steps))}

    def mark_rollback(self, change_id: int, rollback_run_id: str, status: str, message: str) -> None:
        with self._tx() as c:
            c.execute(delete(rollback_steps).where(rollback_steps.c.change_id == change_id))
            c.execute(insert(rollback_steps).values(change_id=change_id, rollback_run_id=rollback_run_id,
                                                    status=status, message=message, at=now_iso()))

    # -- token budget ---------------------------------------------------------------------------
    def tokens_spent(self, day: str) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(budget.c.tokens).where(budget.c.day == day)).scalar() or 0)

    def save_tokens(self, day: str, tokens: int) -> None:
        with self._tx() as c:
            if c.execute(update(budget).where(budget.c.day == day).values(tokens=tokens)).rowcount == 0:
                c.execute(insert(budget).values(day=day, tokens=tokens))


def _merge_before(original: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """Keep the original values; add fields only the fresh read saw (nested for custom_fields)."""
    merged = dict(fresh)
    for key, value in original.items():
        if key == "custom_fields" and isinstance(value, dict):
            merged["custom_fields"] = {**(fresh.get("custom_fields") or {}), **value}
        else:
            merged[key] = value
    return merged
