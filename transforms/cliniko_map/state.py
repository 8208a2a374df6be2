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
- `index`: by "table.field=value", the ids of the rows whose field is value, for the fields records
  watch (a `rows:` reference to them reads these ids instead of scanning the table: an appointment
  gathering its treatment notes among thousands);
- `part:<rollup>:<group>`: one row per part of a rollup group (each invoice of a patient, by
  "invoices/<id>"), so figures are recomputed over all of them; `dirty:<rollup>`: groups
  changed since the last flush;
- `person`: the last person record built per source key (a rollup re-emits it with new
  figures); `meta`: reference files to rewrite at the next flush.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cliniko_map.memory import DictMemory, Memory

STATE_VERSION = 3
WAITING, WATCHING, PERSON, META, INDEX = "waiting", "watching", "person", "meta", "index"
GROUP_MARK = ""
ARTIFACTS = "artifacts_dirty"


def table_space(table: str) -> str:
    return f"table:{table}"


def part_space(rollup: str, group: str) -> str:
    return f"part:{rollup}:{group}"


class State:
    def __init__(self, memory: Memory | None = None) -> None:
        self.memory: Memory = memory if memory is not None else DictMemory()
        self.indexed: dict[str, tuple[str, ...]] = {}  # table -> fields kept in `index` (the map's watched fields)

    # -- tables ---------------------------------------------------------------------------------
    def row(self, table: str, row_id: Any) -> dict[str, Any] | None:
        if row_id is None:
            return None
        return self.memory.get(table_space(table), str(row_id))

    def put_row(self, table: str, row_id: str, row: dict[str, Any]) -> bool:
        """Store a row; True when it is new or changed."""
        before = self.memory.get(table_space(table), row_id)
        if before == row:
            return False
        self.memory.put(table_space(table), row_id, row)
        for field_name in self.indexed.get(table, ()):
            old, new = (before or {}).get(field_name), row.get(field_name)
            if old != new and self._index_ready(table, field_name):
                self._index_move(table, field_name, row_id, old, new)
        return True

    def table_rows(self, table: str) -> dict[str, dict[str, Any]]:
        """Every row of a table by id, in id order: for the reference tables the map scans (a few rows each)."""
        return dict(self.memory.items(table_space(table)))

    def rows_where(self, table: str, field_name: str, value: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, row) of the rows whose field is `value`, in id order: from the index for a watched field, else by
        scanning the table (a reference table of a few rows)."""
        if field_name not in self.indexed.get(table, ()):
            return [(k, row) for k, row in self.memory.items(table_space(table)) if str(row.get(field_name)) == value]
        if not self._index_ready(table, field_name):
            self._build_index(table, field_name)
        out = []
        for row_id in sorted(self.memory.get(INDEX, f"{table}.{field_name}={value}") or ()):
            row = self.row(table, row_id)
            if row is not None and str(row.get(field_name)) == value:
                out.append((row_id, row))
        return out

    def _index_ready(self, table: str, field_name: str) -> bool:
        return bool(self.memory.get(INDEX, f"{table}.{field_name}"))

    def _build_index(self, table: str, field_name: str) -> None:
        """Once per field: a memory from before the index (an earlier version's crosswalk) gets it from a scan."""
        for row_id, row in self.memory.items(table_space(table)):
            self._index_move(table, field_name, row_id, None, row.get(field_name))
        self.memory.put(INDEX, f"{table}.{field_name}", True)

    def _index_move(self, table: str, field_name: str, row_id: str, old: Any, new: Any) -> None:
        for value, add in ((old, False), (new, True)):
            if value in (None, ""):
                continue
            key = f"{table}.{field_name}={value}"
            ids = list(self.memory.get(INDEX, key) or ())
            if add and row_id not in ids:
                self.memory.put(INDEX, key, [*ids, row_id])
            elif not add and row_id in ids:
                ids.remove(row_id)
                self.memory.put(INDEX, key, ids or None)

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
        for key, entries in self.memory.items(WAITING):
            table, _, row_id = key.partition(":")
            if self.row(table, row_id) is None:
                out.extend((stream, record_id, key) for stream, record_id in entries)
        return out

    # -- rollups --------------------------------------------------------------------------------
    # One value per part (an invoice's figures, one communication) in a space per group, so a new invoice
    # writes one small row, not the patient's whole history again. The key "" marks that the group exists:
    # a group whose parts were all dropped still has figures (zero), unlike one that never had a part.
    def put_part(self, rollup: str, group: str, part: str, row_id: str, row: dict[str, Any]) -> bool:
        space, key = part_space(rollup, group), f"{part}/{row_id}"
        if self.memory.get(space, key) == row:
            return False
        if self.memory.get(space, GROUP_MARK) is None:
            self.memory.put(space, GROUP_MARK, 1)
        self.memory.put(space, key, row)
        self.mark_dirty(rollup, group)
        return True

    def drop_part(self, rollup: str, group: str, part: str, row_id: str) -> None:
        space, key = part_space(rollup, group), f"{part}/{row_id}"
        if self.memory.get(space, key) is not None:
            self.memory.put(space, key, None)
            self.mark_dirty(rollup, group)

    def group_rows(self, rollup: str, group: str) -> dict[str, list[dict[str, Any]]] | None:
        """Every part's rows of a group, each part in row-id order (as text); None for a group never seen."""
        items = self.memory.items(part_space(rollup, group))
        if not items:
            return None
        out: dict[str, list[dict[str, Any]]] = {}
        for key, row in items:
            if key != GROUP_MARK:
                out.setdefault(key.partition("/")[0], []).append(row)
        return out

    def upgrade_groups(self, rollups: Iterable[str]) -> int:
        """Rollup parts kept as one value per group (version 2) become a row per part; how many groups."""
        moved = 0
        for rollup in rollups:
            legacy = f"group:{rollup}"
            for group, parts in self.memory.items(legacy):
                self._put_parts(rollup, group, parts)
                self.memory.put(legacy, group, None)
                moved += 1
        return moved

    def _put_parts(self, rollup: str, group: str, parts: dict[str, dict[str, Any]]) -> None:
        space = part_space(rollup, group)
        self.memory.put(space, GROUP_MARK, 1)
        for part, rows in parts.items():
            for row_id, row in rows.items():
                self.memory.put(space, f"{part}/{row_id}", row)

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
        """A state from `to_dict`'s JSON, put into `memory` (default: a new in-process one). Versions 1 (one
        nested blob, before the memory had spaces) and 2 (a rollup group's parts in one value) are read too,
        so an earlier migration's memory carries on."""
        state = cls(memory)
        if not data:
            return state
        version = data.get("version")
        if version in (2, STATE_VERSION):
            for space, values in (data.get("spaces") or {}).items():
                if space.startswith("group:"):  # version 2: a group's parts in one value
                    for group, parts in values.items():
                        state._put_parts(space.removeprefix("group:"), group, parts)
                    continue
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
                self._put_parts(rollup, group, parts)
        for rollup, groups in (data.get("dirty") or {}).items():
            for group in groups:
                put(f"dirty:{rollup}", group, 1)
        for key, person in (data.get("persons") or {}).items():
            put(PERSON, key, person)
        if data.get(ARTIFACTS):
            put(META, ARTIFACTS, list(dict.fromkeys(data[ARTIFACTS])))
