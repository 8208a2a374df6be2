"""Field definitions per entity: standard fields plus custom fields with account-specific keys.

Custom field keys are 40-hex strings derived from the account's seed and a counter, so
each sandbox database has its own keys (nothing can hard-code them) while a fixed
`--seed-value` still makes a run repeatable. Option ids come from one account-wide
counter that starts at a seed-derived offset. One stored shape is rendered as the v1
(`key`, `name`, `edit_flag`, numeric `id`) or v2 (`field_code`, `field_name`,
`is_custom_field`) representation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.pipedrive.clock import Clock, fmt_v1, parse_rfc3339
from sandbox.pipedrive.fixed_fields import FIXED, fixed_fields
from sandbox.pipedrive.repo import Repo

ENTITIES = ("person", "product", "activity")  # stored; notes, deals and organizations: fixed_fields.py
WRITABLE_ENTITIES = ("person", "product")  # activity fields are read-only in every spec
V2_CREATE_TYPES = ("varchar", "text", "double", "phone", "date", "daterange", "time", "timerange", "set", "enum",
                   "varchar_auto", "address", "monetary", "org", "people", "user")
V1_CREATE_TYPES = (*V2_CREATE_TYPES, "visible_to")
OPTION_TYPES = ("enum", "set")
SEARCHABLE_TYPES = ("address", "varchar", "text", "varchar_auto", "double", "monetary", "phone")
ADDRESS_PARTS = ("street_number", "route", "subpremise", "sublocality", "locality", "admin_area_level_1",
                 "admin_area_level_2", "country", "postal_code", "formatted_address")
SUBFIELDS = {
    "address": [("value", "varchar")] + [(p, "varchar") for p in ADDRESS_PARTS],
    "monetary": [("value", "double"), ("currency", "varchar")],
    "daterange": [("value", "date"), ("until", "date")],
    "timerange": [("value", "time"), ("until", "time")],
}
SEED_TIME = "2024-01-01T00:00:00Z"

_S = tuple[str, str, str]  # key, name, field_type
STANDARD: dict[str, list[_S]] = {
    "person": [
        ("name", "Name", "varchar"), ("first_name", "First name", "varchar"), ("last_name", "Last name", "varchar"),
        ("label_ids", "Labels", "set"), ("org_id", "Organization", "org"), ("owner_id", "Owner", "user"),
        ("emails", "Email", "varchar"), ("phones", "Phone", "phone"), ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Person created", "date"), ("update_time", "Update time", "date"),
        ("postal_address", "Postal address", "address"), ("birthday", "Birthday", "date"),
        ("job_title", "Job title", "varchar"), ("notes", "Notes", "text"), ("im", "Instant messenger", "varchar"),
        ("picture_id", "Profile picture", "picture"),
    ],
    "product": [
        ("name", "Name", "varchar"), ("code", "Product code", "varchar"), ("description", "Description", "text"),
        ("unit", "Unit", "varchar"), ("tax", "Tax", "double"), ("category", "Category", "enum"),
        ("owner_id", "Owner", "user"), ("is_linkable", "Linkable", "boolean"),
        ("visible_to", "Visible to", "visible_to"), ("prices", "Price", "price_list"),
        ("billing_frequency", "Billing frequency", "billing_frequency"),
        ("add_time", "Product created", "date"), ("update_time", "Update time", "date"),
    ],
    "activity": [
        ("subject", "Subject", "varchar"), ("type", "Type", "varchar_options"), ("due_date", "Due date", "date"),
        ("due_time", "Due time", "time"), ("duration", "Duration", "time"), ("owner_id", "Assigned to user", "user"),
        ("person_id", "Contact person", "people"), ("org_id", "Organization", "org"), ("deal_id", "Deal", "deal"),
        ("lead_id", "Lead", "lead"), ("project_id", "Project", "project"), ("done", "Done", "boolean"),
        ("busy", "Free/busy", "boolean"), ("location", "Location", "address"),
        ("public_description", "Public description", "text"), ("note", "Note", "text"),
        ("priority", "Priority", "enum"), ("add_time", "Add time", "date"), ("update_time", "Update time", "date"),
        ("marked_as_done_time", "Marked as done time", "date"),
    ],
}
STANDARD_OPTIONS: dict[tuple[str, str], list[str]] = {
    ("person", "label_ids"): ["Customer", "Hot lead", "Warm lead", "Cold lead"],
    ("activity", "priority"): ["High", "Medium", "Low"],
}
VISIBILITY_OPTIONS = [(1, "Owner & followers"), (3, "Entire company")]
# The v1 `*Fields` responses type `field_type` with the creatable types only (productFields even
# without `visible_to`; its own example shows it as `double`), so v1 renders other system types so
V1_TYPES = {"boolean": "enum", "price_list": "monetary", "billing_frequency": "enum", "picture": "varchar",
            "varchar_options": "enum", "deal": "double", "project": "double", "lead": "varchar", "int": "double",
            "status": "enum", "stage": "double"}


def v1_type(entity: str, field_type: str) -> str:
    if entity == "product" and field_type == "visible_to":
        return "double"
    return V1_TYPES.get(field_type, field_type)


def field_key(seed: str, number: int) -> str:
    return hashlib.sha1(f"{seed}:field:{number}".encode(), usedforsecurity=False).hexdigest()


def option_base(seed: str) -> int:
    return 100 + int(hashlib.sha1(f"{seed}:options".encode(), usedforsecurity=False).hexdigest()[:6], 16) % 9000


class Fields:
    """Reads and writes field definitions (kind `field`)."""

    def __init__(self, repo: Repo, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock

    @property
    def seed(self) -> str:
        return str(self.repo.store.get_value("account", {}).get("seed_value", ""))

    # -- seeding ------------------------------------------------------------------
    def seed_standard(self) -> None:
        self.repo.store.set_value("seq:option", option_base(self.seed))
        for entity, specs in STANDARD.items():
            for order, (key, name, ftype) in enumerate(specs, start=1):
                options: list[dict[str, Any]] | None = None
                if key == "visible_to":
                    options = [self._option(i, label, SEED_TIME) for i, label in VISIBILITY_OPTIONS]
                elif (entity, key) in STANDARD_OPTIONS:
                    options = [self._option(self.repo.next_id("option"), label, SEED_TIME)
                               for label in STANDARD_OPTIONS[(entity, key)]]
                elif ftype in OPTION_TYPES:
                    options = []
                self._store_new(entity, key, name, ftype, options, custom=False, order=order, now=SEED_TIME)

    # -- queries --------------------------------------------------------------------
    def list(self, entity: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        if entity in FIXED:
            return fixed_fields(entity)
        where = "json_extract(body, '$.entity') = ?"
        if not include_deleted:
            where += " AND json_extract(body, '$.active') = 1"
        return self.repo.all("field", where, (entity,))

    def custom(self, entity: str) -> dict[str, dict[str, Any]]:
        """Active custom fields of an entity by key."""
        return {f["key"]: f for f in self.list(entity) if f["is_custom"]}

    def by_key(self, entity: str, key: str) -> dict[str, Any] | None:
        for f in self.list(entity):
            if f["key"] == key:
                return f
        return None

    def by_id(self, entity: str, field_id: int) -> dict[str, Any] | None:
        if entity in FIXED:
            return next((f for f in fixed_fields(entity) if f["id"] == field_id), None)
        found = self.repo.get("field", field_id)
        return found if found and found["entity"] == entity and found["active"] else None

    # -- changes ----------------------------------------------------------------------
    def create(self, entity: str, name: str, field_type: str, labels: list[str], user_id: int,
               add_visible: bool = False) -> dict[str, Any]:
        now = self.clock.v2()
        options = [self._option(self.repo.next_id("option"), label, now) for label in labels] \
            if field_type in OPTION_TYPES else None
        order = len(self.list(entity, include_deleted=True)) + 1
        return self._store_new(entity, None, name, field_type, options, custom=True, order=order, now=now,
                               user_id=user_id, add_visible=add_visible)

    def save(self, field: dict[str, Any], user_id: int | None = None) -> dict[str, Any]:
        field["update_time"] = self.clock.v2()
        if user_id is not None:
            field["last_updated_by_user_id"] = user_id
        return self.repo.put("field", field)

    def new_option(self, label: str) -> dict[str, Any]:
        return self._option(self.repo.next_id("option"), label, self.clock.v2())

    def _option(self, option_id: int, label: str, now: str) -> dict[str, Any]:
        return {"id": option_id, "label": label, "color": None, "add_time": now, "update_time": now}

    def _store_new(self, entity: str, key: str | None, name: str, ftype: str, options: list[dict[str, Any]] | None,
                   custom: bool, order: int, now: str, user_id: int = 1, add_visible: bool = True) -> dict[str, Any]:
        field_id = self.repo.next_id("field")
        body = {
            "id": field_id, "entity": entity, "key": key or field_key(self.seed, field_id), "name": name,
            "field_type": ftype, "options": options, "is_custom": custom, "active": True, "order_nr": order,
            "add_time": now, "update_time": now, "created_by_user_id": user_id, "last_updated_by_user_id": user_id,
            "add_visible_flag": add_visible, "details_visible_flag": True, "important_flag": False,
            "mandatory_flag": key == "name", "description": None,
        }
        return self.repo.put("field", body)


# -- rendering ------------------------------------------------------------------------------
def _v1_time(text: str) -> str:
    moment = parse_rfc3339(text)
    return fmt_v1(moment) if moment else text


def render_v1(field: dict[str, Any]) -> dict[str, Any]:
    options = field["options"]
    body = {
        "id": field["id"], "key": field["key"], "name": field["name"], "order_nr": field["order_nr"],
        "field_type": v1_type(field["entity"], field["field_type"]), "add_time": _v1_time(field["add_time"]),
        "update_time": _v1_time(field["update_time"]), "last_updated_by_user_id": field["last_updated_by_user_id"],
        "created_by_user_id": field["created_by_user_id"], "active_flag": field["active"],
        "edit_flag": field["is_custom"], "index_visible_flag": True,
        "details_visible_flag": field["details_visible_flag"], "add_visible_flag": field["add_visible_flag"],
        "important_flag": field["important_flag"], "bulk_edit_allowed": True,
        "searchable_flag": field["field_type"] in SEARCHABLE_TYPES, "filtering_allowed": True,
        "sortable_flag": True, "mandatory_flag": field["mandatory_flag"],
        "options": [{"id": o["id"], "label": o["label"]} for o in options] if options is not None else None,
    }
    if field["field_type"] in SUBFIELDS and field["is_custom"]:
        body["subfields"] = [{"key": f"{field['key']}_{code}" if code != "value" else field["key"],
                              "name": f"{code} of {field['name']}", "field_type": ftype}
                             for code, ftype in SUBFIELDS[field["field_type"]]]
    return body


def render_v2(field: dict[str, Any], include: tuple[str, ...] = ()) -> dict[str, Any]:
    options = field["options"]
    body: dict[str, Any] = {
        "field_name": field["name"], "field_code": field["key"], "description": field["description"],
        "field_type": field["field_type"],
        "options": [dict(o) for o in options] if options is not None else None,
        "subfields": [{"field_code": code, "field_name": f"{code} of {field['name']}", "field_type": ftype}
                      for code, ftype in SUBFIELDS[field["field_type"]]] if field["field_type"] in SUBFIELDS else None,
        "is_custom_field": field["is_custom"], "is_optional_response_field": False,
    }
    if "ui_visibility" in include:
        body["ui_visibility"] = {"add_visible_flag": field["add_visible_flag"],
                                 "details_visible_flag": field["details_visible_flag"]}
        if field["entity"] == "person":
            body["ui_visibility"]["show_in_add_deal_dialog"] = {"show": False, "order": None}
    if "important_fields" in include and field["entity"] == "person":
        body["important_fields"] = {"enabled": field["important_flag"], "stage_ids": []}
    if "required_fields" in include and field["entity"] == "person":
        body["required_fields"] = {"enabled": field["mandatory_flag"]}
    return body
