"""Find persons and products that already exist in Pipedrive before creating new ones.

One cheap bulk list per run (10 tokens per 500 objects, research notes §14) instead of a
20-token search per record; the index is built only when a record actually needs it.
Matching rules: the external-id custom field first; then persons by e-mail (and the same
name, because family members often share an address) and products by code. Several
candidates is ambiguous and is reported, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from target_pipedrive.errors import RecordError
from target_pipedrive.write.kinds import Api


class ExistingIndex:
    def __init__(self, api: Api, path: str, ext_key: str | None) -> None:
        self.api = api
        self.path = path
        self.ext_key = ext_key
        self._built = False
        self.by_ext: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.by_code: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def _build(self) -> None:
        if self._built:
            return
        params = {"custom_fields": self.ext_key} if self.ext_key else None
        for obj in self.api.list("v2", self.path, params):
            self.add(obj)
        self._built = True

    def add(self, obj: dict[str, Any]) -> None:
        """Index an existing or just created object by what a match reads: its id and name only. Each person
        the run creates is added, so the whole Pipedrive object kept here grew with the clinic (16 MB on the
        standard clinic, most of the target's memory beyond its imports)."""
        if obj.get("is_deleted"):
            return
        slim = {"id": obj["id"], "name": obj.get("name")}
        ext = (obj.get("custom_fields") or {}).get(self.ext_key) if self.ext_key else None
        if ext:
            self.by_ext[str(ext)].append(slim)
        for email in obj.get("emails") or []:
            value = email.get("value") if isinstance(email, dict) else email
            if value:
                self.by_email[str(value).strip().casefold()].append(slim)
        if obj.get("code"):
            self.by_code[str(obj["code"]).strip()].append(slim)

    def ext(self, value: str) -> list[dict[str, Any]]:
        self._build()
        return list(self.by_ext.get(value, []))

    def email(self, value: str) -> list[dict[str, Any]]:
        self._build()
        return list(self.by_email.get(value.strip().casefold(), []))

    def code(self, value: str) -> list[dict[str, Any]]:
        self._build()
        return list(self.by_code.get(value.strip(), []))


def _ids(objs: list[dict[str, Any]]) -> str:
    return ", ".join(str(o["id"]) for o in sorted(objs, key=lambda o: o["id"]))


def by_external_id(index: ExistingIndex, ext_value: str, claimed: set[int], label: str) -> dict[str, Any] | None:
    hits = index.ext(ext_value)
    if len(hits) > 1 or any(o["id"] in claimed for o in hits):
        raise RecordError("ambiguous_match", f"{len(hits)} Pipedrive {label}s carry this external id, or it is "
                                             f"already mapped to another record (ids {_ids(hits)})")
    return hits[0] if hits else None


def person_by_email(index: ExistingIndex, record: dict[str, Any],
                    claimed: set[int]) -> tuple[dict[str, Any] | None, str | None]:
    """(match, warning): the unmapped person with one of the record's e-mails and the same name."""
    candidates: dict[int, dict[str, Any]] = {}
    for email in record.get("emails") or []:
        for obj in index.email(str(email["value"])):
            if obj["id"] not in claimed:
                candidates[obj["id"]] = obj
    if not candidates:
        return None, None
    name = str(record.get("name", "")).strip().casefold()
    same = [o for o in candidates.values() if str(o.get("name", "")).strip().casefold() == name]
    if len(same) > 1:
        raise RecordError("ambiguous_match", f"{len(same)} Pipedrive persons share this e-mail and name "
                                             f"(ids {_ids(same)})")
    if same:
        return same[0], None
    return None, (f"{len(candidates)} existing person(s) with this e-mail have another name (ids "
                  f"{_ids(list(candidates.values()))}); a separate person was created")


def product_by_code(index: ExistingIndex, record: dict[str, Any], claimed: set[int]) -> dict[str, Any] | None:
    if not record.get("code"):
        return None
    hits = [o for o in index.code(str(record["code"])) if o["id"] not in claimed]
    if len(hits) > 1:
        raise RecordError("ambiguous_match", f"{len(hits)} Pipedrive products have this code (ids {_ids(hits)})")
    return hits[0] if hits else None
