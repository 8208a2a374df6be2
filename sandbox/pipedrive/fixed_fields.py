"""Field definitions of the kinds the sandbox only describes: notes, deals and organizations.

A reporting client reads `/noteFields`, `/dealFields` and `/organizationFields` before it reads the
objects, so the sandbox answers them with Pipedrive's standard (system) fields. The migration
writes no custom field on these kinds: notes have none in any API, and deals and organizations
do not exist in the sandbox (their lists are always empty, see `absent.py`). So these
definitions are constants, read-only here, in the same neutral shape as stored fields
(`fields.py` renders them), with ids in their own range so no database needs re-seeding.
"""

from __future__ import annotations

from typing import Any

FIXED_TIME = "2024-01-01T00:00:00Z"
FIRST_ID = {"note": 9001, "deal": 9101, "organization": 9201}

_S = tuple[str, str, str]  # key, name, field_type
FIXED: dict[str, list[_S]] = {
    "note": [
        ("id", "ID", "int"), ("content", "Content", "text"), ("user_id", "Author", "user"),
        ("deal_id", "Deal", "deal"), ("person_id", "Person", "people"), ("org_id", "Organization", "org"),
        ("lead_id", "Lead", "lead"), ("project_id", "Project", "project"), ("add_time", "Add time", "date"),
        ("update_time", "Update time", "date"), ("pinned_to_deal_flag", "Pinned to deal", "boolean"),
        ("pinned_to_person_flag", "Pinned to person", "boolean"),
        ("pinned_to_organization_flag", "Pinned to organization", "boolean"),
        ("pinned_to_lead_flag", "Pinned to lead", "boolean"),
        ("pinned_to_project_flag", "Pinned to project", "boolean"),
    ],
    "deal": [
        ("id", "ID", "int"), ("title", "Title", "varchar"), ("creator_user_id", "Creator", "user"),
        ("user_id", "Owner", "user"), ("value", "Value", "monetary"), ("currency", "Currency", "varchar_options"),
        ("weighted_value", "Weighted value", "monetary"), ("probability", "Probability", "double"),
        ("org_id", "Organization", "org"), ("pipeline", "Pipeline", "double"),
        ("person_id", "Contact person", "people"),
        ("stage_id", "Stage", "stage"), ("label", "Label", "set"), ("status", "Status", "status"),
        ("add_time", "Deal created", "date"), ("update_time", "Update time", "date"),
        ("stage_change_time", "Last stage change", "date"), ("next_activity_date", "Next activity date", "date"),
        ("last_activity_date", "Last activity date", "date"), ("won_time", "Won time", "date"),
        ("lost_time", "Lost time", "date"), ("close_time", "Deal closed on", "date"),
        ("lost_reason", "Lost reason", "varchar_options"), ("visible_to", "Visible to", "visible_to"),
        ("expected_close_date", "Expected close date", "date"), ("products_count", "Number of products", "int"),
        ("notes_count", "Number of notes", "int"), ("activities_count", "Total activities", "int"),
    ],
    "organization": [
        ("id", "ID", "int"), ("name", "Name", "varchar"), ("label_ids", "Labels", "set"),
        ("owner_id", "Owner", "user"), ("address", "Address", "address"), ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Organization created", "date"), ("update_time", "Update time", "date"),
        ("people_count", "People", "int"), ("open_deals_count", "Open deals", "int"),
        ("won_deals_count", "Won deals", "int"), ("lost_deals_count", "Lost deals", "int"),
        ("activities_count", "Total activities", "int"), ("notes_count", "Notes", "int"),
        ("next_activity_date", "Next activity date", "date"), ("last_activity_date", "Last activity date", "date"),
    ],
}
FIXED_OPTIONS: dict[tuple[str, str], list[tuple[int | str, str]]] = {
    ("deal", "status"): [("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("deleted", "Deleted")],
    ("deal", "label"): [(1, "Hot"), (2, "Warm"), (3, "Cold")],
    ("deal", "visible_to"): [(1, "Owner & followers"), (3, "Entire company")],
    ("organization", "label_ids"): [(5, "Customer"), (6, "Hot lead"), (7, "Warm lead"), (8, "Cold lead")],
    ("organization", "visible_to"): [(1, "Owner & followers"), (3, "Entire company")],
}
OPTION_KINDS = ("enum", "set", "status", "visible_to")


def fixed_fields(entity: str) -> list[dict[str, Any]]:
    """The entity's definitions, fresh dicts each call (callers may render them freely)."""
    out = []
    for order, (key, name, ftype) in enumerate(FIXED[entity], start=1):
        options = FIXED_OPTIONS.get((entity, key))
        out.append({
            "id": FIRST_ID[entity] + order - 1, "entity": entity, "key": key, "name": name, "field_type": ftype,
            "options": [{"id": i, "label": label, "color": None, "add_time": FIXED_TIME, "update_time": FIXED_TIME}
                        for i, label in options] if options else ([] if ftype in OPTION_KINDS else None),
            "is_custom": False, "active": True, "order_nr": order, "add_time": FIXED_TIME, "update_time": FIXED_TIME,
            "created_by_user_id": 1, "last_updated_by_user_id": 1, "add_visible_flag": True,
            "details_visible_flag": True, "important_flag": False, "mandatory_flag": key in ("title", "name"),
            "description": None,
        })
    return out
