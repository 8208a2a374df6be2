"""Communications log rows: SMS, emails and memos (category codes as in the spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.generator import records
from sandbox.generator.context import Context, iso

CATEGORIES = {1: "Appointment Reminder", 3: "Invoice", 4: "Appointment Confirmation", 8: "Reply from Patient",
              10: "Cancelled appointment notification", 12: "Memo", 15: "Bulk Email"}
TYPES = {1: "SMS", 2: "Email", 3: "Phone call", 4: "Other"}
CLINIC_SMS = "HarbourPhys"
CLINIC_EMAIL = "reception@harbourphysio.example"
Row = tuple[str, int, dict[str, Any], dict[str, Any]]


def message(ctx: Context, *, kind: str, category: int, at: datetime, patient_id: int, content: str,
            to: str | None = None, sender: str | None = None, received: bool = False, subject: str | None = None,
            links: dict[str, int] | None = None, archived: bool = False, confidential: bool | None = None,
            type_code: int | None = None) -> Row:
    """One communication; `kind` is sms, email or memo."""
    cid = ctx.new_id("communications")
    code = type_code or {"sms": 1, "email": 2, "memo": 4}[kind]
    values: dict[str, Any] = {
        "category": CATEGORIES[category], "category_code": category, "content": content,
        "type": TYPES[code], "type_code": code, "archived_at": iso(at) if archived else None,
        "created_at": iso(at), "updated_at": iso(at),
    }
    if kind == "memo":
        values.update(confidential=confidential, direction_code=None, direction_description=None)
    else:
        values.update(direction_code=2 if received else 1, direction_description="Received" if received else "Sent",
                      to=to, **{"from": sender})
    if kind == "email":
        values["content_subject"] = subject
    body = records.communication(kind, id=str(cid), **values)
    return "communications", cid, body, {"patient_id": patient_id, **(links or {})}
