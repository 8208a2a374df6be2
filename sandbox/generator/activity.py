"""Everything that happens to one patient: appointments, notes, invoices, messages, files.

Appointments are booked at local clinic hours in the business's time zone and stored in
UTC, so the same 9:00 slot moves in UTC across daylight-saving changes. "Must exist"
variants (a cancelled appointment, a draft note, an invoice of every status, ...) are
handed out first from `Forced` queues, so even the small clinic has each of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.generator import billing, comms, files, notes, records
from sandbox.generator.context import Context, iso
from sandbox.generator.setup import Clinic

Row = tuple[str, int, dict[str, Any], dict[str, Any]]
CANCEL_REASONS = {10: "Feeling Better", 20: "Condition Worse", 30: "Sick", 31: "COVID-19 related", 40: "Away",
                  50: "Other", 60: "Work"}
TEMPLATE_IDS = {"Initial Assessment": 100_000_000_000_000_901, "Standard Consultation": 100_000_000_000_000_902}
ALERTS = ("Allergy: penicillin", "Latex allergy", "Pacemaker - no TENS or ultrasound", "Type 1 diabetes",
          "Anticoagulants (warfarin)", "History of falls", "Pregnant - 2nd trimester", "Osteoporosis")


@dataclass
class Blob:
    """Attachment bytes to store beside the docs (files under the streaming threshold)."""

    key: str
    data: bytes
    content_type: str


@dataclass
class Forced:
    """Variants every clinic must contain; each queue is consumed by the first candidates."""

    queues: dict[str, list[Any]] = field(default_factory=lambda: {
        "appointment": ["cancelled", "did_not_arrive", "archived", "deleted", "series", "inactive_practitioner"],
        "note": ["draft", "hostile", "archived", "deleted", "no_content", "full"],
        "invoice_status": [10, 20, 30, 40],
        "invoice": ["archived", "deleted"],
        "alert": ["archived", "deleted"],
        "case": ["dva", "medicare", "closed", "archived"],
        "memo": ["confidential", "archived"],
        "attachment": [*files.ODD_FILES, "processing", "archived", "full_patient_export"],
    })

    def take(self, kind: str) -> Any:
        queue = self.queues[kind]
        return queue.pop(0) if queue else None


@dataclass
class Patient:
    id: int
    first_name: str
    label: str
    created: datetime
    business: dict[str, Any]
    email: str | None
    mobile: str | None
    flags: set[str]


def local_slot(zone: str, day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


class Activity:
    def __init__(self, ctx: Context, clinic: Clinic) -> None:
        self.ctx = ctx
        self.clinic = clinic
        self.forced = Forced()
        size = ctx.size
        self.p_note = min(1.0, size.note_ratio / 0.8)
        self.p_invoice = min(1.0, size.invoice_ratio / 0.8)
        self.blobs: list[Blob] = []
        self.individual_types = [t for t in clinic.appointment_types if not t["group"]]
        self.inactive = next(pr for pr in clinic.practitioners if not pr["active"])

    # -- one patient -----------------------------------------------------------------
    def patient_rows(self, p: Patient, rng: random.Random) -> tuple[list[Row], int | None]:
        """All rows that hang off patient `p`, and the id of their latest booking."""
        rows: list[Row] = []
        case_id = self._case(p, rng, rows)
        latest: tuple[datetime, int] | None = None
        n = rng.randint(0, round(2 * self.ctx.size.appointments_per_patient))
        if "deleted" in p.flags:
            n = min(n, 2)
        first = True
        for _ in range(n):
            start = self._start(p, rng)
            series = self.forced.take("appointment") if rng.random() < 0.5 else None
            count = 3 if series == "series" or (series is None and rng.random() < 0.04) else 1
            parent: int | None = None
            for k in range(count):
                aid, ok = self._appointment(p, rng, start + timedelta(weeks=k), rows, series if k == 0 else None,
                                            parent, count > 1, case_id, first)
                parent = parent or aid
                first = False
                if ok and (latest is None or start > latest[0]):
                    latest = (start, aid)
        if "dst" in p.flags:
            self._dst_appointments(p, rng, rows)
        self._patient_messages(p, rng, rows)
        self._alerts(p, rng, rows)
        self._attachments(p, rng, rows)
        return rows, latest[1] if latest else None

    def _start(self, p: Patient, rng: random.Random) -> datetime:
        zone = p.business["zone"]
        today = self.ctx.epoch.astimezone(ZoneInfo(zone)).date()
        age = max(1, (self.ctx.epoch - p.created).days - 1)
        for _ in range(5):
            day = today - timedelta(days=rng.randint(-60, age))
            start = local_slot(zone, day, rng.randint(7, 18), rng.choice((0, 15, 30, 45)))
            if start > p.created + timedelta(hours=2):
                return start
        return (p.created + timedelta(days=1)).replace(minute=0, second=0)

    def _practitioner(self, rng: random.Random, start: datetime, variant: str | None) -> dict[str, Any]:
        inactive = self.inactive
        if start < inactive["left"] and (variant == "inactive_practitioner" or rng.random() < 0.15):
            return inactive
        return rng.choice(self.clinic.active_practitioners)

    def _appointment(self, p: Patient, rng: random.Random, start: datetime, rows: list[Row], variant: str | None,
                     parent: int | None, in_series: bool, case_id: int | None, first: bool) -> tuple[int, bool]:
        ctx = self.ctx
        kinds = self.individual_types
        atype = kinds[0] if first else rng.choice(kinds)
        if atype["archived"] and start > ctx.epoch - timedelta(days=300):
            atype = kinds[1]
        prac = self._practitioner(rng, start, variant)
        end = start + timedelta(minutes=atype["minutes"])
        aid = ctx.new_id("individual_appointments")
        created = min(max(p.created + timedelta(minutes=5), start - timedelta(hours=rng.uniform(1, 24 * 30))),
                      start, ctx.epoch - timedelta(minutes=1))
        past = end < ctx.epoch
        r = rng.random()
        status = variant if variant in ("cancelled", "did_not_arrive") else (
            ("cancelled" if r < 0.08 else "did_not_arrive" if r < 0.14 else "arrived") if past
            else ("cancelled" if r < 0.05 else "booked"))
        events = [created]
        values: dict[str, Any] = {
            "starts_at": iso(start), "ends_at": iso(end), "patient_name": p.label,
            "notes": "Bring previous scans" if rng.random() < 0.05 else None, "did_not_arrive": False,
            "patient_arrived": status == "arrived", "email_reminder_sent": past and rng.random() < 0.7,
            "sms_reminder_sent": past and rng.random() < 0.6, "has_patient_appointment_notes": False,
            "online_booking_policy_accepted": True if rng.random() < 0.3 else None,
            "booking_ip_address": f"203.0.113.{rng.randint(1, 254)}" if rng.random() < 0.3 else None,
            "telehealth_url": f"https://telehealth.example/r/{aid}" if atype["telehealth"] else None,
            "repeat_rule": {"repeat_type": "Weekly", "number_of_repeats": 3, "repeating_interval": 1}
            if in_series else None,
        }
        if status == "cancelled":
            reason = rng.choice(tuple(CANCEL_REASONS))
            cancelled = min(max(created, start - timedelta(hours=rng.uniform(1, 72))), ctx.epoch)
            events.append(cancelled)
            values.update(cancelled_at=iso(cancelled), cancellation_reason=reason,
                          cancellation_reason_description=CANCEL_REASONS[reason],
                          cancellation_note="Called to cancel" if rng.random() < 0.5 else None)
        elif status == "did_not_arrive":
            values["did_not_arrive"] = True
            events.append(min(end + timedelta(minutes=30), ctx.epoch))
        elif status == "arrived":
            events.append(min(start + timedelta(minutes=2), ctx.epoch))
        if variant in ("archived", "deleted") or (past and rng.random() < 0.01):
            moment = max(events) + timedelta(days=1)
            moment = min(moment, ctx.epoch)
            values["archived_at" if variant != "deleted" else "deleted_at"] = iso(moment)
            events.append(moment)
        meta: dict[str, Any] = {"patient_id": p.id, "practitioner_id": prac["id"], "business_id": p.business["id"],
                                "appointment_type_id": atype["id"]}
        if in_series and parent is None:
            meta["repeats_of"] = aid
        if parent is not None:
            meta["repeated_from_id"] = parent
        if case_id is not None and rng.random() < 0.5:
            meta["patient_case_id"] = case_id
        if status == "arrived":
            self._note(p, rng, start, aid, prac, atype, values, events, rows)
        if status == "arrived" or (status == "did_not_arrive" and rng.random() < 0.3):
            self._invoice(p, rng, start, aid, prac, atype, values, status, rows)
        self._reminders(p, rng, start, aid, status, atype, rows, first)
        values["updated_at"] = iso(min(max(events) + timedelta(seconds=rng.randint(0, 600)), ctx.epoch))
        body = records.make("individual_appointments", id=str(aid), created_at=iso(created), **values)
        rows.append(("individual_appointments", aid, body, meta))
        if variant and variant != "inactive_practitioner":
            ctx.mark(f"appointment_{variant}", "individual_appointments", aid)
        if prac["active"] is False:
            ctx.mark("appointment_of_inactive_practitioner", "individual_appointments", aid)
        return aid, status != "cancelled" and not values.get("archived_at") and not values.get("deleted_at")

    def _note(self, p: Patient, rng: random.Random, start: datetime, booking: int, prac: dict[str, Any],
              atype: dict[str, Any], appt: dict[str, Any], events: list[datetime], rows: list[Row],
              attendee_id: int | None = None) -> None:
        variant = self.forced.take("note") if rng.random() < 0.5 else None
        if variant is None and rng.random() >= self.p_note:
            return
        ctx = self.ctx
        nid = ctx.new_id("treatment_notes")
        written = min(start + timedelta(minutes=rng.randint(20, 600)), ctx.epoch)
        draft = variant == "draft" or (variant is None and (written > ctx.epoch - timedelta(days=7)
                                                             or rng.random() < 0.05))
        local_day = start.astimezone(ZoneInfo(p.business["zone"])).date()
        full = variant in ("hostile", "full") or atype["name"].startswith("Initial")
        title = "Initial Assessment" if full else "Standard Consultation"
        content = None if variant == "no_content" else (
            notes.full_assessment(rng, local_day, hostile=variant == "hostile") if full
            else notes.follow_up(rng, local_day))
        finalized = None if draft else min(written + timedelta(minutes=rng.randint(1, 300)), ctx.epoch)
        updated = finalized or written
        archived = deleted = None
        if variant == "archived":
            archived = updated = ctx.epoch - timedelta(days=5)
        elif variant == "deleted":
            deleted = updated = ctx.epoch - timedelta(days=4)
        body = records.make(
            "treatment_notes", id=str(nid), title=title, author_name=prac["name"], content=content, draft=draft,
            finalized_at=iso(finalized) if finalized else None,
            pinned_at=iso(updated) if rng.random() < 0.02 else None,
            archived_at=iso(archived) if archived else None, deleted_at=iso(deleted) if deleted else None,
            created_at=iso(written), updated_at=iso(updated),
        )
        meta = {"patient_id": p.id, "practitioner_id": prac["id"], "booking_id": booking,
                "attendee_id": attendee_id, "treatment_note_template_id": TEMPLATE_IDS[title]}
        rows.append(("treatment_notes", nid, body, meta))
        appt["treatment_note_status"] = 10 if draft else 90
        events.append(updated)
        if variant:
            ctx.mark(f"note_{variant}", "treatment_notes", nid)

    def _invoice(self, p: Patient, rng: random.Random, start: datetime, booking: int, prac: dict[str, Any],
                 atype: dict[str, Any], appt: dict[str, Any], status: str, rows: list[Row],
                 attendee_id: int | None = None) -> None:
        forced_status = self.forced.take("invoice_status")
        variant = None if forced_status else (self.forced.take("invoice") if rng.random() < 0.3 else None)
        if forced_status is None and variant is None and rng.random() >= self.p_invoice:
            return
        bill = atype["billable"]
        lines: list[dict[str, Any]] = [{"name": bill["name"], "code": bill["code"], "price": bill["price"],
                                        "billable_item_id": bill["id"]}]
        if status == "did_not_arrive":
            fee = next(b for b in self.clinic.billable_items if b["code"] == "DNA-FEE")
            lines = [{"name": fee["name"], "code": fee["code"], "price": fee["price"], "billable_item_id": fee["id"],
                      "taxable": False}]
        elif rng.random() < 0.2:
            prod = rng.choice(self.clinic.products)
            lines.append({"name": prod["name"], "code": prod["code"], "price": prod["price"], "product_id": prod["id"],
                          "quantity": rng.randint(1, 2)})
        local_day = start.astimezone(ZoneInfo(p.business["zone"])).date().isoformat()
        code = forced_status or billing.pick_status(rng)
        meta = {"patient_id": p.id, "practitioner_id": prac["id"], "business_id": p.business["id"],
                "appointment_id": booking, "attendee_id": attendee_id}
        made = billing.invoice(self.ctx, rng, issued=start + timedelta(minutes=atype["minutes"]), local_day=local_day,
                               status=code, lines=lines, meta=meta, patient_label=p.label, variant=variant)
        rows.extend(made)
        appt["invoice_status"] = code
        if p.email and rng.random() < 0.3:
            rows.append(comms.message(
                self.ctx, kind="email", category=3, at=min(start + timedelta(hours=2), self.ctx.epoch),
                patient_id=p.id, to=p.email, sender=comms.CLINIC_EMAIL, subject="Your invoice",
                content=f"Hi {p.first_name}, please find your invoice attached.", links={"invoice_id": made[0][1]}))

    def _reminders(self, p: Patient, rng: random.Random, start: datetime, booking: int, status: str,
                   atype: dict[str, Any], rows: list[Row], first: bool) -> None:
        ctx = self.ctx
        local = start.astimezone(ZoneInfo(p.business["zone"]))
        when = local.strftime("%a %d %b at %I:%M %p")
        sent = start - timedelta(days=1)
        if sent > ctx.epoch:
            return
        if p.mobile and (first or rng.random() < 0.15):
            rows.append(comms.message(
                ctx, kind="sms", category=1, at=sent, patient_id=p.id, to=p.mobile, sender=comms.CLINIC_SMS,
                content=f"Hi {p.first_name}, reminder: {atype['name']} {when}. Reply Y to confirm.",
                links={"booking_id": booking}))
            if first or rng.random() < 0.1:
                rows.append(comms.message(
                    ctx, kind="sms", category=8, at=sent + timedelta(minutes=rng.randint(1, 300)), patient_id=p.id,
                    to=comms.CLINIC_SMS, sender=p.mobile, received=True, content=rng.choice(("Y", "y thanks 👍",
                                                                                            "Can we move it?")),
                    links={"booking_id": booking}))
        if p.email and (first or rng.random() < 0.05):
            category = 10 if status == "cancelled" else 4
            rows.append(comms.message(
                ctx, kind="email", category=category, at=sent - timedelta(days=rng.randint(0, 10)), patient_id=p.id,
                to=p.email, sender=comms.CLINIC_EMAIL, subject=comms.CATEGORIES[category],
                content=f"<p>Dear {p.first_name},</p><p>{atype['name']} on {when}.</p>",
                links={"booking_id": booking}))

    # -- per-patient extras ----------------------------------------------------------------
    def _case(self, p: Patient, rng: random.Random, rows: list[Row]) -> int | None:
        variant = self.forced.take("case") if rng.random() < 0.5 else None
        if variant is None and rng.random() >= 0.1:
            return None
        ctx = self.ctx
        cid = ctx.new_id("patient_cases")
        issued = max(p.created, ctx.epoch - timedelta(days=rng.randint(30, 700)))
        referral_type = variant if variant in ("dva", "medicare") else rng.choice(("dva", "medicare", None))
        closed = variant == "closed" or rng.random() < 0.2
        updated = issued + timedelta(days=1)
        body = records.make(
            "patient_cases", id=str(cid),
            name={"dva": "DVA - left knee", "medicare": "Medicare EPC - lower back"}.get(
                referral_type or "", "Workplace injury claim"),
            notes="Referral on file" if rng.random() < 0.5 else None,
            referral=referral_type is not None, referral_type=referral_type, issue_date=issued.date().isoformat(),
            expiry_date=(issued + timedelta(days=365)).date().isoformat() if referral_type else None,
            max_sessions=12 if referral_type == "dva" else 5 if referral_type == "medicare" else None,
            max_invoiceable_amount="1200.00" if referral_type is None else None,
            include_cancelled_attendees=False, include_dna_attendees=True, attendee_ids=[], closed=closed,
            closed_at=iso(updated) if closed else None,
            archived_at=iso(ctx.epoch - timedelta(days=2)) if variant == "archived" else None,
            created_at=iso(issued), updated_at=iso(ctx.epoch - timedelta(days=2) if variant == "archived" else updated),
        )
        contact = rng.choice(self.clinic.payers or self.clinic.doctors) if self.clinic.payers else None
        rows.append(("patient_cases", cid, body, {"patient_id": p.id, "contact_id": contact}))
        if variant:
            ctx.mark(f"case_{variant}", "patient_cases", cid)
        return cid

    def _patient_messages(self, p: Patient, rng: random.Random, rows: list[Row]) -> None:
        variant = self.forced.take("memo") if rng.random() < 0.6 else None
        if variant is None and rng.random() >= 0.3:
            return
        at = self.ctx.ago(rng, 1, max(2, (self.ctx.epoch - p.created).days))
        rows.append(comms.message(
            self.ctx, kind="memo", category=12, at=max(at, p.created), patient_id=p.id,
            type_code=3 if rng.random() < 0.5 else 4, confidential=variant == "confidential" or rng.random() < 0.1,
            archived=variant == "archived", content=f"Phoned {p.first_name} about rescheduling; left voicemail."))
        if variant:
            self.ctx.mark(f"memo_{variant}", "communications", rows[-1][1])

    def _alerts(self, p: Patient, rng: random.Random, rows: list[Row]) -> None:
        variant = self.forced.take("alert") if rng.random() < 0.6 else None
        if variant is None and rng.random() >= 0.2:
            return
        for k in range(1 if variant else rng.randint(1, 2)):
            mid = self.ctx.new_id("medical_alerts")
            at = max(p.created, self.ctx.ago(rng, 3, 900))
            gone = self.ctx.epoch - timedelta(days=1)
            rows.append(("medical_alerts", mid, records.make(
                "medical_alerts", id=str(mid), name=ALERTS[(k + rng.randrange(len(ALERTS))) % len(ALERTS)],
                archived_at=iso(gone) if variant == "archived" else None,
                deleted_at=iso(gone) if variant == "deleted" else None, created_at=iso(at),
                updated_at=iso(gone if variant else at)), {"patient_id": p.id}))
            if variant:
                self.ctx.mark(f"medical_alert_{variant}", "medical_alerts", mid)

    def _attachments(self, p: Patient, rng: random.Random, rows: list[Row]) -> None:
        ctx = self.ctx
        todo: list[Any] = []
        forced = self.forced.take("attachment")
        if forced is not None:
            todo.append(forced)
        if rng.random() < ctx.size.attachment_ratio:
            todo.append(None)
        for item in todo:
            aid = ctx.new_id("patient_attachments")
            uploaded = max(p.created + timedelta(minutes=10), ctx.ago(rng, 1, 1000))
            key, name, ctype, size = (item if isinstance(item, tuple) else (None, *rng.choice(files.ORDINARY), None))
            if item == "full_patient_export":
                key, name, ctype = "file_full_patient_export", f"Full patient export - {p.label}.zip", \
                    "application/zip"
            size = files.random_size(rng, ctype) if size is None else size
            processing = item == "processing"
            meta: dict[str, Any] = {"patient_id": p.id, "user_id": rng.choice(self.clinic.user_ids),
                                    "size": size, "content_type": ctype}
            if not processing:
                meta["content_of"] = aid
                meta["streamed"] = size > files.STREAM_THRESHOLD
                if not meta["streamed"]:
                    data = files.content(ctx.seed, aid, size, ctype)
                    self.blobs.append(Blob(str(aid), data, ctype))
            body = records.make(
                "patient_attachments", id=str(aid), filename=None if processing else name,
                content_type=None if processing else ctype, size=None if processing else size,
                description="Uploaded by patient via online form" if rng.random() < 0.3 else None,
                processing_completed=not processing, processed_at=None if processing else iso(uploaded),
                archived_at=iso(ctx.epoch - timedelta(days=1)) if item == "archived" else None,
                pinned_at=None, created_at=iso(uploaded),
                updated_at=iso(ctx.epoch - timedelta(days=1)) if item == "archived" else iso(uploaded),
            )
            rows.append(("patient_attachments", aid, body, meta))
            if key or isinstance(item, str):
                ctx.mark(key or f"file_{item}", "patient_attachments", aid)

    def _dst_appointments(self, p: Patient, rng: random.Random, rows: list[Row]) -> None:
        """Same local slot either side of each recent DST change, and one booking spanning it."""
        zone = ZoneInfo(p.business["zone"])
        day = self.ctx.epoch.astimezone(zone).date()
        found = 0
        for back in range(1, 500):
            d = day - timedelta(days=back)
            before = datetime(d.year, d.month, d.day, 0, 0, tzinfo=zone).utcoffset()
            after = datetime(d.year, d.month, d.day, 12, 0, tzinfo=zone).utcoffset()
            if before == after:
                continue
            found += 1
            kinds = [t for t in self.clinic.appointment_types if not t["group"] and not t["archived"]]
            for offset, hour, minute in ((-1, 9, 0), (1, 9, 0), (0, 1, 0)):
                start = local_slot(p.business["zone"], d + timedelta(days=offset), hour, minute)
                aid, _ = self._appointment(p, rng, start, rows, None, None, False, None, False)
                if offset == 0:  # on call through the switch: 150 real minutes
                    body = rows[-1][2]
                    body["ends_at"] = iso(start + timedelta(minutes=150))
                    rows[-1][3]["appointment_type_id"] = kinds[0]["id"]
                    self.ctx.mark(f"appointment_dst_span_{p.business['key']}_{found}", "individual_appointments", aid)
            if found == 2:
                return
