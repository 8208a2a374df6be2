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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from target_pipedrive.crosswalk.sources import SourceRecords
from target_pipedrive.crosswalk.tables import (
    audit,
    budget,
    changes,
    intents,
    kv,
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


class Crosswalk(SourceRecords):
    def __init__(self, url: str) -> None:
        self.engine = open_engine(url)
        try:
            metadata.create_all(self.engine)
        except (OperationalError, ProgrammingError) as exc:  # server down, wrong password, no such database,
            # no right to create the schema, ...
            self.engine.dispose()
            raise TargetError(unavailable(url, exc)) from None
        self._write_lock = threading.Lock()

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
        return self._first(select(xwalk).where(_by_key(xwalk, stream, source_key)))

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
        with self._tx() as c:
            found = c.execute(select(xwalk).where(_by_key(xwalk, stream, source_key))).mappings().first()
            prev = dict(found) if found is not None else None
            values = {"pipedrive_id": pipedrive_id, "action": action, "payload_hash": payload_hash, "run_id": run_id,
                      "updated_at": at}
            if prev is None:
                c.execute(insert(xwalk).values(stream=stream, source_key=source_key, first_run_id=run_id, **values))
            else:
                c.execute(update(xwalk).where(_by_key(xwalk, stream, source_key)).values(**values))
            c.execute(insert(changes).values(run_id=run_id, stream=stream, source_key=source_key,
                                             pipedrive_id=pipedrive_id, action=action, before_image=before_image,
                                             after_image=after_image, prev_xwalk=prev, at=at))
            if intent_id is not None:
                c.execute(delete(intents).where(intents.c.id == intent_id))
            c.execute(delete(pending).where(_by_key(pending, stream, source_key)))

    def touch(self, run_id: str, stream: str, source_key: str, payload_hash: str) -> None:
        """The record changed but Pipedrive already holds its values: remember the new hash only."""
        with self._tx() as c:
            c.execute(update(xwalk).where(_by_key(xwalk, stream, source_key))
                      .values(payload_hash=payload_hash, updated_at=now_iso()))
            c.execute(delete(pending).where(_by_key(pending, stream, source_key)))

    def restore_mapping(self, stream: str, source_key: str, previous: dict[str, Any] | None) -> None:
        """Put back the crosswalk row a rolled-back change replaced (or remove it)."""
        with self._tx() as c:
            c.execute(delete(xwalk).where(_by_key(xwalk, stream, source_key)))
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
        with self._tx() as c:
            old = c.execute(select(intents).where(_by_key(intents, stream, source_key))).mappings().first()
            if old is not None:
                if old["op"] == "update" and op == "update" and old["before_image"]:
                    before_image = _merge_before(old["before_image"], before_image or {})
                c.execute(delete(intents).where(intents.c.id == old["id"]))
            done = c.execute(insert(intents).values(
                run_id=run_id, stream=stream, source_key=source_key, op=op, pipedrive_id=pipedrive_id,
                payload_hash=payload_hash, lookup=lookup, before_image=before_image, started_at=now_iso()))
            return int(done.inserted_primary_key[0]), before_image

    def open_intents(self) -> list[dict[str, Any]]:
        return self._rows(select(intents).order_by(intents.c.id))

    def drop_intent(self, intent_id: int) -> None:
        with self._tx() as c:
            c.execute(delete(intents).where(intents.c.id == intent_id))

    # -- pending records ------------------------------------------------------------------------
    def hold(self, run_id: str, stream: str, source_key: str, record: dict[str, Any], reason: str,
             waiting_for: str | None = None) -> None:
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

    # -- audit ----------------------------------------------------------------------------------
    def audit(self, run_id: str, stream: str, source_key: str, status: str, code: str, message: str,
              action: str | None = None, pipedrive_id: int | None = None) -> None:
        with self._tx() as c:
            c.execute(insert(audit).values(run_id=run_id, stream=stream, source_key=source_key, status=status,
                                           code=code, message=message, action=action, pipedrive_id=pipedrive_id,
                                           at=now_iso()))

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
