"""v1 renderings of the objects the sandbox stores in their v2 shape (persons, activities, products).

Only `/v1/recents` serves them this way: Pipedrive removed the v1 CRUD of these kinds, but its
change feed still answers in v1 terms. The differences that matter to a client: `HH:MM` times,
`YYYY-MM-DD HH:MM:SS` timestamps, `active_flag` instead of `is_deleted`, `user_id` as the activity's
owner, `email`/`phone` arrays on persons, and custom field values at the top level by their key.
"""

from __future__ import annotations

from typing import Any

from sandbox.pipedrive.clock import fmt_v1, parse_rfc3339


def v1_time(text: str | None) -> str | None:
    moment = parse_rfc3339(text) if text else None
    return fmt_v1(moment) if moment else text


def _hhmm(text: str | None) -> str:
    return text[:5] if text else ""


def person(body: dict[str, Any], company_id: int, owner_name: str) -> dict[str, Any]:
    return {
        "id": body["id"], "company_id": company_id, "active_flag": not body["is_deleted"], "name": body["name"],
        "first_name": body["first_name"], "last_name": body["last_name"], "phone": body["phones"],
        "email": body["emails"], "first_char": (body["name"][:1] or "").lower(), "add_time": v1_time(body["add_time"]),
        "update_time": v1_time(body["update_time"]), "visible_to": str(body["visible_to"]), "picture_id": None,
        "label_ids": body["label_ids"], "org_id": body["org_id"], "org_name": None, "owner_name": owner_name,
        "cc_email": None, **body.get("custom_fields", {}),
    }


def activity(body: dict[str, Any], company_id: int) -> dict[str, Any]:
    return {
        "id": body["id"], "company_id": company_id, "user_id": body["owner_id"], "done": body["done"],
        "type": body["type"], "subject": body["subject"], "due_date": body["due_date"],
        "due_time": _hhmm(body["due_time"]), "duration": _hhmm(body["duration"]), "busy_flag": body["busy"],
        "add_time": v1_time(body["add_time"]), "update_time": v1_time(body["update_time"]),
        "marked_as_done_time": v1_time(body["marked_as_done_time"]) or "", "note": body["note"] or "",
        "public_description": body["public_description"] or "", "person_id": body["person_id"],
        "org_id": body["org_id"], "deal_id": body["deal_id"], "lead_id": body["lead_id"],
        "project_id": body["project_id"], "active_flag": not body["is_deleted"],
        "participants": [{"person_id": p["person_id"], "primary_flag": p["primary"]} for p in body["participants"]],
        "created_by_user_id": body["creator_user_id"],
    }


def product(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": body["id"], "name": body["name"], "code": body["code"] or "", "unit": body["unit"] or "",
        "tax": body["tax"], "category": body["category"] or "", "active_flag": not body["is_deleted"],
        "selectable": body["is_linkable"], "first_char": (body["name"][:1] or "").lower(),
        "visible_to": body["visible_to"], "owner_id": body["owner_id"], "files_count": 0,
        "add_time": v1_time(body["add_time"]), "update_time": v1_time(body["update_time"]),
        "prices": [{k: v for k, v in p.items() if k != "direct_cost"} for p in body["prices"]],
        **body.get("custom_fields", {}),
    }
