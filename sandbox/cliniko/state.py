"""The emulator's data: loading a clinic, finding rows, and the changes admin routes make.

All writes go through here so they keep rows schema-shaped (only known fields, relation
ids in meta, UTC second-precision timestamps) and always bump `updated_at`, as Cliniko
does when anything about a record changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from datetime import UTC, datetime
from typing import Any

from sandbox.cliniko import resources
from sandbox.cliniko.errors import ApiError
from sandbox.common.store import DocStore
from sandbox.generator import files, load, records
from sandbox.generator.context import make_id

_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
INDEXES = {
    "docs_created": "json_extract(body, '$.created_at'), id",
    "docs_updated": "json_extract(body, '$.updated_at'), id",
    "docs_patient": "json_extract(meta, '$.patient_id')",
}


_CACHEABLE = ("small", "none")
_TEMPLATES: dict[tuple[str, int], DocStore] = {}
_TEMPLATE_LOCK = threading.Lock()


def now() -> str:
    """Wall-clock UTC, second precision, in Cliniko's format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def resource_of(name: str) -> resources.Resource:
    try:
        return resources.get(name)
    except KeyError:
        raise ApiError(404, f"unknown resource {name!r}; served: {', '.join(resources.RESOURCES)}") from None


class State:
    def __init__(self, store: DocStore) -> None:
        self.store = store

    # -- loading -------------------------------------------------------------------
    def reset(self, size: str, seed: int) -> dict[str, Any]:
        """Wipe and generate; indexes are rebuilt after the bulk insert (much faster).

        Small in-memory clinics are generated once per process and copied afterwards, so
        a test suite can afford a fresh sandbox per test.
        """
        if self.store.path == ":memory:" and size in _CACHEABLE:
            with _TEMPLATE_LOCK:
                template = _TEMPLATES.get((size, seed))
                if template is None:
                    template = DocStore(":memory:")
                    State(template)._generate(size, seed)
                    _TEMPLATES[(size, seed)] = template
            template.copy_to(self.store)
            return self.summary()
        return self._generate(size, seed)

    def _generate(self, size: str, seed: int) -> dict[str, Any]:
        for name in INDEXES:
            self.store.execute(f"DROP INDEX IF EXISTS {name}")
        summary = load(self.store, size, seed)
        self.ensure_indexes()
        return summary

    def ensure_indexes(self) -> None:
        for name, expr in INDEXES.items():
            self.store.create_index(name, expr)
        # without statistics SQLite answers a keyset "same updated_at, id > X" page from the primary
        # key, reading every row of the resource: a page of tied rows cost 40 ms on the standard clinic
        self.store.execute("ANALYZE")

    def has_data(self) -> bool:
        return self.store.get_value("clinic") is not None

    def summary(self) -> dict[str, Any]:
        return self.store.get_value("clinic", {})

    # -- reads -----------------------------------------------------------------------
    def find(self, resource: str, row_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        found = self.store.get(resource, row_id)
        if found is None:
            raise ApiError(404, f"no {resource} with id {row_id}")
        return found

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for res in resources.RESOURCES.values():
            parts = ["COUNT(*)"] + [f"COALESCE(SUM({resources.column_sql(f)} IS NOT NULL), 0)" for f in res.soft]
            visible = " AND ".join(f"{resources.column_sql(f)} IS NULL" for f in res.soft) or "1"
            if res.name == "practitioners":
                parts.append("COALESCE(SUM(json_extract(body, '$.active') = 0), 0)")
                visible = "json_extract(body, '$.active') = 1"
            parts.append(f"COALESCE(SUM({visible}), 0)")
            row = self.store.execute(f"SELECT {', '.join(parts)} FROM docs WHERE kind = ?", (res.name,))[0]
            entry = {"total": row[0]}
            entry.update({f.removesuffix("_at"): row[i + 1] for i, f in enumerate(res.soft)})
            if res.name == "practitioners":
                entry["inactive"] = row[-2]
            entry["visible"] = row[-1]
            out[res.name] = entry
        return out

    # -- writes ----------------------------------------------------------------------
    def _apply(self, res: resources.Resource, body: dict[str, Any], meta: dict[str, Any],
               values: dict[str, Any]) -> None:
        plain = set(records.fields(res.name)) - {"id"}
        for key, value in values.items():
            if key in res.relation_keys:
                if value is not None and not re.fullmatch(r"\d{1,19}", str(value)):
                    raise _bad(f"{key} must be an id (digits) or null, got {value!r}")
                meta[key] = None if value is None else int(value)
            elif key in plain:
                if key.endswith("_at") and value is not None and not _STAMP.match(str(value)):
                    raise _bad(f"{key} must look like 2024-01-31T23:59:59Z, got {value!r}")
                body[key] = value
            else:
                raise _bad(f"{res.name} has no field {key!r}")

    def mutate(self, resource: str, row_id: Any, changes: dict[str, Any], updated_at: str | None = None
               ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Change fields/relations of a row and bump updated_at (to `updated_at` or now)."""
        res = resource_of(resource)
        if updated_at is not None and not _STAMP.match(str(updated_at)):
            raise _bad(f"updated_at must look like 2024-01-31T23:59:59Z, got {updated_at!r}")
        if not isinstance(changes, dict):
            raise _bad("set must be an object of field: value")
        with self.store.lock:
            body, meta = self.find(resource, _row_id(row_id))
            self._apply(res, body, meta, changes)
            body["updated_at"] = updated_at or changes.get("updated_at") or now()
            self.store.put(resource, int(body["id"]), body, meta)
        return body, meta

    def soft_delete(self, resource: str, row_id: Any, field: str,
                    **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Archive, cancel or delete: set the timestamp (now) on a resource that has it."""
        res = resource_of(resource)
        if field not in res.soft:
            having = [r.name for r in resources.RESOURCES.values() if field in r.soft]
            raise _bad(f"{resource} cannot be {field.removesuffix('_at')} (only {', '.join(having)} have {field})")
        stamp = now()
        return self.mutate(resource, row_id, {field: stamp, **extra}, stamp)

    def remove(self, resource: str, row_id: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Delete a row for good, as Cliniko does for join rows (no tap sees it go); returns it."""
        res = resource_of(resource)
        if not res.hard_delete:
            raise _bad(f"{resource} rows are never removed in Cliniko")
        with self.store.lock:
            body, meta = self.find(resource, _row_id(row_id))
            self.store.delete(resource, int(body["id"]))
        return body, meta

    def create(self, resource: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Insert a row with a server-assigned id and created_at = updated_at = now."""
        res = resource_of(resource)
        if not isinstance(values, dict):
            raise _bad("body must be an object of field: value")
        values = dict(values)
        blob = values.pop("content_base64", None) if resource == "patient_attachments" else None
        stamp = now()
        with self.store.lock:
            counters = self.store.get_value("id_counters", {})
            seq = counters.get(resource, 0) + 1
            counters[resource] = seq
            salt = (int(self.summary().get("seed", 0)) * 2654435761) % 2**52
            row_id = make_id(resource, seq, salt)
            meta: dict[str, Any] = {}
            plain = {k: v for k, v in values.items() if k not in res.relation_keys and k != "id"}
            relations = {k: v for k, v in values.items() if k in res.relation_keys}
            try:
                body = records.blank(resource, stamp, **plain)
            except KeyError as exc:
                raise _bad(str(exc.args[0])) from None
            body.update(id=str(row_id), created_at=stamp, updated_at=stamp)
            self._apply(res, body, meta, {**relations, **{k: v for k, v in plain.items() if k in body}})
            if blob is not None:
                self._attach(body, meta, row_id, blob)
            self.store.put(resource, row_id, body, meta)
            self.store.set_value("id_counters", counters)
        return body, meta

    def _attach(self, body: dict[str, Any], meta: dict[str, Any], row_id: int, blob: str) -> None:
        try:
            data = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("content_base64 is not valid base64") from None
        ctype = body.get("content_type") or "application/octet-stream"
        self.store.put_blob(str(row_id), data, ctype)
        body.update(content_type=ctype, size=len(data), processing_completed=True,
                    filename=body.get("filename") or "upload.bin", processed_at=body["created_at"])
        meta.update(content_of=row_id, streamed=False, size=len(data), content_type=ctype,
                    sha256=hashlib.sha256(data).hexdigest())

    # -- attachment bytes --------------------------------------------------------------
    def attachment_info(self, row_id: int) -> dict[str, Any]:
        body, meta = self.find("patient_attachments", row_id)
        if not meta.get("content_of"):
            raise ApiError(404, "attachment has no content (still processing)")
        info = {"id": body["id"], "filename": body["filename"], "content_type": meta["content_type"],
                "size": meta["size"], "streamed": bool(meta.get("streamed"))}
        digest = meta.get("sha256")
        if digest is None:
            seed = int(self.summary().get("seed", 0))
            if info["streamed"]:
                digest = files.sha256(seed, row_id, meta["size"], meta["content_type"])
            else:
                blob = self.store.get_blob(str(row_id))
                digest = hashlib.sha256(blob[0] if blob else b"").hexdigest()
            with self.store.lock:  # cache only: meta is never served, updated_at stays
                body, meta = self.find("patient_attachments", row_id)
                meta["sha256"] = digest
                self.store.put("patient_attachments", row_id, body, meta)
        info["sha256"] = digest
        return info


def _row_id(value: Any) -> int:
    if not re.fullmatch(r"\d{1,19}", str(value)):
        raise _bad(f"id must be digits, got {value!r}")
    return int(value)
