"""Appointment status and how an appointment reads as a Pipedrive activity.

Cliniko has no single status field; it is derived from the record (cancelled_at,
did_not_arrive, arrival flags) and the clock. The map's `appointment_statuses` table
says, per status, whether the activity is done and how the status is labelled.
"""

from __future__ import annotations

from typing import Any

from cliniko_map.functions.dates import is_past
from cliniko_map.functions.html import text_html
from cliniko_map.functions.text import clean

STATUSES = ("cancelled", "did_not_arrive", "attended", "future")


def appointment_status(cancelled_at: Any = None, did_not_arrive: Any = None, arrived: Any = None,
                       ends_at: Any = None, now: Any = None) -> str:
    """cancelled > did_not_arrive > attended (arrived, or ended before `now`) > future.

    A past appointment nobody marked is counted as attended: clinics rarely tick
    "arrived", and a no-show is recorded explicitly in Cliniko.
    """
    if cancelled_at:
        return "cancelled"
    if did_not_arrive:
        return "did_not_arrive"
    if arrived or is_past(ends_at, now):
        return "attended"
    return "future"


def status_done(status: str, statuses: dict[str, dict[str, Any]]) -> bool:
    """Whether an activity with this status is marked done (from the map's table)."""
    return bool(statuses[status]["done"])


def status_label(status: str, statuses: dict[str, dict[str, Any]]) -> str:
    return str(statuses[status]["label"])


def appointment_subject(type_name: str | None, status: str, statuses: dict[str, dict[str, Any]],
                        fallback: str = "Appointment") -> str:
    """'Standard Consultation', or 'Standard Consultation (Cancelled)' when the status
    table says the status shows in the subject, so it is visible in every list."""
    name = clean(type_name) or fallback
    row = statuses[status]
    return f"{name} ({row['label']})" if row.get("in_subject") else name


def status_text(status: str, statuses: dict[str, dict[str, Any]], reason: str | None = None,
                note: str | None = None) -> str:
    """'Status: Cancelled - Sick: feeling unwell' (public_description)."""
    text = f"Status: {statuses[status]['label']}"
    detail = ": ".join(p for p in (clean(reason), clean(note)) if p) if status == "cancelled" else None
    return f"{text} - {detail}" if detail else text


def is_busy(status: str) -> bool:
    """A cancelled appointment no longer blocks the calendar."""
    return status != "cancelled"


def appointment_note(status_line: str | None = None, local_time: str | None = None, practitioner: str | None = None,
                     business: str | None = None, notes: str | None = None, telehealth_url: str | None = None,
                     archived_at: Any = None, group: str | None = None, treatment_notes: str | None = None) -> str:
    """The activity note: what a receptionist checks when reading it later (HTML); with the choice
    treatment_notes_on_appointments, the appointment's treatment notes (already HTML) follow."""
    rows = [("Status", status_line.removeprefix("Status: ") if status_line else None), ("Clinic time", local_time),
            ("Practitioner", practitioner), ("Location", business), ("Group appointment", group),
            ("Telehealth", telehealth_url), ("Archived in Cliniko", archived_at and str(archived_at))]
    lines = [f"<b>{label}:</b> {text_html(value)}" for label, value in rows if value]
    out = f"<p>{'<br>'.join(lines)}</p>" if lines else ""
    if notes and notes.strip():  # line breaks kept: appointment notes are often lists
        out += f"<p><b>Appointment notes:</b><br>{text_html(notes.strip())}</p>"
    if treatment_notes:
        out += f"<p><b>Treatment notes:</b></p>{treatment_notes}"
    return out or "<p>Appointment</p>"
