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
# Rollup parts are one value per patient (every invoice, every communication): large, read once per change
# and once at the end, so caching them only filled memory (480 MB at the end of the large clinic's run).
UNCACHED = ("group:",)


class CrosswalkMemory:
    def __init__(self, crosswalk: Crosswalk, cache_size: int = 10_000) -> None:
        self.crosswalk = crosswalk
        self.cache_size = cache_size
        self._changed: dict[tuple[str, str], Any] = {}  # since the last save; None: removed
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()  # saved values, most recent last

    def get(self, space: str, key: str) -> Any:
        at = (space, key)
        if at in self._changed:
            return self._changed[at]
        value = self._cache.get(at)
        if value is None:
            value = self.crosswalk.memory_value(space, key)
            self._keep(at, ABSENT if value is None else value)
            return value
        self._cache.move_to_end(at)
        return None if value is ABSENT else value

    def put(self, space: str, key: str, value: Any) -> None:
        at = (space, key)
        self._changed[at] = value
        self._cache.pop(at, None)

    def keys(self, space: str) -> list[str]:
        keys = set(self.crosswalk.memory_keys(space))
        for (changed_space, key), value in self._changed.items():
            if changed_space == space:
                (keys.discard if value is None else keys.add)(key)
        return sorted(keys)

    @property
    def unsaved(self) -> int:
        return len(self._changed)

    @property
    def cached(self) -> int:
        return len(self._cache)

    def save(self) -> None:
        """Write every change since the last save (one transaction); they then join the cache."""
        changed, self._changed = self._changed, {}
        try:
            self.crosswalk.save_memory(changed)
        except BaseException:
            self._changed = {**changed, **self._changed}  # not saved: still to write
            raise
        for at, value in changed.items():
            self._keep(at, ABSENT if value is None else value)

    def _keep(self, at: tuple[str, str], value: Any) -> None:
        if at[0].startswith(UNCACHED):
            return
        self._cache[at] = value
        self._cache.move_to_end(at)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
