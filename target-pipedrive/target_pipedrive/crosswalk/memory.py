"""The map's memory as crosswalk rows (`map_memory`), read when the map asks, with a bounded cache.

A clinic's lookups, rollup parts and person records grow with its size (about 100 MB of JSON for
600,000 Cliniko records), so the target keeps none of it whole: the map asks for one value at a time
(cliniko_map's `Memory`) and gets it from the cache or one row. What the map changes stays in this
process until the next checkpoint (`save`), which writes exactly those rows in one transaction. That
keeps issue 8's guarantee: the crosswalk never holds memory of a record whose outputs are not durable
yet (the target drains its writes before it saves), and a stopped run drops its unsaved changes, so the
next run, reading again from the last bookmark, finds the memory as it was there.

Only the target's main thread uses it (the map runs there), so it takes no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from target_pipedrive.crosswalk.store import Crosswalk

ABSENT = object()  # cached: no row under this key


class CrosswalkMemory:
    def __init__(self, crosswalk: Crosswalk, cache_size: int = 10_000) -> None:
        self.crosswalk = crosswalk
        self.cache_size = cache_size
        self._changed: dict[str, dict[str, Any]] = {}  # space -> key -> value since the last save; None: removed
        self._unsaved = 0  # values in _changed, counted as they come (asked for at every record)
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()  # saved values, most recent last

    def get(self, space: str, key: str) -> Any:
        changed = self._changed.get(space)
        if changed is not None and key in changed:
            return changed[key]
        at = (space, key)
        value = self._cache.get(at)
        if value is None:
            value = self.crosswalk.memory_value(space, key)
            self._keep(at, ABSENT if value is None else value)
            return value
        self._cache.move_to_end(at)
        return None if value is ABSENT else value

    def put(self, space: str, key: str, value: Any) -> None:
        values = self._changed.setdefault(space, {})
        self._unsaved += key not in values
        values[key] = value
        self._cache.pop((space, key), None)

    def keys(self, space: str) -> list[str]:
        return [key for key, _ in self.items(space)]

    def items(self, space: str) -> list[tuple[str, Any]]:
        values = dict(self.crosswalk.memory_items(space))
        for key, value in self._changed.get(space, {}).items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        return sorted(values.items())

    @property
    def unsaved(self) -> int:
        return self._unsaved

    @property
    def cached(self) -> int:
        return len(self._cache)

    def save(self) -> None:
        """Write every change since the last save (one transaction); they then join the cache."""
        changed, self._changed, self._unsaved = self._changed, {}, 0
        flat = {(space, key): value for space, values in changed.items() for key, value in values.items()}
        try:
            self.crosswalk.save_memory(flat)
        except BaseException:
            for space, values in self._changed.items():  # not saved: still to write, under what came since
                changed.setdefault(space, {}).update(values)
            self._changed = changed
            self._unsaved = sum(len(values) for values in changed.values())
            raise
        for at, value in flat.items():
            self._keep(at, ABSENT if value is None else value)

    def _keep(self, at: tuple[str, str], value: Any) -> None:
        self._cache[at] = value
        self._cache.move_to_end(at)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
