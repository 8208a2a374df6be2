"""What the map remembers between records - and, when the caller persists it, between runs.

Every piece is one small JSON value under a key, in a space of a `Memory` (memory.py), so
the caller decides where it lives (this process, or rows of a database read when needed):
- `table:<name>`: rows of streams the map looks up, by id (practitioners, patients, ...),
  kept to the fields the map's `remember:` lists;
- `waiting`: by "table:id", records whose output needs that row (an attendee before its
  group appointment), or to re-map when it changes;
- `watching`: by "table.field=value", records to re-map when a row pointing at them arrives
  or changes (an appointment type priced from its billable-item rows);
- `record:<stream>`: the raw records of those dependants (so they can be re-mapped);
- `group:<rollup>`: rollup rows per group (every invoice of a patient), so figures are
  recomputed over all of them; `dirty:<rollup>`: groups changed since the last flush;
- `person`: the last person record built per source key (a rollup re-emits it with new
  figures); `meta`: reference files to rewrite at the next flush.
"""

from __future__ import annotations

from typing import Any

from cliniko_map.memory import DictMemory, Memory

STATE_VERSION = 2
WAITING, WATCHING, PERSON, META = "waiting", "watching", "person", "meta"
ARTIFACTS = "artifacts_dirty"


def table_space(table: str) -> str:
    return f"table:{table}"


class State:
    def __init__(self, memory: Memory | None = None) -> None:
        self.memory: Memory = memory if memory is not None else DictMemory()

    # -- tables ---------------------------------------------------------------------------------
    def row(self, table: str, row_id: Any) -> dict[str, Any] | None:
        if row_id is None:
            return None
        return self.memory.get(table_space(table), str(row_id))

    def put_row(self, table: str, row_id: str, row: dict[str, Any]) -> bool:
        """Store a row; True when it is new or changed."""
        if self.memory.get(table_space(table), row_id) == row:
            return False
        self.memory.put(table_space(table), row_id, row)
        return True

    def table_rows(self, table: str) -> dict[str, dict[str, Any]]:
        """Every row of a table by id, in id order: for the reference tables the map scans (a few rows each)."""
        space = table_space(table)
        return {key: self.memory.get(space, key) for key in self.memory.keys(space)}

    # -- dependants -----------------------------------------------------------------------------
    def wait_for(self, table: str, row_id: str, stream: str, record: dict[str, Any]) -> None:
        """Re-map `record` whenever row `table:row_id` arrives or changes."""
        self._register(WAITING, f"{table}:{row_id}", stream, record)

    def watch(self, table: str, field_name: str, value: str, stream: str, record: dict[str, Any]) -> None:
        """Re-map `record` whenever a row of `table` whose `field_name` is `value` arrives or changes."""
        self._register(WATCHING, f"{table}.{field_name}={value}", stream, record)

    def _register(self, space: str, key: str, stream: str, record: dict[str, Any]) -> None:
        slim = {k: v for k, v in record.items() if not (isinstance(v, dict) and set(v) == {"links"})}
        record_id = str(record["id"])
        if self.memory.get(f"record:{stream}", record_id) != slim:
            self.memory.put(f"record:{stream}", record_id, slim)
        entry = [stream, record_id]
        bucket = self.memory.get(space, key) or []
        if entry not in bucket:
            self.memory.put(space, key, [*bucket, entry])

    def dependants(self, table: str, row_id: str) -> list[tuple[str, dict[str, Any]]]:
        return self._records_of(self.memory.get(WAITING, f"{table}:{row_id}") or [])

    def watchers(self, table: str, field_name: str, value: Any) -> list[tuple[str, dict[str, Any]]]:
        if value in (None, ""):
            return []
        return self._records_of(self.memory.get(WATCHING, f"{table}.{field_name}={value}") or [])

    def _records_of(self, entries: list[list[str]]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for stream, record_id in entries:
            record = self.memory.get(f"record:{stream}", record_id)
            if record is not None:
                out.append((stream, record))
        return out

    def missing(self) -> list[tuple[str, str, str]]:
        """(stream, record id, "table:id") for every record still waiting for a row."""
        out = []
        for key in self.memory.keys(WAITING):
            table, _, row_id = key.partition(":")
            if self.row(table, row_id) is None:
                out.extend((stream, record_id, key) for stream, record_id in self.memory.get(WAITING, key) or [])
        return out

    # -- rollups --------------------------------------------------------------------------------
    def put_part(self, rollup: str, group: str, part: str, row_id: str, row: dict[str, Any]) -> bool:
        parts = self.memory.get(f"group:{rollup}", group) or {}
        rows = parts.get(part)
        if rows is not None and rows.get(row_id) == row:
            return False
        if rows is None:
            rows = parts[part] = {}
        rows[row_id] = row
        self.memory.put(f"group:{rollup}", group, parts)
        self.mark_dirty(rollup, group)
        return True

    def drop_part(self, rollup: str, group: str, part: str, row_id: str) -> None:
        parts = self.memory.get(f"group:{rollup}", group)
        if parts is not None and parts.get(part, {}).pop(row_id, None) is not None:
            self.memory.put(f"group:{rollup}", group, parts)
            self.mark_dirty(rollup, group)

    def group_rows(self, rollup: str, group: str) -> dict[str, list[dict[str, Any]]] | None:
        parts = self.memory.get(f"group:{rollup}", group)
        if parts is None:
            return None
        return {part: [rows[k] for k in sorted(rows)] for part, rows in parts.items()}

    def dirty_groups(self, rollup: str) -> list[str]:
        """The groups whose figures changed since they were last emitted, in key order."""
        return self.memory.keys(f"dirty:{rollup}")

    def mark_dirty(self, rollup: str, group: str) -> None:
        if self.memory.get(f"dirty:{rollup}", group) is None:
            self.memory.put(f"dirty:{rollup}", group, 1)

    def clean(self, rollup: str, group: str) -> None:
        if self.memory.get(f"dirty:{rollup}", group) is not None:
            self.memory.put(f"dirty:{rollup}", group, None)

    # -- persons and reference files ------------------------------------------------------------
    def person(self, key: str) -> dict[str, Any] | None:
        return self.memory.get(PERSON, key)

    def put_person(self, key: str, record: dict[str, Any]) -> None:
        if self.memory.get(PERSON, key) != record:
            self.memory.put(PERSON, key, record)

    def artifacts_dirty(self) -> list[str]:
        return list(self.memory.get(META, ARTIFACTS) or [])

    def mark_artifact(self, name: str, dirty: bool = True) -> None:
        names = self.artifacts_dirty()
        if dirty and name not in names:
            self.memory.put(META, ARTIFACTS, [*names, name])
        elif not dirty and name in names:
            names.remove(name)
            self.memory.put(META, ARTIFACTS, names or None)

    # -- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The whole memory as plain JSON (from a `DictMemory`: what a caller without a database keeps)."""
        if not isinstance(self.memory, DictMemory):
            raise TypeError("only an in-process memory is exported whole; a database memory is already kept")
        return {"version": STATE_VERSION, "spaces": {space: dict(sorted(values.items()))
                                                     for space, values in sorted(self.memory.spaces.items())
                                                     if values}}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, memory: Memory | None = None) -> State:
        """A state from `to_dict`'s JSON, put into `memory` (default: a new in-process one). Version 1 (one
        nested blob, before the memory had spaces) is read too, so an earlier migration's memory carries on."""
        state = cls(memory)
        if not data:
            return state
        version = data.get("version")
        if version == STATE_VERSION:
            for space, values in (data.get("spaces") or {}).items():
                for key, value in values.items():
                    state.memory.put(space, key, value)
        elif version == 1:
            state._from_version_1(data)
        else:
            raise ValueError(f"map state version {version!r} is not {STATE_VERSION}; "
                             "start from an empty state (a full run rebuilds it)")
        return state

    def _from_version_1(self, data: dict[str, Any]) -> None:
        put = self.memory.put
        for table, rows in (data.get("tables") or {}).items():
            for row_id, row in rows.items():
                put(table_space(table), row_id, row)
        for space in (WAITING, WATCHING):
            for key, entries in (data.get(space) or {}).items():
                put(space, key, [list(e) for e in dict.fromkeys(tuple(e) for e in entries)])
        for stream, records in (data.get("records") or {}).items():
            for record_id, record in records.items():
                put(f"record:{stream}", record_id, record)
        for rollup, groups in (data.get("groups") or {}).items():
            for group, parts in groups.items():
                put(f"group:{rollup}", group, parts)
        for rollup, groups in (data.get("dirty") or {}).items():
            for group in groups:
                put(f"dirty:{rollup}", group, 1)
        for key, person in (data.get("persons") or {}).items():
            put(PERSON, key, person)
        if data.get(ARTIFACTS):
            put(META, ARTIFACTS, list(dict.fromkeys(data[ARTIFACTS])))
