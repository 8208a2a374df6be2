"""API mechanics per Pipedrive object type: read, create, update, delete, and find-after-crash.

Records and payloads are not known here (see writer.py); this module only knows which
endpoint and API version serves each object, how a deleted object looks, and how to
find an object a crash left unrecorded (recovery.py): persons and products by the
external-id custom field, notes and activities by the marker in their text, files by
name and size on their person, definitions by name.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from target_pipedrive.errors import ApiError
from target_pipedrive.pipedrive.client import PipedriveClient, token_cost
from target_pipedrive.write.payloads import has_marker

RECOVERY_MARGIN = timedelta(minutes=10)  # clock skew allowance when listing "updated since the intent"
Claimed = Callable[[list[int]], set[int]]  # which of these ids the crosswalk already maps


def since(started_at: str) -> str:
    """RFC 3339 without fractions (Pipedrive rejects them), a margin before `started_at`."""
    moment = datetime.fromisoformat(started_at.replace("Z", "+00:00")) - RECOVERY_MARGIN
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """Reads go to Pipedrive; in plan mode writes are only priced and simulated."""

    def __init__(self, client: PipedriveClient, dry_run: bool) -> None:
        self.client = client
        self.dry_run = dry_run
        self.planned_tokens = 0
        self.planned_writes = 0
        self._next_virtual = -1

    def read(self, version: str, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(version, path, params).get("data")

    def list(self, version: str, path: str, params: dict[str, Any] | None = None,
             limit: int = 500) -> list[dict[str, Any]]:
        return self.client.list_all(version, path, params, limit=limit)

    def write(self, method: str, version: str, path: str, *, json_body: Any = None, data: Any = None,
              files: Any = None) -> dict[str, Any]:
        if self.dry_run:
            self.planned_tokens += token_cost(method, version, path)
            self.planned_writes += 1
            fields = dict(json_body or data or {}) if isinstance(json_body or data or {}, dict) else {}
            if method == "POST":  # a virtual id, negative so it can never clash with Pipedrive's
                fields["id"] = self._next_virtual
                self._next_virtual -= 1
            return fields
        body = self.client.request(method, version, path, json_body=json_body, data=data, files=files)
        return body.get("data") or {}


class Kind:
    stream = ""
    label = ""

    def __init__(self, api: Api) -> None:
        self.api = api

    def get(self, pid: int) -> dict[str, Any] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def create(self, body: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, pid: int, body: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def delete(self, pid: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    newest_first = False  # which of several unmapped candidates to adopt

    def candidates(self, lookup: dict[str, Any]) -> list[dict[str, Any]]:  # pragma: no cover - abstract
        """Live objects that carry the marker of the intent described by `lookup`."""
        raise NotImplementedError

    def find_created(self, lookup: dict[str, Any], claimed: Claimed) -> dict[str, Any] | None:
        """The object a create left unrecorded: a candidate no other source record is mapped to."""
        found = self.candidates(lookup)
        taken = claimed([int(o["id"]) for o in found])
        free = [o for o in found if int(o["id"]) not in taken]
        if not free:
            return None
        return (max if self.newest_first else min)(free, key=lambda o: int(o["id"]))

    def _get_or_none(self, version: str, path: str) -> dict[str, Any] | None:
        try:
            obj = self.api.read(version, path)
        except ApiError as exc:
            if exc.status in (404, 410):
                return None
            raise
        if not isinstance(obj, dict) or obj.get("is_deleted") or obj.get("active_flag") is False:
            return None
        return obj

    def _delete(self, version: str, path: str) -> None:
        try:
            self.api.write("DELETE", version, path)
        except ApiError as exc:
            if exc.status not in (404, 410):
                raise


class V2Kind(Kind):
    path = ""

    def get(self, pid: int) -> dict[str, Any] | None:
        return self._get_or_none("v2", f"{self.path}/{pid}")

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("POST", "v2", self.path, json_body=body)

    def update(self, pid: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("PATCH", "v2", f"{self.path}/{pid}", json_body=body)

    def delete(self, pid: int) -> None:
        self._delete("v2", f"{self.path}/{pid}")


class ExternalIdKind(V2Kind):
    """Persons and products carry the source key in the external-id custom field."""

    def candidates(self, lookup: dict[str, Any]) -> list[dict[str, Any]]:
        key, ext_id = lookup.get("ext_key"), lookup.get("ext_id")
        if not key or not ext_id:
            return []
        items = self.api.list("v2", self.path, {"updated_since": since(lookup["started_at"]), "custom_fields": key})
        return [o for o in items if not o.get("is_deleted") and (o.get("custom_fields") or {}).get(key) == ext_id]


class PersonKind(ExternalIdKind):
    stream, label, path = "persons", "person", "/persons"


class ProductKind(ExternalIdKind):
    stream, label, path = "products", "product", "/products"


class ActivityKind(V2Kind):
    stream, label, path = "activities", "activity", "/activities"

    def candidates(self, lookup: dict[str, Any]) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"updated_since": since(lookup["started_at"])}
        if lookup.get("person_id"):
            params["person_id"] = lookup["person_id"]
        return [a for a in self.api.list("v2", self.path, params)
                if not a.get("is_deleted") and has_marker(a.get("note"), lookup["key"])]


class NoteKind(Kind):
    stream, label = "notes", "note"

    def get(self, pid: int) -> dict[str, Any] | None:
        return self._get_or_none("v1", f"/notes/{pid}")

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("POST", "v1", "/notes", json_body=body)

    def update(self, pid: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("PUT", "v1", f"/notes/{pid}", json_body=body)

    def delete(self, pid: int) -> None:
        self._delete("v1", f"/notes/{pid}")

    def candidates(self, lookup: dict[str, Any]) -> list[dict[str, Any]]:
        params = {"person_id": lookup["person_id"], "updated_since": since(lookup["started_at"])}
        return [n for n in self.api.list("v1", "/notes", params)
                if n.get("active_flag", True) and has_marker(n.get("content"), lookup["key"])]


class FileKind(Kind):
    stream, label = "files", "file"

    def get(self, pid: int) -> dict[str, Any] | None:
        return self._get_or_none("v1", f"/files/{pid}")

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body`: {"person_id", "file_name", "content" (bytes)} -> multipart upload."""
        return self.api.write("POST", "v1", "/files", data={"person_id": str(body["person_id"])},
                              files={"file": (body["file_name"], body["content"], "application/octet-stream")})

    def update(self, pid: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("PUT", "v1", f"/files/{pid}", data=body)

    def delete(self, pid: int) -> None:
        self._delete("v1", f"/files/{pid}")

    newest_first = True  # same name and size: the latest upload is the one the crash interrupted

    def candidates(self, lookup: dict[str, Any]) -> list[dict[str, Any]]:
        items = self.api.list("v1", f"/persons/{lookup['person_id']}/files", limit=100)  # spec max
        return [f for f in items if f.get("active_flag", True)
                and lookup["file_name"] in (f.get("file_name"), f.get("name"))
                and f.get("file_size") is not None and int(f["file_size"]) == int(lookup["size"])]  # 0: empty


class ActivityTypeKind(Kind):
    stream, label = "activity_types", "activity type"

    def _all(self) -> list[dict[str, Any]]:
        return self.api.read("v1", "/activityTypes") or []

    def get(self, pid: int) -> dict[str, Any] | None:
        found = [t for t in self._all() if t.get("id") == pid and t.get("active_flag", True)]
        return found[0] if found else None

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("POST", "v1", "/activityTypes", json_body=body)

    def update(self, pid: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("PUT", "v1", f"/activityTypes/{pid}", json_body=body)

    def delete(self, pid: int) -> None:
        self._delete("v1", f"/activityTypes/{pid}")

    def candidates(self, lookup: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in self._all() if t.get("active_flag", True) and t.get("name") == lookup["name"]]


class FieldKind(Kind):
    """Custom field definitions; `pipedrive_id` is the v1 numeric id, the key travels in images."""

    stream, label = "custom_fields", "custom field"
    PATHS = {"person": "/personFields", "product": "/productFields"}

    def __init__(self, api: Api, entity: str) -> None:
        super().__init__(api)
        self.path = self.PATHS[entity]

    def get(self, pid: int) -> dict[str, Any] | None:
        return self._get_or_none("v1", f"{self.path}/{pid}")

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("POST", "v1", self.path, json_body=body)

    def update(self, pid: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.write("PUT", "v1", f"{self.path}/{pid}", json_body=body)

    def delete(self, pid: int) -> None:
        self._delete("v1", f"{self.path}/{pid}")

    def candidates(self, lookup: dict[str, Any]) -> list[dict[str, Any]]:
        return [f for f in self.api.list("v1", self.path)
                if f.get("edit_flag") and f.get("active_flag", True) and f.get("name") == lookup["name"]]


def kind_for(api: Api, stream: str, entity: str | None = None) -> Kind:
    """The Kind serving a stream (custom_fields needs the entity: person or product)."""
    simple: dict[str, type[Kind]] = {"persons": PersonKind, "products": ProductKind, "activities": ActivityKind,
                                     "notes": NoteKind, "files": FileKind, "activity_types": ActivityTypeKind}
    if stream == "custom_fields":
        return FieldKind(api, entity or "person")
    return simple[stream](api)
