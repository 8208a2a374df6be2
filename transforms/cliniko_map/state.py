"""What the map remembers between records - and, when the caller persists it, between runs.

All of it is plain JSON (`to_dict` / `from_dict`):
- tables: rows of reference streams by id (practitioners, users, appointment types, ...),
  kept to the fields the map's `remember:` lists, for lookups;
- waiting: records whose output needs a row not seen yet (an attendee before its group
  appointment), and records to re-map when a row they used changes, by "table:id";
- watching: records to re-map when a row pointing at them arrives or changes (an appointment
  type priced from its billable-item rows), by "table.field=value";
- records: the raw records of those dependants (so they can be re-mapped);
- groups: rollup rows per group (every invoice of a patient), so figures are recomputed
  over all of them; dirty: groups changed since the last flush;
- persons: the last person record built per source key (a rollup re-emits it with new
  figures); artifacts_dirty: reference files to rewrite at the next flush.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATE_VERSION = 1


@dataclass
class State:
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    waiting: dict[str, list[list[str]]] = field(default_factory=dict)
    watching: dict[str, list[list[str]]] = field(default_factory=dict)
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, dict[str, dict[str, Any]]]]] = field(default_factory=dict)
    dirty: dict[str, list[str]] = field(default_factory=dict)
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts_dirty: list[str] = field(default_factory=list)
    # rollup -> (its dirty list, that list as a set): `in` on a list of every patient with new
    # invoices made each invoice cost time proportional to the clinic. Rebuilt whenever the
    # list is not the one indexed or its length differs (changed from outside).
    _dirty_index: dict[str, tuple[list[str], set[str]]] = field(default_factory=dict, init=False, repr=False,
                                                                compare=False)

    # -- tables ---------------------------------------------------------------------------------
    def row(self, table: str, row_id: Any) -> dict[str, Any] | None:
        if row_id is None:
            return None
        return self.tables.get(table, {}).get(str(row_id))

    def put_row(self, table: str, row_id: str, row: dict[str, Any]) -> bool:
        """Store a row; True when it is new or changed."""
        rows = self.tables.setdefault(table, {})
        if rows.get(row_id) == row:
            return False
        rows[row_id] = row
        return True

    # -- dependants -----------------------------------------------------------------------------
    def wait_for(self, table: str, row_id: str, stream: str, record: dict[str, Any]) -> None:
        """Re-map `record` whenever row `table:row_id` arrives or changes."""
        self._register(self.waiting, f"{table}:{row_id}", stream, record)

    def watch(self, table: str, field_name: str, value: str, stream: str, record: dict[str, Any]) -> None:
        """Re-map `record` whenever a row of `table` whose `field_name` is `value` arrives or changes."""
        self._register(self.watching, f"{table}.{field_name}={value}", stream, record)

    def _register(self, index: dict[str, list[list[str]]], key: str, stream: str, record: dict[str, Any]) -> None:
        slim = {k: v for k, v in record.items() if not (isinstance(v, dict) and set(v) == {"links"})}
        self.records.setdefault(stream, {})[str(record["id"])] = slim
        entry = [stream, str(record["id"])]
        bucket = index.setdefault(key, [])
        if entry not in bucket:
            bucket.append(entry)

    def dependants(self, table: str, row_id: str) -> list[tuple[str, dict[str, Any]]]:
        return self._records_of(self.waiting.get(f"{table}:{row_id}", []))

    def watchers(self, table: str, field_name: str, value: Any) -> list[tuple[str, dict[str, Any]]]:
        if value in (None, ""):
            return []
        return self._records_of(self.watching.get(f"{table}.{field_name}={value}", []))

    def _records_of(self, entries: list[list[str]]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for stream, record_id in entries:
            record = self.records.get(stream, {}).get(record_id)
            if record is not None:
                out.append((stream, record))
        return out

    def missing(self) -> list[tuple[str, str, str]]:
        """(stream, record id, "table:id") for every record still waiting for a row."""
        out = []
        for key, entries in sorted(self.waiting.items()):
            table, _, row_id = key.partition(":")
            if self.row(table, row_id) is None:
                out.extend((stream, record_id, key) for stream, record_id in entries)
        return out

    # -- rollups --------------------------------------------------------------------------------
    def put_part(self, rollup: str, group: str, part: str, row_id: str, row: dict[str, Any]) -> bool:
        rows = self.groups.setdefault(rollup, {}).setdefault(group, {}).setdefault(part, {})
        if rows.get(row_id) == row:
            return False
        rows[row_id] = row
        self.mark_dirty(rollup, group)
        return True

    def drop_part(self, rollup: str, group: str, part: str, row_id: str) -> None:
        rows = self.groups.get(rollup, {}).get(group, {}).get(part, {})
        if rows.pop(row_id, None) is not None:
            self.mark_dirty(rollup, group)

    def group_rows(self, rollup: str, group: str) -> dict[str, list[dict[str, Any]]] | None:
        parts = self.groups.get(rollup, {}).get(group)
        if parts is None:
            return None
        return {part: [rows[k] for k in sorted(rows)] for part, rows in parts.items()}

    def _dirty_set(self, rollup: str, bucket: list[str]) -> set[str]:
        indexed = self._dirty_index.get(rollup)
        if indexed is None or indexed[0] is not bucket or len(indexed[1]) != len(bucket):
            indexed = self._dirty_index[rollup] = (bucket, set(bucket))
        return indexed[1]

    def mark_dirty(self, rollup: str, group: str) -> None:
        bucket = self.dirty.setdefault(rollup, [])
        seen = self._dirty_set(rollup, bucket)
        if group not in seen:
            bucket.append(group)
            seen.add(group)

    def clean(self, rollup: str, group: str) -> None:
        bucket = self.dirty.get(rollup)
        if bucket is None:
            return
        seen = self._dirty_set(rollup, bucket)
        if group in seen:
            bucket.remove(group)
            seen.discard(group)  # (a list given with duplicates no longer matches in length: re-indexed)

    # -- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "tables": self.tables, "waiting": self.waiting, "watching": self.watching,
                "records": self.records,
                "groups": self.groups, "dirty": self.dirty, "persons": self.persons,
                "artifacts_dirty": self.artifacts_dirty}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> State:
        if not data:
            return cls()
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"map state version {data.get('version')!r} is not {STATE_VERSION}; "
                             "start from an empty state (a full run rebuilds it)")
        return cls(tables=data.get("tables") or {}, waiting=data.get("waiting") or {},
                   watching=data.get("watching") or {}, records=data.get("records") or {},
                   groups=data.get("groups") or {}, dirty=data.get("dirty") or {},
                   persons=data.get("persons") or {}, artifacts_dirty=list(data.get("artifacts_dirty") or []))
