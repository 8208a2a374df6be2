"""Typed access to the document store: id sequences, fetch-or-404, and the stored kinds.

Each document's body is exactly what its API serves (v2 shape for persons, activities and
products; v1 shape for notes, files, users, activity types). Field definitions are stored
in one neutral shape and rendered per API version by `fields.py`.
"""

from __future__ import annotations

from typing import Any

from sandbox.common.store import DocStore

KINDS = ("person", "activity", "product", "note", "file", "user", "activity_type", "field")
# names the admin endpoints accept for each kind
KIND_ALIASES = {
    "persons": "person", "activities": "activity", "products": "product", "notes": "note",
    "files": "file", "users": "user", "activity_types": "activity_type", "activityTypes": "activity_type",
    "fields": "field", **{k: k for k in KINDS},
}


class Repo:
    def __init__(self, store: DocStore) -> None:
        self.store = store
        store.create_index("ix_pd_update_time", "json_extract(body, '$.update_time')")
        store.create_index("ix_pd_person_id", "json_extract(body, '$.person_id')")

    def next_id(self, sequence: str) -> int:
        with self.store.lock:
            value = int(self.store.get_value(f"seq:{sequence}", 0)) + 1
            self.store.set_value(f"seq:{sequence}", value)
            return value

    def get(self, kind: str, doc_id: int) -> dict[str, Any] | None:
        found = self.store.get(kind, doc_id)
        return found[0] if found else None

    def put(self, kind: str, body: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
        self.store.put(kind, int(body["id"]), body, meta)
        return body

    def all(self, kind: str, where: str = "", params: tuple[Any, ...] = (), order: str = "id") -> list[dict[str, Any]]:
        return [body for body, _ in self.store.query(kind, where, params, order)]

    def page(self, kind: str, where: str, params: list[Any], order: str, limit: int,
             offset: int = 0) -> list[dict[str, Any]]:
        return [body for body, _ in self.store.query(kind, where, params, order, limit, offset)]

    def count(self, kind: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
        return self.store.count(kind, where, params)
