"""Where the map's memory lives: named spaces of small JSON values by key.

The map only ever asks for one value by key, stores one, or lists a space (the few reference
tables it scans, the patients whose rollups must be recomputed, one patient's rollup parts).
So a caller can keep that memory anywhere that answers those questions: in this process
(`DictMemory`, the default, also what `export_state` writes out) or in a database with a
bounded cache (target-pipedrive keeps it as crosswalk rows, so its memory does not grow
with the clinic).
"""

from __future__ import annotations

from typing import Any, Protocol


class Memory(Protocol):
    def get(self, space: str, key: str) -> Any:
        """The value stored under `key`, or None. The caller may change it only to `put` it back."""

    def put(self, space: str, key: str, value: Any) -> None:
        """Store a JSON-able value; None removes the key."""

    def keys(self, space: str) -> list[str]:
        """Every key of the space, sorted."""

    def items(self, space: str) -> list[tuple[str, Any]]:
        """Every (key, value) of the space, sorted by key: a small space read whole (one rollup group)."""


class DictMemory:
    """The whole memory in this process, as plain dicts."""

    def __init__(self, spaces: dict[str, dict[str, Any]] | None = None) -> None:
        self.spaces: dict[str, dict[str, Any]] = spaces if spaces is not None else {}

    def get(self, space: str, key: str) -> Any:
        values = self.spaces.get(space)
        return None if values is None else values.get(key)

    def put(self, space: str, key: str, value: Any) -> None:
        if value is None:
            self.spaces.get(space, {}).pop(key, None)
        else:
            self.spaces.setdefault(space, {})[key] = value

    def keys(self, space: str) -> list[str]:
        return sorted(self.spaces.get(space, ()))

    def items(self, space: str) -> list[tuple[str, Any]]:
        return sorted(self.spaces.get(space, {}).items())
