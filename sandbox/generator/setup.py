"""Account-level objects: settings, users, practitioners, businesses, services, contacts.

These are few and everything else points at them, so they are built first and kept in
a `Clinic` lookup the per-patient generator draws from.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sandbox.generator import pools, records
from sandbox.generator.context import Context, iso

Row = tuple[str, int, dict[str, Any], dict[str, Any]]

TAX_ID = 100_000_000_000_000_777  # GST; the taxes resource itself is not served
SUPPLIER_ID = 100_000_000_000_000_778

BUSINESSES = (
    # key, name, country, label time zone, IANA zone, archived, deleted
    ("sydney", "Harbour Physio Sydney", "AU", "Sydney", "Australia/Sydney", False, False),
    ("auckland", "Ponsonby Physio Auckland", "NZ", "Auckland", "Pacific/Auckland", False, False),
    ("new_york", "Brooklyn Physio & Rehab", "US", "Eastern Time (US & Canada)", "America/New_York", False, False),
    ("closed", "Parramatta Clinic (closed)", "AU", "Sydney", "Australia/Sydney", True, False),
    ("deleted", "Test location - do not use", "AU", "Sydney", "Australia/Sydney", False, True),
)

APPOINTMENT_TYPES = (
    # name, minutes, price, max attendees, category, archived, telehealth
    ("Initial Consultation", 60, "120.00", 1, "Physiotherapy", False, False),
    ("Standard Consultation", 30, "85.00", 1, "Physiotherapy", False, False),
    ("Extended Consultation", 45, "105.00", 1, "Physiotherapy", False, False),
    ("Telehealth Review", 30, "75.00", 1, "Telehealth", False, True),
    ("Pilates Class", 55, "35.00", 8, "Classes", False, False),
    ("Remedial Massage (legacy)", 60, "95.00", 1, "Massage", True, False),
)

PRODUCTS = (
    ("Theraband - medium", "TB-M", "18.00", False), ("Heat pack", "HP-1", "24.50", False),
    ("Foam roller 90cm", "FR-90", "49.95", False), ("Kinesiology tape", "KT-5", "14.00", False),
    ("Lumbar support cushion", "LSC", "65.00", False), ("Discontinued ankle brace", "AB-OLD", "39.00", True),
)

EXTRA_BILLABLE = (
    ("Dry needling add-on", "DN", "Service", "25.00", False), ("Report writing (per 15 min)", "RPT", "Other", "45.00",
                                                                False),
    ("Missed appointment fee", "DNA-FEE", "Other", "50.00", False), ("Home visit travel", "TRAVEL", "Other",
                                                                     "40.00", True),
)


@dataclass
class Clinic:
    """Ids and facts later generators need; small (account-sized), never per-patient."""

    admin_user_id: int = 0
    businesses: list[dict[str, Any]] = field(default_factory=list)
    practitioners: list[dict[str, Any]] = field(default_factory=list)
    appointment_types: list[dict[str, Any]] = field(default_factory=list)
    billable_items: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    doctors: list[int] = field(default_factory=list)
    payers: list[int] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    user_ids: list[int] = field(default_factory=list)

    @property
    def open_businesses(self) -> list[dict[str, Any]]:
        return [b for b in self.businesses if not b["archived"] and not b["deleted"]]

    @property
    def active_practitioners(self) -> list[dict[str, Any]]:
        return [p for p in self.practitioners if p["active"]]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def custom_fields_definition(rng: random.Random) -> dict[str, Any]:
    """The account's patient custom fields: an insurance section plus every other field type."""

    def options(*names: str, archived: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return [{"archived": n in archived, "name": n, "token": _uuid(rng)} for n in names]

    return {"sections": [
        {"name": "Insurance coverage", "token": _uuid(rng), "archived": False, "fields": [
            {"name": "Provider", "type": "radiobuttons", "token": _uuid(rng), "archived": False,
             "other": {"enabled": True, "archived": False},
             "options": options("Medibank", "Bupa", "HCF", "nib", "Southern Cross", "Aetna", "Old Fund",
                                archived=("Old Fund",))},
            {"name": "Policy number", "type": "text", "token": _uuid(rng), "archived": False},
            {"name": "Group", "type": "text", "token": _uuid(rng), "archived": False},
            {"name": "Coverage details", "type": "paragraph", "token": _uuid(rng), "archived": False},
            {"name": "Insurance type", "type": "radiobuttons", "token": _uuid(rng), "archived": False,
             "other": {"enabled": False, "archived": False},
             "options": options("Private health", "Workers compensation", "Motor vehicle accident", "Medicare EPC",
                                "DVA", "ACC")},
        ]},
        {"name": "Intake", "token": _uuid(rng), "archived": False, "fields": [
            {"name": "Referral date", "type": "date", "token": _uuid(rng), "archived": False},
            {"name": "How did you hear about us?", "type": "checkboxes", "token": _uuid(rng), "archived": False,
             "other": {"enabled": True, "archived": False},
             "options": options("Google", "Friend", "Doctor", "Social media")},
            {"name": "Legacy allergy notes", "type": "paragraph", "token": _uuid(rng), "archived": True},
        ]},
        {"name": "Old section", "token": _uuid(rng), "archived": True, "fields": [
            {"name": "Fax number", "type": "text", "token": _uuid(rng), "archived": True},
        ]},
    ]}


def settings(ctx: Context, custom: dict[str, Any]) -> dict[str, Any]:
    """The Settings object (`GET /settings`)."""
    return {
        "account": {
            "compliance": {"has_hipaa_compliance_conflicts": False, "hipaa_compliance-conflict_messages": []},
            "country": "Australia", "country_code": "AU", "currency_symbol": "$",
            "email_from": "reception@harbourphysio.example", "first_name": "Alex", "last_name": "Owner",
            "has_time_travelers": False, "id": str(10**17 + 4242), "name": "Harbour Physio Group",
            "subdomain": "harbour-physio", "time_zone_support": True,
        },
        "calendar": {"end_hour": 20, "multiple_appointments_gap": False, "show_current_time_indicator": True,
                     "start_hour": 7, "timeslot_height_in_pixels": 24, "timeslot_size_in_minutes": 15},
        "documents_and_printing": {"logo_height": 80, "logo_url": None},
        "integrations": {"mail_chimp": {"enabled": False}, "medipass": {"enabled": True}, "xero": {"enabled": True}},
        "online_bookings": {
            "adroll": {"advertiser_id": None, "pixel_id": None}, "allow_bookings_days_in_advance": 90,
            "allow_online_bookings_time_zone_choice": True, "booking_reservation_minutes": 10,
            "calendar_info": None, "daily_bookings_limit": 0, "disabled_text": None, "disabled_title": None,
            "enabled": True, "google_analytics": {"tracking_id": None}, "google_tag_manager": {"container_id": None},
            "logo_url": None, "max_appointments_per_day_segment": 0, "min_hours_advance_required_to_book": 2,
            "min_hours_notice_for_patient_cancellation": 24, "notice_enabled": False, "notice_text": None,
            "notice_title": None, "notify_practitioner_by_email": True, "notify_practitioner_by_sms": False,
            "policy": "Cancellations need 24 hours' notice.", "practitioner_order": None,
            "privacy_policy_url": "https://harbourphysio.example/privacy", "require_patient_address": True,
            "show_appointment_duration": True, "show_prices": True,
        },
        "online_payments": {"activated": False},
        "patient_custom_fields_definition": custom,
        "patient_privacy": {
            "anonymise_appointments_on_deletion": True, "anonymise_booking_notifications": False,
            "anonymise_invoices_and_payments_on_deletion": False, "baa_requested": False,
            "browser_title_name_format": "initials", "ical_patient_name_option": "first_name",
            "prevent_sending_financial_data_by_email": False, "requires_hipaa_compliance": False,
        },
        "reminders": {"default_reminder_type": "SMS & Email"},
        "sms": {"alphanumeric_source_number_required": False, "default_alphanumeric_source_number": "HarbourPhys",
                "max_message_length": 612, "number_of_usable_characters_per_message": 160,
                "replies_supported": True},
        "terminology": {"patient": "patient", "titles": ["Mr", "Mrs", "Ms", "Miss", "Dr", "Mx"]},
        "wait_list": {"default_wait_list_expiry_period": 30},
    }


def build(ctx: Context, clinic: Clinic) -> Iterator[Row]:
    """Yield the account-level rows and fill `clinic`."""
    rng = ctx.rng("setup")
    founded = ctx.epoch - timedelta(days=5 * 365)
    clinic.custom_fields = custom_fields_definition(ctx.rng("custom-fields"))
    clinic.settings = settings(ctx, clinic.custom_fields)
    _businesses(ctx, clinic, founded)
    yield from _services(ctx, clinic, founded)
    yield from _people(ctx, clinic, rng, founded)
    yield from _contacts(ctx, clinic, rng)


def _stamp(ctx: Context, rng: random.Random, created_from: float = 5 * 365 - 1) -> tuple[str, str]:
    created = ctx.ago(rng, 30, created_from)
    updated = created + timedelta(seconds=rng.randint(0, int((ctx.epoch - created).total_seconds())))
    return iso(created), iso(updated)


def _businesses(ctx: Context, clinic: Clinic, founded: Any) -> None:
    """Prepare business bodies; they are yielded once the appointment type ids exist."""
    for i, (key, name, country, label, zone, archived, deleted) in enumerate(BUSINESSES):
        place = pools.PLACES[country]
        city, state, post = place["cities"][0]
        bid = ctx.new_id("businesses")
        created = founded + timedelta(days=40 * i)
        body = records.make(
            "businesses", id=str(bid), business_name=name, display_name=name, label=name,
            address_1=f"{10 + i} {place['streets'][i % len(place['streets'])]}", address_2=None, city=city,
            state=state, post_code=post, country=place["country"], country_code=country,
            time_zone=label, time_zone_identifier=zone, appointment_reminders_enabled=True,
            show_in_online_bookings=not (archived or deleted), website_address="https://harbourphysio.example",
            contact_information="Phone reception during opening hours",
            email_reply_to="reception@harbourphysio.example",
            business_registration_name={"AU": "ABN", "NZ": "NZBN", "US": "EIN"}[country],
            business_registration_value=f"{51824753556 + i}", additional_information=None,
            additional_invoice_information="Payment due within 14 days.", appointment_type_ids=[],
            archived_at=iso(ctx.epoch - timedelta(days=200)) if archived else None,
            deleted_at=iso(ctx.epoch - timedelta(days=100)) if deleted else None,
            created_at=iso(created), updated_at=iso(created + timedelta(days=3)),
        )
        clinic.businesses.append({"id": bid, "key": key, "country": country, "zone": zone, "archived": archived,
                                  "deleted": deleted, "name": name, "body": body})
        ctx.mark(f"business_{key}", "businesses", bid)


def _services(ctx: Context, clinic: Clinic, founded: Any) -> Iterator[Row]:
    rng = ctx.rng("services")
    for name, code, price, archived in PRODUCTS:
        pid = ctx.new_id("products")
        created, updated = _stamp(ctx, rng)
        ex_tax = f"{float(price) / 1.1:.2f}"
        body = records.make(
            "products", id=str(pid), name=name, item_code=code, price_including_tax=price, price_ex_tax=ex_tax,
            cost_price=f"{float(price) * 0.45:.2f}", stock_level=f"{rng.randint(-2, 40)}.0", notes=None,
            serial_number=None, product_supplier_id=str(SUPPLIER_ID), product_supplier_name="Allied Physio Supplies",
            archived_at=iso(ctx.epoch - timedelta(days=90)) if archived else None, created_at=created,
            updated_at=updated,
        )
        clinic.products.append({"id": pid, "name": name, "code": code, "price": price})
        yield "products", pid, body, {"tax_id": TAX_ID, "product_supplier_id": SUPPLIER_ID}
    for name, minutes, price, max_att, category, archived, telehealth in APPOINTMENT_TYPES:
        bid = ctx.new_id("billable_items")
        created, updated = _stamp(ctx, rng)
        yield "billable_items", bid, records.make(
            "billable_items", id=str(bid), name=name, item_code=name[:3].upper(), item_type="Service", price=price,
            archived_at=iso(ctx.epoch - timedelta(days=300)) if archived else None, created_at=created,
            updated_at=updated,
        ), {"tax_id": TAX_ID}
        clinic.billable_items.append({"id": bid, "name": name, "code": name[:3].upper(), "price": price})
        tid = ctx.new_id("appointment_types")
        body = records.make(
            "appointment_types", id=str(tid), name=name, duration_in_minutes=minutes, max_attendees=max_att,
            category=category, color=f"#{rng.randrange(0x1000000):06x}", description=f"{name} ({minutes} min)",
            deposit_price=None, add_deposit_to_account_credit=False, online_bookings_lead_time_hours=24,
            online_payments_enabled=False, online_payments_mode=None, show_in_online_bookings=not archived,
            telehealth_enabled=telehealth, appointment_confirmation_template_ids=[],
            appointment_follow_up_template_ids=[], appointment_reminder_template_ids=[],
            archived_at=iso(ctx.epoch - timedelta(days=300)) if archived else None, created_at=created,
            updated_at=updated,
        )
        clinic.appointment_types.append({"id": tid, "name": name, "minutes": minutes, "price": price,
                                         "group": max_att > 1, "archived": archived, "telehealth": telehealth,
                                         "billable": clinic.billable_items[-1]})
        yield "appointment_types", tid, body, {"billable_item_id": bid}
        yield _type_billable_item(ctx, tid, bid, created, updated)
    for name, code, item_type, price, archived in EXTRA_BILLABLE:
        bid = ctx.new_id("billable_items")
        created, updated = _stamp(ctx, rng)
        yield "billable_items", bid, records.make(
            "billable_items", id=str(bid), name=name, item_code=code, item_type=item_type, price=price,
            archived_at=iso(ctx.epoch - timedelta(days=60)) if archived else None, created_at=created,
            updated_at=updated,
        ), {"tax_id": TAX_ID if item_type != "Other" else None}
        clinic.billable_items.append({"id": bid, "name": name, "code": code, "price": price})
    type_ids = [str(t["id"]) for t in clinic.appointment_types if not t["archived"]]
    for b in clinic.businesses:
        b["body"]["appointment_type_ids"] = type_ids if not b["deleted"] else []
        yield "businesses", b["id"], b.pop("body"), {}


def _type_billable_item(ctx: Context, type_id: int, item_id: int, created: str, updated: str) -> Row:
    """The type's row in the current relation (`appointment_type_billable_items`): its own billable
    item once, as Cliniko shows a type set up before the deprecated `billable_item` link was replaced.
    Stamped like the type and drawing no random numbers, so the rest of the clinic is unchanged."""
    row_id = ctx.new_id("appointment_type_billable_items")
    body = records.make("appointment_type_billable_items", id=str(row_id), quantity="1.0", discount_percentage=None,
                        discounted_amount=None, is_monetary_discount=False, created_at=created, updated_at=updated)
    meta = {"appointment_type_id": type_id, "billable_item_id": item_id}
    return "appointment_type_billable_items", row_id, body, meta


def _people(ctx: Context, clinic: Clinic, rng: random.Random, founded: Any) -> Iterator[Row]:
    """Users (admin, receptionist, one per practitioner) and practitioners, one inactive."""
    designations = ("Physiotherapist", "Senior Physiotherapist", "Exercise Physiologist", "Osteopath",
                    "Remedial Massage Therapist", "Pilates Instructor")
    staff = [("Alex", "Owner", "administrator", None), ("Rosa", "Desk", "receptionist", None)]
    for i in range(ctx.size.practitioners + 1):
        inactive = i == ctx.size.practitioners
        first = pools.FIRST_NAMES[(i * 11 + 3) % len(pools.FIRST_NAMES)]
        last = pools.LAST_NAMES[(i * 7 + 5) % len(pools.LAST_NAMES)]
        staff.append((first, last, "practitioner", {"inactive": inactive, "designation": designations[i % 6]}))
    for n, (first, last, role, prac) in enumerate(staff):
        uid = ctx.new_id("users")
        clinic.user_ids.append(uid)
        business = clinic.open_businesses[n % len(clinic.open_businesses)]
        created = founded + timedelta(days=n * 17, hours=n)
        inactive = bool(prac and prac["inactive"])
        user = records.make(
            "users", id=str(uid), first_name=first, last_name=last, title="Dr" if role == "practitioner" and n % 3 == 0
            else None, email=f"{first.lower()}.{last.lower()}@harbourphysio.example".encode("ascii", "ignore")
            .decode(), role=role, active=not inactive, user_active=not inactive,
            time_zone={"AU": "Sydney", "NZ": "Auckland", "US": "Eastern Time (US & Canada)"}[business["country"]],
            time_zone_identifier=business["zone"], phone_numbers=[pools.phone(business["country"], "Mobile", n + 7)],
            created_at=iso(created), updated_at=iso(created + timedelta(days=30 + n)),
        )
        yield "users", uid, user, {}
        if role == "administrator":
            clinic.admin_user_id = uid
            ctx.mark("admin_user", "users", uid)
        if prac is None:
            continue
        pid = ctx.new_id("practitioners")
        default_type = clinic.appointment_types[n % 3]["id"]
        body = records.make(
            "practitioners", id=str(pid), first_name=first, last_name=last, title=user["title"],
            display_name=f"{first} {last}", label=f"{first} {last}", designation=prac["designation"],
            description=f"{first} has worked in musculoskeletal care for {3 + n} years.", active=not inactive,
            show_in_online_bookings=not inactive, created_at=iso(created), updated_at=user["updated_at"],
        )
        left = ctx.epoch - timedelta(days=120) if inactive else None
        clinic.practitioners.append({"id": pid, "name": f"{first} {last}", "active": not inactive, "user_id": uid,
                                     "left": left, "group_instructor": prac["designation"] == "Pilates Instructor"})
        if inactive:
            ctx.mark("inactive_practitioner", "practitioners", pid)
        yield "practitioners", pid, body, {"user_id": uid, "default_appointment_type_id": default_type}


def _contacts(ctx: Context, clinic: Clinic, rng: random.Random) -> Iterator[Row]:
    payers = ("ACC", "WorkCover NSW", "Medibank Private", "icare NSW", "Allianz Workers Comp")
    for i in range(ctx.size.contacts):
        cid = ctx.new_id("contacts")
        kind = ("Doctor", "Doctor", "3rd Party Payer", "Standard", "Doctor")[i % 5]
        code = {"Standard": 0, "Doctor": 1, "3rd Party Payer": 2}[kind]
        country = ("AU", "NZ", "US")[i % 3]
        place = pools.PLACES[country]
        city, state, post = place["cities"][i % len(place["cities"])]
        first = pools.FIRST_NAMES[(i * 5 + 1) % len(pools.FIRST_NAMES)] if kind != "3rd Party Payer" else None
        last = pools.LAST_NAMES[(i * 3 + 2) % len(pools.LAST_NAMES)] if kind != "3rd Party Payer" else None
        created, updated = _stamp(ctx, rng)
        body = records.make(
            "contacts", id=str(cid), type=kind, type_code=code, first_name=first, last_name=last,
            title="Dr" if kind == "Doctor" else None, preferred_name=None,
            company_name=payers[i % len(payers)] if kind == "3rd Party Payer" else (
                f"{city} Medical Centre" if kind == "Doctor" else None),
            doctor_type=("general_practitioner", "specialist")[i % 2] if kind == "Doctor" else None,
            occupation="General Practitioner" if kind == "Doctor" else ("Claims officer" if code == 2 else "Lawyer"),
            provider_number=f"{2400000 + i * 37}A" if kind == "Doctor" else None,
            email=f"contact{i}@example.org" if i % 4 else None,
            phone_numbers=[pools.phone(country, "Work", 900 + i)] + ([pools.phone(country, "Fax", 950 + i)]
                                                                    if i % 3 == 0 else []),
            address_1=f"{i + 1} {place['streets'][i % len(place['streets'])]}", address_2=None, address_3=None,
            city=city, state=state, post_code=post, country=place["country"], country_code=country,
            notes="Prefers referrals by fax" if i % 6 == 0 else None,
            archived_at=iso(ctx.epoch - timedelta(days=45)) if i == 3 else None,
            deleted_at=iso(ctx.epoch - timedelta(days=20)) if i == 8 else None,
            created_at=created, updated_at=updated,
        )
        if i == 3:
            ctx.mark("archived_contact", "contacts", cid)
        if i == 8:
            ctx.mark("deleted_contact", "contacts", cid)
        if kind == "Doctor" and i not in (3, 8):
            clinic.doctors.append(cid)
        if kind == "3rd Party Payer" and i not in (3, 8):
            clinic.payers.append(cid)
        yield "contacts", cid, body, {}
