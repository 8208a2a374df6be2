"""The write rules, one per kind of record: what a person, product, activity, note, file, activity type or
custom field becomes in Pipedrive, and how an existing one is found.

Each rule builds the body (names resolved to ids: custom fields and options, users, activity types,
persons), then updates the mapped object, adopts a matching existing one (adopt.py) or creates one,
always through the write-ahead protocol (protocol.py). A rule raises RecordError for a problem of its
record (the writer audits it and goes on) and never writes anything itself.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any

from target_pipedrive.crosswalk import Crosswalk
from target_pipedrive.errors import RecordError
from target_pipedrive.settings import Settings
from target_pipedrive.write import payloads
from target_pipedrive.write.adopt import PLANNED_KEY, Adopter
from target_pipedrive.write.kinds import Api, FieldKind, Kind, kind_for
from target_pipedrive.write.matching import ExistingIndex, by_external_id, person_by_email, product_by_code
from target_pipedrive.write.plan import PlanLedger
from target_pipedrive.write.protocol import WriteProtocol
from target_pipedrive.write.resolve import TEXT_TYPES, FieldDef, Resolver

Warn = Callable[[str, str, str, str], None]  # (stream, source key, code, message)
MANUAL_FILE = "the file '{name}'"  # how a file to attach by hand is named in its audit message (labels.py reads it)


class ManualHandling(RecordError):
    """The record cannot go through the API at all and needs a person (audited as skipped, not failed)."""


class Rules:
    def __init__(self, api: Api, ledger: Crosswalk | PlanLedger, resolver: Resolver, protocol: WriteProtocol,
                 adopter: Adopter, settings: Settings, warn: Warn) -> None:
        self.api = api
        self.ledger = ledger
        self.resolver = resolver
        self.protocol = protocol
        self.adopter = adopter
        self.settings = settings
        self.dry_run = settings.dry_run
        self.warn = warn
        self._parents = threading.local()  # per thread: the parents' crosswalk rows of the record being written

    def write(self, stream: str, record: dict[str, Any], row: dict[str, Any] | None, digest: str,
              parents: dict[str, dict[str, Any]]) -> None:
        """Write one valid record whose persons exist (`parents`: their crosswalk rows, read once)."""
        handler = {"persons": self.person, "products": self.product, "activities": self.activity,
                   "notes": self.note, "files": self.file, "activity_types": self.activity_type,
                   "custom_fields": self.custom_field}[stream]
        self._parents.rows = parents
        try:
            handler(record, row, digest)
        finally:
            self._parents.rows = {}

    def _parent_row(self, ref: str) -> dict[str, Any] | None:
        row = getattr(self._parents, "rows", {}).get(ref)
        return row if row is not None else self.ledger.get("persons", ref)

    def _parent_id(self, ref: str) -> int:
        row = self._parent_row(ref)
        assert row is not None  # the writer holds a child back until its persons exist
        return int(row["pipedrive_id"])

    # -- persons and products ---------------------------------------------------------------------
    def person(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "persons")
        custom, ext_key, ext_value = self._custom_with_external_id("person", record)
        body = payloads.person_body(record, custom_fields=custom, owner_id=self._owner("persons", record),
                                    create=row is None)
        if row is not None:
            self.protocol.update(kind, record["source_key"], int(row["pipedrive_id"]), body, digest, "updated")
            return

        def find(index: ExistingIndex) -> dict[str, Any] | None:
            claimed = self.adopter.claimed("persons", index.ext(ext_value) + [
                o for e in record.get("emails") or [] for o in index.email(str(e["value"]))])
            existing = by_external_id(index, ext_value, claimed, "person")
            if existing is None:
                existing, warning = person_by_email(index, record, claimed)
                if warning:
                    self.warn("persons", record["source_key"], "email_shared", warning)
            return existing

        self.adopter.adopt_or_create(kind, record, find, body, digest, ext_key, ext_value)

    def product(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "products")
        custom, ext_key, ext_value = self._custom_with_external_id("product", record)
        body = payloads.product_body(record, custom_fields=custom, owner_id=self._owner("products", record))
        if row is not None:
            self.protocol.update(kind, record["source_key"], int(row["pipedrive_id"]), body, digest, "updated")
            return

        def find(index: ExistingIndex) -> dict[str, Any] | None:
            code_hits = index.code(str(record["code"])) if record.get("code") else []
            claimed = self.adopter.claimed("products", index.ext(ext_value) + code_hits)
            return by_external_id(index, ext_value, claimed, "product") or product_by_code(index, record, claimed)

        self.adopter.adopt_or_create(kind, record, find, body, digest, ext_key, ext_value)

    # -- children of a person -------------------------------------------------------------------------
    def activity(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "activities")
        type_key = None
        if record.get("type"):
            found = self.resolver.find_activity_type(str(record["type"]))
            if found is None:
                raise RecordError("unknown_activity_type", f"no active activity type is named '{record['type']}'")
            type_key = str(found["key_string"])
        participants: list[int] = []
        for ref in [record.get("person_source_key"), *(record.get("participant_source_keys") or [])]:
            if ref and (pid := self._parent_id(ref)) not in participants:
                participants.append(pid)
        body = payloads.activity_body(record, type_key=type_key, owner_id=self._owner("activities", record),
                                      participant_ids=participants)
        self._child(kind, record, row, digest, body, {"person_id": participants[0] if participants else None})

    def note(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "notes")
        person_id = self._parent_id(record["person_source_key"])
        user_id = self._owner("notes", record) if record.get("owner_email") else None
        body = payloads.note_body(record, person_id=person_id, user_id=user_id)
        self._child(kind, record, row, digest, body, {"person_id": person_id})

    def _child(self, kind: Kind, record: dict[str, Any], row: dict[str, Any] | None, digest: str,
               body: dict[str, Any], lookup: dict[str, Any]) -> None:
        key = record["source_key"]
        if row is not None:
            self.protocol.update(kind, key, int(row["pipedrive_id"]), body, digest, "updated")
            return
        with self.adopter.lock:
            parent = self._parent_row(record.get("person_source_key") or "")
            existing = self.adopter.under_matched_parent(kind, record, lookup, parent)
            if existing is not None:
                self.protocol.update(kind, key, int(existing["id"]), body, digest, "matched")
                return
        self.protocol.create(kind, key, body, digest, lookup, written=body)

    def file(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "files")
        key = record["source_key"]
        person_id = self._parent_id(record["person_source_key"])
        local = {"_sha256": record.get("sha256"), "_person_id": person_id}  # reports link the file to its person
        if row is not None:
            last = self.ledger.last_after_image("files", key) or {}
            # a plan that did not download the file cannot see its bytes: Cliniko's attachments never
            # change once uploaded, so one already migrated is priced as the rename check apply makes
            unseen = self.dry_run and not record.get("sha256")
            if unseen or last.get("_sha256") == record.get("sha256"):
                self.protocol.update(kind, key, int(row["pipedrive_id"]), {"name": record["file_name"]}, digest,
                                     "updated", local)
                return
            # Pipedrive cannot replace a file's bytes: the old version goes first, then the new one is
            # uploaded. A crash in between leaves the row pointing at a deleted file, which the next
            # run (the hash still differs) deletes again (404 is fine) and uploads: never two versions.
            content = self._read_file(record)
            kind.delete(int(row["pipedrive_id"]))
            self.protocol.create(kind, key, {"person_id": person_id, "file_name": record["file_name"],
                                             "content": content}, digest,
                                 {"person_id": person_id, "file_name": record["file_name"], "size": len(content)},
                                 written={"name": record["file_name"]}, local=local,
                                 before={"_replaces_file_id": int(row["pipedrive_id"])})
            return
        content = self._read_file(record)
        lookup = {"person_id": person_id, "file_name": record["file_name"], "size": len(content)}
        existing = self.adopter.under_matched_parent(kind, record, lookup,
                                                     self._parent_row(record["person_source_key"]))
        if existing is not None:
            self.protocol.update(kind, key, int(existing["id"]), {"name": record["file_name"]}, digest, "matched",
                                 local)
            return
        self.protocol.create(kind, key, {"person_id": person_id, "file_name": record["file_name"], "content": content},
                             digest, lookup, written={"name": record["file_name"]}, local=local)

    def _read_file(self, record: dict[str, Any]) -> bytes:
        """The file's bytes, checked. A plan that described the file from its metadata (no download: the map's
        `{context: planning}`) gets as many placeholder bytes as the metadata says, for the same checks."""
        if not record.get("local_path"):
            if not self.dry_run:
                raise RecordError("file_missing", "the record has no local_path (the file was not downloaded)")
            size = int(record.get("size") or 0)
            self._check_size(record, size)
            return bytes(min(size, 1))  # the plan sends nothing: its cost is per request, not per byte
        path = str(record["local_path"])
        if not os.path.isfile(path):
            raise RecordError("file_missing", "the staged file does not exist at local_path (a record saved by another "
                                              "machine's run? its attachments_dir and map_output_dir must be "
                                              "shared at the same path; or read it again: --full-refresh)")
        self._check_size(record, os.path.getsize(path))
        with open(path, "rb") as handle:
            content = handle.read()
        if hashlib.sha256(content).hexdigest() != record.get("sha256"):
            raise RecordError("checksum_mismatch", "the staged file's sha256 differs from the record's")
        return content

    def _check_size(self, record: dict[str, Any], size: int) -> None:
        if size > self.settings.max_file_size_bytes:
            limit_mb = self.settings.max_file_size_bytes / 1024 / 1024
            raise ManualHandling("file_too_large", f"{size / 1024 / 1024:.1f} MB is over Pipedrive's {limit_mb:g} MB "
                                                   "upload limit (max_file_size_mb): needs manual handling - attach "
                                                   f"{MANUAL_FILE.format(name=record['file_name'])} to "
                                                   f"{record['person_source_key']} by hand")

    # -- the schema: activity types and custom fields -----------------------------------------------
    def activity_type(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        kind = kind_for(self.api, "activity_types")
        key = record["source_key"]
        body = payloads.activity_type_body(record)
        existing = self.resolver.find_activity_type(record["name"], by_key=False)
        if existing is None:
            created = self.protocol.create(kind, key, body, digest, {"name": record["name"]}, written=body)
            if self.dry_run:
                self.resolver.add_planned_type({**created, "key_string": f"planned-{record['name']}"})
            else:
                self.resolver.remember_activity_type(created)
            return
        if row is None:  # a type the clinic already had: adopt it as it is, never restyle it
            self.protocol.update(kind, key, int(existing["id"]), {}, digest, "matched", current=existing)
            return
        self.protocol.update(kind, key, int(existing["id"]), {k: v for k, v in body.items() if k != "name"}, digest,
                             "updated", current=existing)

    def custom_field(self, record: dict[str, Any], row: dict[str, Any] | None, digest: str) -> None:
        entity = record["entity"]
        kind = FieldKind(self.api, entity)
        key = record["source_key"]
        local = {"_entity": entity}
        existing = self.resolver.find_field(entity, record["label"])
        if existing is None:
            created = self.protocol.create(kind, key, payloads.field_body(record), digest,
                                           {"name": record["label"], "entity": entity},
                                           written={"name": record["label"], "field_type": record["field_type"]},
                                           local=local)
            if self.dry_run:
                self._plan_field(entity, record, created)
            else:
                self.resolver.remember_field(entity, created)
            return
        if existing.field_type != record["field_type"]:
            raise RecordError("field_type_conflict", f"{entity} custom field '{record['label']}' exists with type "
                                                     f"{existing.field_type}, not {record['field_type']}")
        action = "updated" if row is not None else "matched"
        missing = [label for label in record.get("options") or [] if existing.option_id(label) is None]
        current = {"options": [{"id": i, "label": label} for label, i in existing.options.items()]}
        body = payloads.field_options_body(current["options"], missing) if missing else {}
        changed = self.protocol.update(kind, key, existing.id, body, digest, action, local, current=current)
        if changed and not self.dry_run:
            self.resolver.remember_field(entity, changed)

    def _plan_field(self, entity: str, record: dict[str, Any], created: dict[str, Any]) -> None:
        self.resolver.add_planned_field(entity, FieldDef(
            id=int(created["id"]), key=f"{PLANNED_KEY}{abs(int(created['id']))}", name=record["label"],
            field_type=record["field_type"], is_custom=True,
            options={label: -(n + 1) for n, label in enumerate(record.get("options") or [])}))

    # -- names to ids ---------------------------------------------------------------------------------
    def _custom_with_external_id(self, entity: str, record: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
        ext = self._external_id_field(entity)
        values = dict(record.get("custom_fields") or {})
        given = next((values.pop(label) for label in list(values) if label.casefold() == ext.name.casefold()), None)
        ext_value = str(given) if given not in (None, "") else str(record["source_key"])
        custom = self.resolver.custom_fields(entity, values)
        custom[ext.key] = ext_value
        return custom, ext.key, ext_value

    def _external_id_field(self, entity: str) -> FieldDef:
        """The text field holding the source key; created once, even when the first persons are written
        concurrently."""
        with self.adopter.lock:
            label = self.settings.external_id_field
            found = self.resolver.find_field(entity, label)
            if found is None:
                definition = {"source_key": f"target-pipedrive:external-id:{entity}", "entity": entity,
                              "label": label, "field_type": "varchar"}
                self.custom_field(definition, self.ledger.get("custom_fields", definition["source_key"]),
                                  payloads.payload_hash("custom_fields", definition))
                found = self.resolver.find_field(entity, label)
            if found is None or found.field_type not in TEXT_TYPES:
                raise RecordError("bad_external_id_field", f"the {entity} field '{label}' must be a text field")
            return found

    def _owner(self, stream: str, record: dict[str, Any]) -> int | None:
        email = record.get("owner_email")
        if email:
            user = self.resolver.user_id(str(email))
            if user is not None:
                return user
        fallback = self.settings.fallback_user_email
        if fallback:
            user = self.resolver.user_id(fallback)
            if user is None:
                self.warn(stream, record["source_key"], "fallback_user_unknown",
                          "fallback_user_email matches no active Pipedrive user; the API token's user owns it")
                return None
            if email:
                self.warn(stream, record["source_key"], "owner_fallback",
                          "owner_email matches no active Pipedrive user; fallback_user_email owns it")
            return user
        if email:
            self.warn(stream, record["source_key"], "owner_unknown",
                      "owner_email matches no active Pipedrive user; the API token's user owns it")
        return None
