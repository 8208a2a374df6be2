"""The source side of the crosswalk: every source (Cliniko) record received and what became of it, and the
epoch that says which bookmarks still describe Pipedrive (run/bookmarks.py).

A part of `Crosswalk` (store.py), kept apart because it answers other questions: is every source record
accounted for (reports, verify), and may the tap start from these bookmarks (a rollback says no).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from target_pipedrive.crosswalk.tables import EPOCH_KEY, now_iso, pending, sources, xwalk

_DELETE_SOURCE = delete(sources).where(and_(sources.c.stream == bindparam("k_stream"),
                                             sources.c.source_key == bindparam("k_key")))  # built once
_RUN_STATUS = select(sources.c.status).where(and_(sources.c.stream == bindparam("k_stream"),
                                                  sources.c.source_key == bindparam("k_key"),
                                                  sources.c.run_id == bindparam("k_run")))


class SourceRecords:
    # provided by Crosswalk
    engine: Engine
    _tx: Callable[[], AbstractContextManager[Connection]]
    _rows: Callable[[Any], list[dict[str, Any]]]
    get_value: Callable[[str], Any]
    put_value: Callable[[str, Any], None]

    # -- source records -----------------------------------------------------------------------
    def settle_sources(self, run_id: str, settled: list[tuple[str, str, str]]) -> None:
        """Record (stream, source key, status) for source records received; the latest status wins."""
        if not settled:
            return
        at = now_iso()
        latest = {(stream, key): status for stream, key, status in settled}
        with self._tx() as c:
            c.execute(_DELETE_SOURCE, [{"k_stream": stream, "k_key": key} for stream, key in latest])
            c.execute(insert(sources), [{"stream": stream, "source_key": key, "status": status, "run_id": run_id,
                                         "at": at} for (stream, key), status in latest.items()])

    def source_status(self, run_id: str, stream: str, key: str) -> str | None:
        """The status run `run_id` saved for a source record (None: that run saved none)."""
        with self.engine.connect() as c:
            return c.execute(_RUN_STATUS, {"k_stream": stream, "k_key": key, "k_run": run_id}).scalar()

    def source_rows(self, stream: str | None = None) -> list[dict[str, Any]]:
        query = select(sources).order_by(sources.c.stream, sources.c.source_key)
        if stream is not None:
            query = query.where(sources.c.stream == stream)
        return self._rows(query)

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
        """`<crosswalk id>.<rollbacks so far>`: stamped into every STATE relayed (run/bookmarks.py)."""
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

