"""Patient records, including the awkward ones real clinics have.

The first patients of every clinic (small included) are the edge cases in `EDGES`; the
rest are ordinary. Each edge case is recorded in the run context under its key so tests
can find it without guessing.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sandbox.generator import pools, records
from sandbox.generator.context import Context, iso

# key -> field overrides (plus "_home": country, "_phones": phone types, "_flags": behaviour).
EDGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("rtl_arabic", {"first_name": "محمد", "last_name": "العلي", "preferred_first_name": "مو"}),
    ("rtl_hebrew", {"first_name": "נועה", "last_name": "כהן"}),
    ("apostrophe_last", {"first_name": "Siobhán", "last_name": "O'Brien"}),
    ("apostrophe_first", {"first_name": "D'Arcy", "last_name": "D'Angelo-Smith"}),
    ("unicode_diacritics", {"first_name": "Zoë", "last_name": "Ødegård-Łukasiewicz"}),
    ("cjk_name", {"first_name": "小明", "last_name": "王"}),
    ("emoji_preferred_name", {"first_name": "Rebecca", "preferred_first_name": "Bec 🌸"}),
    ("whitespace_name", {"first_name": "  Anne ", "last_name": "Lee  "}),
    ("no_email", {"email": None, "invoice_email": None}),
    ("duplicate_email_a", {"email": "the.jones.family@example.com", "last_name": "Jones"}),
    ("duplicate_email_b", {"email": "the.jones.family@example.com", "last_name": "Jones"}),
    # "Invalid" yet accepted by Cliniko's own email pattern, as legacy data is.
    ("invalid_email_double_dot", {"email": "john..smith@example.com"}),
    ("invalid_email_leading_dot", {"email": ".jane@example.com"}),
    ("invalid_email_bad_domain", {"email": "tom@-clinic.com.au"}),
    ("multiple_phones", {"_phones": ("Mobile", "Home", "Work", "Fax", "Other")}),
    ("no_phone", {"_phones": ()}),
    ("archived", {"_flags": "archived"}),
    ("merge_survivor", {"first_name": "Margaret", "last_name": "Nguyen-Tran"}),
    ("merged", {"first_name": "Maggie", "last_name": "Nguyen-Tran", "_flags": "merged"}),
    ("deleted", {"_flags": "deleted"}),
    ("insurance_full", {"_flags": "insurance", "medicare": "2953 71048 1", "medicare_reference_number": "2",
                        "dva_card_number": "NX123456"}),
    ("custom_fields_null", {"custom_fields": None}),
    ("same_name_a", {"first_name": "James", "last_name": "Smith", "date_of_birth": "1980-03-14"}),
    ("same_name_b", {"first_name": "James", "last_name": "Smith", "date_of_birth": "1992-11-02"}),
    ("leap_day_birthday", {"date_of_birth": "2000-02-29"}),
    ("no_date_of_birth", {"date_of_birth": None}),
    ("html_in_notes", {"notes": "<b>VIP</b> prefers mornings <script>alert('x')</script> & parking at rear"}),
    ("dst_sydney", {"_home": "AU", "_flags": "dst"}),
    ("dst_auckland", {"_home": "NZ", "_flags": "dst"}),
    ("dst_new_york", {"_home": "US", "_flags": "dst"}),
)

REMINDER_TYPES = ("SMS & Email", "SMS", "Email", "None", None)


def _country(index: int) -> str:
    return ("AU", "AU", "AU", "NZ", "US")[index % 5]


def _custom_values(rng: random.Random, definition: dict[str, Any], full: bool) -> dict[str, Any] | None:
    """A patient's custom_fields: the live sections with values filled, empties omitted."""
    if not full and rng.random() < 0.45:
        return None
    sections = []
    for section in definition["sections"]:
        if section["archived"]:
            continue
        fields = []
        for f in section["fields"]:
            if f["archived"]:
                continue
            out: dict[str, Any] = {"name": f["name"], "token": f["token"], "type": f["type"]}
            if f["type"] in ("text", "paragraph", "date"):
                if not full and rng.random() < 0.3:
                    fields.append(out)
                    continue
                out["value"] = {
                    "Policy number": f"POL-{rng.randint(100000, 999999)}",
                    "Group": f"GRP {rng.randint(10, 99)}",
                    "Coverage details": "Extras cover: physio 80% up to $600/yr.\nWaiting period served.",
                    "Referral date": (date(2023, 1, 1) + timedelta(days=rng.randint(0, 500))).isoformat(),
                }.get(f["name"], "n/a")
            else:
                live = [o for o in f["options"] if not o["archived"]]
                picks = [rng.choice(live)] if f["type"] == "radiobuttons" else rng.sample(live, rng.randint(1, 2))
                out["options"] = [{"name": o["name"], "token": o["token"], **({"selected": True} if o in picks else {})}
                                  for o in f["options"]]
                if f["other"]["enabled"]:
                    out["other"] = {"enabled": True, "selected": False}
            fields.append(out)
        sections.append({"name": section["name"], "token": section["token"], "archived": False, "fields": fields})
    return {"sections": sections}


def build(ctx: Context, rng: random.Random, index: int, pid: int, custom_definition: dict[str, Any],
          merge_target: int | None) -> tuple[dict[str, Any], dict[str, Any], str, set[str]]:
    """One patient: (body, meta, home country, flags). `index` < len(EDGES) gives an edge case."""
    edge_key, edge = EDGES[index] if index < len(EDGES) else ("", {})
    flags = {edge.get("_flags", "")} - {""}
    country = edge.get("_home") or _country(index)
    place = pools.PLACES[country]
    city, state, post = rng.choice(place["cities"])
    first = rng.choice(pools.FIRST_NAMES)
    last = rng.choice(pools.LAST_NAMES)
    # Every tenth patient came in with the paper-records import: same created_at second (sort ties).
    created = (ctx.epoch - timedelta(days=4 * 365)).replace(hour=2, minute=0, second=0) if index % 10 == 0 \
        else ctx.ago(rng, 1, 4 * 365 - 1)
    updated = created + timedelta(seconds=rng.randint(0, int((ctx.epoch - created).total_seconds())))
    phone_types = edge.get("_phones", ("Mobile",) if rng.random() < 0.7 else ("Mobile", "Home"))
    dob = date(1940, 1, 1) + timedelta(days=rng.randint(0, 80 * 365))
    values: dict[str, Any] = {
        "first_name": first, "last_name": last, "title": rng.choice(pools.TITLES),
        "preferred_first_name": first[:3] if rng.random() < 0.1 else None,
        "email": f"{first}.{last}{index}@example.com".lower().encode("ascii", "ignore").decode(),
        "date_of_birth": dob.isoformat(),
        "patient_phone_numbers": [pools.phone(country, t, index * 10 + k) for k, t in enumerate(phone_types)],
        "address_1": f"{rng.randint(1, 400)} {rng.choice(place['streets'])}",
        "address_2": f"Unit {rng.randint(1, 30)}" if rng.random() < 0.2 else None, "address_3": None,
        "city": city, "state": state, "post_code": post, "country": place["country"], "country_code": country,
        "time_zone": place["time_zone"] if rng.random() < 0.8 else None,
        "occupation": rng.choice(pools.OCCUPATIONS), "referral_source": rng.choice(pools.REFERRAL_SOURCES),
        "gender_identity": rng.choice(pools.GENDERS), "sex": rng.choice(pools.SEXES), "gender": None,
        "pronouns": rng.choice(pools.PRONOUNS), "reminder_type": rng.choice(REMINDER_TYPES),
        "accepted_privacy_policy": rng.choice((True, True, False, None)),
        "accepted_email_marketing": rng.random() < 0.3, "accepted_sms_marketing": rng.random() < 0.2,
        "receives_cancellation_emails": True, "receives_confirmation_emails": rng.random() < 0.9,
        "emergency_contact": f"{rng.choice(pools.FIRST_NAMES)} (partner) "
                             f"{pools.phone(country, 'Mobile', index)['number']}" if rng.random() < 0.4 else None,
        "notes": None,
        "appointment_notes": "Uses a wheelchair; book ground floor room" if rng.random() < 0.03 else None,
        "old_reference_id": f"PAPER-{index:05d}" if index % 10 == 0 else None,
        "invoice_default_to": None, "invoice_email": None, "invoice_extra_information": None,
        "medicare": None, "medicare_reference_number": None, "dva_card_number": None,
        "custom_fields": _custom_values(rng, custom_definition, "insurance" in flags),
        "archived_at": None, "deleted_at": None, "merged_at": None,
        "created_at": iso(created), "updated_at": iso(updated),
    }
    if country == "AU" and rng.random() < 0.3:
        values["medicare"] = f"{rng.randint(2000, 6999)} {rng.randint(10000, 99999)} {rng.randint(1, 9)}"
        values["medicare_reference_number"] = str(rng.randint(1, 9))
    values.update({k: v for k, v in edge.items() if not k.startswith("_")})
    if values["email"] and rng.random() < 0.05:
        values["invoice_email"] = "accounts@" + values["email"].split("@", 1)[1]
        values["invoice_default_to"] = "Patient's employer"
    meta: dict[str, Any] = {}
    if "archived" in flags or "merged" in flags:
        values["archived_at"] = iso(ctx.epoch - timedelta(days=30))
        values["updated_at"] = values["archived_at"]
    if "merged" in flags and merge_target is not None:
        values["merged_at"] = values["archived_at"]
        meta["merged_with_patient_id"] = merge_target
    if "deleted" in flags:
        values["deleted_at"] = iso(ctx.epoch - timedelta(days=10))
        values["updated_at"] = values["deleted_at"]
    values["label"] = f"{values['first_name']} {values['last_name']}"
    if edge_key:
        ctx.mark(f"patient_{edge_key}", "patients", pid)
    return records.make("patients", id=str(pid), **values), meta, country, flags
