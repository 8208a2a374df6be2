"""Group appointments (classes) and their attendees, some cancelled, some no-shows."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.generator import records
from sandbox.generator.activity import CANCEL_REASONS, Activity, Patient, local_slot
from sandbox.generator.context import iso

Row = tuple[str, int, dict[str, Any], dict[str, Any]]


def sessions(activity: Activity, pool: list[Patient]) -> Iterator[Row]:
    """Yield every group appointment with its attendees (and their notes/invoices)."""
    ctx, clinic = activity.ctx, activity.clinic
    rng = ctx.rng("groups")
    gtype = next(t for t in clinic.appointment_types if t["group"])
    instructors = [p for p in clinic.active_practitioners if p["group_instructor"]] or clinic.active_practitioners
    forced = ["archived", "deleted", "series", "cancelled_attendee"]
    if not pool:
        return
    for n in range(ctx.size.group_appointments):
        business = clinic.open_businesses[0] if rng.random() < 0.6 else rng.choice(clinic.open_businesses)
        zone = business["zone"]
        today = ctx.epoch.astimezone(ZoneInfo(zone)).date()
        day = today - timedelta(days=rng.randint(-30, 3 * 365))
        start = local_slot(zone, day, rng.choice((7, 12, 18)), 0)
        variant = forced.pop(0) if forced and n % 2 == 0 else None
        count = 3 if variant == "series" or rng.random() < 0.05 else 1
        parent: int | None = None
        for k in range(count):
            rows = _session(activity, rng, pool, business, gtype, rng.choice(instructors),
                            start + timedelta(weeks=k), variant if k == 0 else None, parent, count > 1)
            parent = parent or rows[0][1]
            yield from rows


def _session(activity: Activity, rng: random.Random, pool: list[Patient], business: dict[str, Any],
             gtype: dict[str, Any], prac: dict[str, Any], start: datetime, variant: str | None, parent: int | None,
             in_series: bool) -> list[Row]:
    ctx = activity.ctx
    gid = ctx.new_id("group_appointments")
    end = start + timedelta(minutes=gtype["minutes"])
    created = min(start - timedelta(days=rng.randint(1, 20)), ctx.epoch - timedelta(hours=1))
    eligible = [p for p in rng.sample(pool, min(len(pool), 12)) if p.created < created]
    people = eligible[: rng.randint(2, 8)]
    past = end < ctx.epoch
    rows: list[Row] = []
    booked: list[str] = []
    latest = created
    for i, p in enumerate(people):
        att_id = ctx.new_id("attendees")
        cancelled = (variant == "cancelled_attendee" and i == 0) or rng.random() < 0.12
        arrived = past and not cancelled and rng.random() < 0.88
        joined = min(max(p.created, created + timedelta(hours=rng.randint(0, 48))), start)
        values: dict[str, Any] = {
            "arrived": arrived, "notes": None, "online_booking_policy_accepted": None, "booking_ip_address": None,
            "email_reminder_sent": past, "sms_reminder_sent": past, "sent_email_reminders_count": int(past),
            "sent_sms_reminders_count": int(past and rng.random() < 0.5), "sent_email_follow_ups_count": 0,
            "sent_sms_follow_ups_count": 0, "telehealth_url": None,
            "cancellation_url": None if past else f"https://bookings.example/cancel/{att_id}",
        }
        updated = joined
        if cancelled:
            reason = rng.choice(tuple(CANCEL_REASONS))
            at = min(max(joined, start - timedelta(hours=rng.randint(2, 48))), ctx.epoch)
            values.update(cancelled_at=iso(at), cancellation_reason=reason,
                          cancellation_reason_description=CANCEL_REASONS[reason], cancellation_note=None)
            updated = at
            if variant == "cancelled_attendee":
                ctx.mark("attendee_cancelled", "attendees", att_id)
        else:
            booked.append(str(p.id))
        appt: dict[str, Any] = {}
        if arrived:
            events: list[datetime] = [updated]
            activity._note(p, rng, start, gid, prac, gtype, appt, events, rows, attendee_id=att_id)
            activity._invoice(p, rng, start, gid, prac, gtype, appt, "arrived", rows, attendee_id=att_id)
            updated = max(events)
        values["invoice_status"] = appt.get("invoice_status")
        values["treatment_note_status"] = appt.get("treatment_note_status")
        latest = max(latest, updated)
        rows.append(("attendees", att_id, records.make(
            "attendees", id=str(att_id), created_at=iso(joined), updated_at=iso(min(updated, ctx.epoch)), **values),
            {"patient_id": p.id, "booking_id": gid, "appointment_id": gid}))
    gone = min(latest + timedelta(days=1), ctx.epoch)
    body = records.make(
        "group_appointments", id=str(gid), starts_at=iso(start), ends_at=iso(end), max_attendees=8,
        notes="Bring a mat" if rng.random() < 0.2 else None, patient_ids=booked, telehealth_url=None,
        repeat_rule={"repeat_type": "Weekly", "number_of_repeats": 3, "repeating_interval": 1} if in_series else None,
        archived_at=iso(gone) if variant == "archived" else None,
        deleted_at=iso(gone) if variant == "deleted" else None,
        created_at=iso(created), updated_at=iso(gone if variant in ("archived", "deleted") else min(latest, ctx.epoch)),
    )
    meta: dict[str, Any] = {"practitioner_id": prac["id"], "business_id": business["id"],
                            "appointment_type_id": gtype["id"]}
    if in_series and parent is None:
        meta["repeats_of"] = gid
    if parent is not None:
        meta["repeated_from_id"] = parent
    if variant in ("archived", "deleted", "series"):
        ctx.mark(f"group_appointment_{variant}", "group_appointments", gid)
    return [("group_appointments", gid, body, meta), *rows]
