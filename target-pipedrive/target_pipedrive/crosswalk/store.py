"""The crosswalk: source key -> Pipedrive id, with the history needed to undo it (tables.py says what each
table holds and why).

Every method commits before it returns: the caller may be SIGKILLed right after. Writes that read first
(the mapping a commit replaces) run one at a time in this process, so concurrent writers never interleave
between the read and the write. Plain SQLAlchemy Core throughout: its statement cache keeps a per-record
statement well under a millisecond, far below what a write to Pipedrive takes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from target_pipedrive.crosswalk.sources import SourceRecords
from target_pipedrive.crosswalk.tables import (
    CHANGES_BY_KEY,
    audit,
    budget,
    changes,
    intents,
    kv,
    map_memory,
    metadata,
    new_run_id,
    now_iso,
    open_engine,
    pending,
    rollback_steps,
    runs,
    unavailable,
    xwalk,
)
from target_pipedrive.errors import TargetError


def _by_key(table: Any, stream: str, source_key: str) -> Any:
    return and_(table.c.stream == stream, table.c.source_key == source_key)


def _at_key(table: Any) -> Any:
    """WHERE stream = :k_stream AND source_key = :k_key (named apart from the columns a SET may assign)."""
    return and_(table.c.stream == bindparam("k_stream"), table.c.source_key == bindparam("k_key"))


def _key(stream: str, source_key: str) -> dict[str, str]:
    return {"k_stream": stream, "k_key": source_key}


# The statements every record runs, built once: SQLAlchemy then skips building the expression and its cache
# key on each call, which was most of the target's CPU per object (bench, 2026-12-05: 146 objects/s
# with statements built per call).
GET_MAPPING = select(xwalk).where(_at_key(xwalk))
INSERT_MAPPING = insert(xwalk)
UPDATE_MAPPING = update(xwalk).where(_at_key(xwalk))
INSERT_CHANGE = insert(changes)
GET_INTENT = select(intents).where(_at_key(intents))
INSERT_INTENT = insert(intents)
DELETE_INTENT = delete(intents).where(intents.c.id == bindparam("k_id"))
DELETE_PENDING = delete(pending).where(_at_key(pending))
INSERT_AUDIT = insert(audit)
GET_MEMORY = select(map_memory.c.value).where(map_memory.c.space == bindparam("k_space"),
                                              map_memory.c.key == bindparam("k_key"))
DELETE_MEMORY = delete(map_memory).where(map_memory.c.space == bindparam("k_space"),
                                         map_memory.c.key == bindparam("k_key"))


class RecentRows:
    """The crosswalk rows this process read or wrote last, by (stream, source key): a child record looks up
    its person twice (is it written? which id?), so most `get`s ask for a row just written. Written through
    (every change of a row here updates or drops it) and bounded, so memory does not grow with the clinic.
    Only this process's Crosswalk writes its rows while a run is going (a rollback or another worker runs
    when it is not)."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

        self.generation = 0  # moves at every drop: a row read before a change is not kept after it

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            row = self._rows.get(key)
            if row is not None:
                self._rows.move_to_end(key)
            return row

    def put(self, key: tuple[str, str], row: dict[str, Any], read_at: int | None = None) -> None:
        """Keep `row`; one read from the database (`read_at`: the generation before the read) only if no
        row changed meanwhile."""
        with self._lock:
            if read_at is not None and read_at != self.generation:
                return
            self._rows[key] = row
            self._rows.move_to_end(key)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self.generation += 1
            self._rows.pop(key, None)


class Crosswalk(SourceRecords):
    def __init__(self, url: str) -> None:
        self.engine = open_engine(url)
        try:
            metadata.create_all(self.engine)
            CHANGES_BY_KEY.create(self.engine, checkfirst=True)  # crosswalks made before it existed
        except (OperationalError, ProgrammingError) as exc:  # server down, wrong password, no such database,
            # no right to create the schema, ...
            self.engine.dispose()
            raise TargetError(unavailable(url, exc)) from None
        self._write_lock = threading.Lock()
        self.recent = RecentRows()
        self._parked: bool | None = None  # may the pending table hold rows? (None: not asked yet)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One transaction, committed on leaving (rolled back on error); writes one at a time."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _rows(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(query).mappings()]

    def _first(self, query: Any) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(query).mappings().first()
        return dict(row) if row is not None else None

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
        return self._rows(select(runs).order_by(runs.c.started_at))

    # -- mapping ----------------------------------------------------------------------------
    def get(self, stream: str, source_key: str) -> dict[str, Any] | None:
        known = self.recent.get((stream, source_key))
        if known is not None:
            return dict(known)
        read_at = self.recent.generation
        with self.engine.connect() as c:
            row = c.execute(GET_MAPPING, _key(stream, source_key)).mappings().first()
        if row is None:
            return None
        self.recent.put((stream, source_key), dict(row), read_at)
        return dict(row)

    def claimed_among(self, stream: str, ids: list[int]) -> set[int]:
        """Which of these Pipedrive ids are already mapped to a source record of the stream."""
        if not ids:
            return set()
        with self.engine.connect() as c:
            return set(c.execute(select(xwalk.c.pipedrive_id).where(
                and_(xwalk.c.stream == stream, xwalk.c.pipedrive_id.in_(ids)))).scalars())

    def all_mappings(self) -> list[dict[str, Any]]:
        return self._rows(select(xwalk).order_by(xwalk.c.stream, xwalk.c.source_key))

    def commit_write(self, run_id: str, stream: str, source_key: str, pipedrive_id: int, action: str,
                     payload_hash: str, before_image: dict[str, Any] | None, after_image: dict[str, Any] | None,
                     intent_id: int | None = None) -> None:
        """Record a write Pipedrive confirmed: mapping, change history, and close its intent, atomically."""
        at = now_iso()
        key = _key(stream, source_key)
        with self._tx() as c:
            found = c.execute(GET_MAPPING, key).mappings().first()
            prev = dict(found) if found is not None else None
            values = {"pipedrive_id": pipedrive_id, "action": action, "payload_hash": payload_hash, "run_id": run_id,
                      "updated_at": at}
            self.recent.drop((stream, source_key))  # until committed, read from the database
            if prev is None:
                c.execute(INSERT_MAPPING, {"stream": stream, "source_key": source_key, "first_run_id": run_id,
                                           **values})
            else:
                c.execute(UPDATE_MAPPING, {**key, **values})
            c.execute(INSERT_CHANGE, {"run_id": run_id, "stream": stream, "source_key": source_key,
                                      "pipedrive_id": pipedrive_id, "action": action, "before_image": before_image,
                                      "after_image": after_image, "prev_xwalk": prev, "at": at})
            if intent_id is not None:
                c.execute(DELETE_INTENT, {"k_id": intent_id})
            if self._may_be_parked(c):
                c.execute(DELETE_PENDING, key)
        first_run_id = prev["first_run_id"] if prev is not None else run_id
        self.recent.put((stream, source_key), {"stream": stream, "source_key": source_key,
                                               "first_run_id": first_run_id, **values})

    def touch(self, run_id: str, stream: str, source_key: str, payload_hash: str) -> None:
        """The record changed but Pipedrive already holds its values: remember the new hash only."""
        self.recent.drop((stream, source_key))
        with self._tx() as c:
            c.execute(update(xwalk).where(_by_key(xwalk, stream, source_key))
                      .values(payload_hash=payload_hash, updated_at=now_iso()))
            c.execute(delete(pending).where(_by_key(pending, stream, source_key)))

    def restore_mapping(self, stream: str, source_key: str, previous: dict[str, Any] | None) -> None:
        """Put back the crosswalk row a rolled-back change replaced (or remove it)."""
        self.recent.drop((stream, source_key))
        with self._tx() as c:
            c.execute(delete(xwalk).where(_by_key(xwalk, stream, source_key)))
            if previous:
                c.execute(insert(xwalk).values(**previous))

    def _may_be_parked(self, c: Connection) -> bool:
        """Whether a written record may have a pending row to clear: asked once, then known, since rows are
        parked only by `hold` of this Crosswalk while a run goes (a first run parks none: one statement less
        per record)."""
        if self._parked is None:
            self._parked = c.execute(select(pending.c.seq).limit(1)).first() is not None
        return self._parked

    # -- write-ahead intents ------------------------------------------------------------------
    def begin_intent(self, run_id: str, stream: str, source_key: str, op: str, payload_hash: str,
                     lookup: dict[str, Any], before_image: dict[str, Any] | None = None,
                     pipedrive_id: int | None = None) -> tuple[int, dict[str, Any] | None]:
        """Write the intent before the request; returns (intent id, before-image to keep).

        An update intent left open by a crash already holds the true before-image (taken
        before the first PATCH), so its values win over a fresh read.
        """
        with self._tx() as c:
            old = c.execute(GET_INTENT, _key(stream, source_key)).mappings().first()
            if old is not None:
                if old["op"] == "update" and op == "update" and old["before_image"]:
                    before_image = _merge_before(old["before_image"], before_image or {})
                c.execute(DELETE_INTENT, {"k_id": old["id"]})
            done = c.execute(INSERT_INTENT, {
                "run_id": run_id, "stream": stream, "source_key": source_key, "op": op, "pipedrive_id": pipedrive_id,
                "payload_hash": payload_hash, "lookup": lookup, "before_image": before_image,
                "started_at": now_iso()})
            return int(done.inserted_primary_key[0]), before_image

    def open_intents(self) -> list[dict[str, Any]]:
        return self._rows(select(intents).order_by(intents.c.id))

    def drop_intent(self, intent_id: int) -> None:
        with self._tx() as c:
            c.execute(delete(intents).where(intents.c.id == intent_id))

    # -- pending records ------------------------------------------------------------------------
    def hold(self, run_id: str, stream: str, source_key: str, record: dict[str, Any], reason: str,
             waiting_for: str | None = None) -> None:
        self._parked = True
        with self._tx() as c:
            seq = (c.execute(select(func.max(pending.c.seq))).scalar() or 0) + 1
            c.execute(delete(pending).where(_by_key(pending, stream, source_key)))
            c.execute(insert(pending).values(stream=stream, source_key=source_key, seq=seq,
                                             record=json.dumps(record, default=str), waiting_for=waiting_for,
                                             reason=reason, run_id=run_id, at=now_iso()))

    def discard_pending(self, stream: str, source_key: str) -> None:
        with self._tx() as c:
            c.execute(delete(pending).where(_by_key(pending, stream, source_key)))

    def pending_rows(self, waiting_for: str | None = None) -> list[dict[str, Any]]:
        query = select(pending).order_by(pending.c.seq)
        if waiting_for is not None:
            query = query.where(pending.c.waiting_for == waiting_for)
        rows = self._rows(query)
        for row in rows:
            row["record"] = json.loads(row["record"])
        return rows

    # -- named values ---------------------------------------------------------------------------
    def get_value(self, name: str) -> Any:
        with self.engine.connect() as c:
            return c.execute(select(kv.c.value).where(kv.c.name == name)).scalar()

    def drop_value(self, name: str) -> None:
        with self._tx() as c:
            c.execute(delete(kv).where(kv.c.name == name))

    def put_value(self, name: str, value: Any) -> None:
        with self._tx() as c:
            c.execute(delete(kv).where(kv.c.name == name))
            c.execute(insert(kv).values(name=name, value=value, updated_at=now_iso()))

    # -- the map's memory (memory.py) -------------------------------------------------------------
    def memory_value(self, space: str, key: str) -> Any:
        with self.engine.connect() as c:
            return c.execute(GET_MEMORY, {"k_space": space, "k_key": key}).scalar()

    def memory_items(self, space: str) -> list[tuple[str, Any]]:
        with self.engine.connect() as c:
            return [(key, value) for key, value in c.execute(
                select(map_memory.c.key, map_memory.c.value).where(map_memory.c.space == space))]

    def save_memory(self, values: dict[tuple[str, str], Any]) -> None:
        """Store each (space, key) -> value (None: remove it), all in one transaction."""
        if not values:
            return
        with self._tx() as c:
            c.execute(DELETE_MEMORY, [{"k_space": space, "k_key": key} for space, key in values])
            rows = [{"space": space, "key": key, "value": value} for (space, key), value in values.items()
                    if value is not None]
            if rows:
                c.execute(insert(map_memory), rows)

    def forget_memory(self) -> None:
        with self._tx() as c:
            c.execute(delete(map_memory))

    # -- audit ----------------------------------------------------------------------------------
    def audit(self, run_id: str, stream: str, source_key: str, status: str, code: str, message: str,
              action: str | None = None, pipedrive_id: int | None = None) -> None:
        with self._tx() as c:
            c.execute(INSERT_AUDIT, {"run_id": run_id, "stream": stream, "source_key": source_key, "status": status,
                                     "code": code, "message": message, "action": action,
                                     "pipedrive_id": pipedrive_id, "at": now_iso()})

    def audit_rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        query = select(audit).order_by(audit.c.id)
        if run_id is not None:
            query = query.where(audit.c.run_id == run_id)
        return self._rows(query)

    # -- history and rollback --------------------------------------------------------------------
    def changes(self, run_ids: list[str] | None = None) -> list[dict[str, Any]]:
        query = select(changes).order_by(changes.c.id)
        if run_ids is not None:
            query = query.where(changes.c.run_id.in_(run_ids))
        return self._rows(query)

    def last_after_image(self, stream: str, source_key: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            return c.execute(select(changes.c.after_image).where(_by_key(changes, stream, source_key))
                             .order_by(changes.c.id.desc()).limit(1)).scalar()

    def writes_in_run(self, stream: str, source_key: str, run_id: str) -> list[tuple[str, dict[str, Any]]]:
        """This run's writes of the record, oldest first: (action, what it left in Pipedrive)."""
        if (self.get(stream, source_key) or {}).get("run_id") != run_id:
            return []
        with self.engine.connect() as c:
            found = c.execute(select(changes.c.action, changes.c.after_image).where(
                and_(_by_key(changes, stream, source_key), changes.c.run_id == run_id)).order_by(changes.c.id))
            return [(action, image or {}) for action, image in found]

    def rollback_done(self) -> dict[int, dict[str, Any]]:
        return {r["change_id"]: r for r in self._rows(select(rollback_steps))}

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
