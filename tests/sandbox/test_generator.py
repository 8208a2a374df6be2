"""The synthetic clinic generator: determinism, speed, and the edge cases real clinics have."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sandbox.common.store import DocStore
from sandbox.generator import files, load
from sandbox.generator.context import epoch_for

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _dump(store: DocStore) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.execute("SELECT kind, id, body, meta FROM docs ORDER BY kind, id")] + [
        tuple(r) for r in store.execute("SELECT key, content_type, data FROM blobs ORDER BY key")]


@pytest.fixture(scope="module")
def small() -> DocStore:
    store = DocStore()
    load(store, "small", 42)
    return store


def rows(store: DocStore, kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return store.query(kind)


def edge(store: DocStore, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    where = store.get_value("edge_cases")[key]
    found = store.get(where["resource"], int(where["id"]))
    assert found is not None, key
    return found


def test_same_seed_gives_identical_data_and_another_seed_does_not(small):
    again = DocStore()
    load(again, "small", 42)
    assert _dump(again) == _dump(small)
    other = DocStore()
    load(other, "small", 43)
    assert _dump(other) != _dump(small)
    names = {b["last_name"] for b, _ in rows(small, "patients")}
    assert names != {b["last_name"] for b, _ in rows(other, "patients")}


def test_small_clinic_loads_well_under_a_second():
    started = time.perf_counter()
    load(DocStore(), "small", 1234)
    assert time.perf_counter() - started < 1.0


def test_standard_clinic_size_and_speed():
    store = DocStore()
    started = time.perf_counter()
    load(store, "standard", 42)
    elapsed = time.perf_counter() - started
    kinds = store.kinds()
    assert kinds["patients"] == 2000
    assert 17_000 <= kinds["individual_appointments"] <= 24_000
    assert 6_500 <= kinds["treatment_notes"] <= 10_000
    assert 4_800 <= kinds["invoices"] <= 7_500
    assert 250 <= kinds["patient_attachments"] <= 350
    assert elapsed < 30, f"standard clinic took {elapsed:.1f}s"


def test_timestamps_are_utc_seconds_in_the_past_of_the_seed_epoch(small):
    epoch = epoch_for(42).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert small.get_value("clinic")["epoch"] == epoch
    for kind in small.kinds():
        for body, _ in rows(small, kind):
            for name, value in body.items():
                if name.endswith("_at") and value is not None:
                    assert STAMP.match(value), (kind, name, value)
            assert body["created_at"] <= body["updated_at"] <= epoch, (kind, body["id"])
            assert body["created_at"] <= epoch


def test_ids_are_big_unique_strings(small):
    for kind in small.kinds():
        seen = [body["id"] for body, _ in rows(small, kind)]
        assert len(seen) == len(set(seen))
        assert all(isinstance(i, str) and i.isdigit() and 2**53 < int(i) < 2**63 for i in seen), kind


def _bidi(text: str) -> set[str]:
    return {unicodedata.bidirectional(c) for c in text}


def test_patient_name_and_contact_edge_cases(small):
    patients = [b for b, _ in rows(small, "patients")]
    assert any("AL" in _bidi(p["first_name"]) for p in patients), "Arabic name"
    assert any("R" in _bidi(p["last_name"]) for p in patients), "Hebrew name"
    assert any("'" in p["last_name"] for p in patients) and any("'" in p["first_name"] for p in patients)
    assert any(p["first_name"] != p["first_name"].strip() for p in patients)
    assert any(p["email"] is None for p in patients)
    emails = Counter(p["email"] for p in patients if p["email"])
    assert max(emails.values()) >= 2, "a shared (duplicate) email"
    invalid = [e for e in emails if ".." in e or e.startswith(".") or "@-" in e]
    assert len(invalid) >= 3
    kinds = max((p["patient_phone_numbers"] or [] for p in patients), key=len)
    assert {ph["phone_type"] for ph in kinds} >= {"Mobile", "Home", "Work", "Fax"}
    assert any(p["patient_phone_numbers"] == [] for p in patients)
    same = Counter((p["first_name"], p["last_name"]) for p in patients)
    assert same[("James", "Smith")] >= 2
    assert any("<script>" in (p["notes"] or "") for p in patients)
    assert any(p["date_of_birth"] == "2000-02-29" for p in patients)


def test_archived_merged_and_deleted_patients(small):
    archived, _ = edge(small, "patient_archived")
    assert archived["archived_at"] and not archived["merged_at"]
    merged, meta = edge(small, "patient_merged")
    survivor, _ = edge(small, "patient_merge_survivor")
    assert merged["archived_at"] and merged["merged_at"]
    assert meta["merged_with_patient_id"] == int(survivor["id"]) and survivor["archived_at"] is None
    deleted, _ = edge(small, "patient_deleted")
    assert deleted["deleted_at"]


def test_insurance_custom_fields_and_government_numbers(small):
    patient, _ = edge(small, "patient_insurance_full")
    assert patient["medicare"] and patient["medicare_reference_number"] and patient["dva_card_number"]
    section = next(s for s in patient["custom_fields"]["sections"] if s["name"] == "Insurance coverage")
    fields = {f["name"]: f for f in section["fields"]}
    assert sum(1 for o in fields["Provider"]["options"] if o.get("selected")) == 1
    assert fields["Policy number"]["value"] and fields["Group"]["value"]
    assert "\n" in fields["Coverage details"]["value"]
    assert fields["Insurance type"]["type"] == "radiobuttons"
    definition = small.get_value("settings")["patient_custom_fields_definition"]
    tokens = {f["token"] for s in definition["sections"] for f in s["fields"]}
    assert {f["token"] for f in section["fields"]} <= tokens
    nothing, _ = edge(small, "patient_custom_fields_null")
    assert nothing["custom_fields"] is None


def test_businesses_in_three_time_zones(small):
    zones = {b["time_zone_identifier"] for b, _ in rows(small, "businesses") if not b["archived_at"]}
    assert {"Australia/Sydney", "Pacific/Auckland", "America/New_York"} <= zones
    assert any(b["archived_at"] for b, _ in rows(small, "businesses"))


@pytest.mark.parametrize("city", ["sydney", "auckland", "new_york"])
def test_appointments_straddle_daylight_saving_changes(small, city):
    business, _ = edge(small, f"business_{city}")
    zone = ZoneInfo(business["time_zone_identifier"])
    patient, _ = edge(small, f"patient_dst_{city}")
    mine = [b for b, m in rows(small, "individual_appointments") if m["patient_id"] == int(patient["id"])]

    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    nine = [parse(a["starts_at"]) for a in mine if parse(a["starts_at"]).astimezone(zone).strftime("%H:%M") == "09:00"]
    offsets = {s.astimezone(zone).utcoffset() for s in nine}
    assert len(offsets) == 2, "the same 9:00 local slot on both sides of a DST change"
    assert {s.strftime("%H:%M") for s in nine} != {nine[0].strftime("%H:%M")}, "so it moves in UTC"
    span, _ = edge(small, f"appointment_dst_span_{city}_1")
    start, end = parse(span["starts_at"]), parse(span["ends_at"])
    assert start.astimezone(zone).utcoffset() != end.astimezone(zone).utcoffset()


def test_appointment_edge_cases(small):
    appointments = [b for b, _ in rows(small, "individual_appointments")]
    assert any(a["cancelled_at"] and a["cancellation_reason_description"] for a in appointments)
    assert any(a["did_not_arrive"] for a in appointments)
    assert any(a["archived_at"] for a in appointments) and any(a["deleted_at"] for a in appointments)
    series, meta = edge(small, "appointment_series")
    assert series["repeat_rule"]["repeat_type"] == "Weekly" and meta["repeats_of"] == int(series["id"])
    assert any(m.get("repeated_from_id") == int(series["id"]) for _, m in rows(small, "individual_appointments"))
    inactive, _ = edge(small, "inactive_practitioner")
    assert inactive["active"] is False
    owned = [a for a, m in rows(small, "individual_appointments") if m["practitioner_id"] == int(inactive["id"])]
    assert owned


def test_group_appointments_with_attendees(small):
    groups = rows(small, "group_appointments")
    attendees = rows(small, "attendees")
    assert groups and attendees
    for group, _ in groups:
        mine = [(a, m) for a, m in attendees if m["booking_id"] == int(group["id"])]
        live = {str(m["patient_id"]) for a, m in mine if not a["cancelled_at"]}
        assert set(group["patient_ids"]) == live
    assert any(a["cancelled_at"] for a, _ in attendees)
    assert any(a["arrived"] for a, _ in attendees)


def test_treatment_notes_cover_every_question_type_and_hostile_html(small):
    notes = [b for b, _ in rows(small, "treatment_notes")]
    assert any(n["draft"] and n["finalized_at"] is None for n in notes)
    assert any(not n["draft"] and n["finalized_at"] for n in notes)
    types = {q["type"] for n in notes if n["content"] for s in n["content"]["sections"] for q in s["questions"]}
    assert types == {"text", "paragraph", "date", "checkboxes", "radiobuttons", "bodycharts"}
    text = json.dumps(notes)
    assert "<script>" in text and "onerror" in text and "<ul><li>" in text
    assert any(n["content"] is None for n in notes)


def test_invoices_in_every_status_with_items(small):
    invoices = rows(small, "invoices")
    assert {b["status"] for b, _ in invoices} == {10, 20, 30, 40}
    assert all(b["status_description"] == {10: "Open", 20: "Paid", 30: "Closed", 40: "Open credit"}[b["status"]]
               for b, _ in invoices)
    items = Counter(m["invoice_id"] for _, m in rows(small, "invoice_items"))
    for body, _ in invoices:
        assert items[int(body["id"])] >= 1
    for body, _ in invoices:
        lines = [b for b, m in rows(small, "invoice_items") if m["invoice_id"] == int(body["id"])]
        assert abs(sum(b["total_including_tax"] for b in lines) - float(body["total_amount"])) < 0.01
        break
    assert rows(small, "products") and rows(small, "billable_items")


def test_attachments_with_odd_names_and_a_streamed_giant(small):
    names = {b["filename"] for b, _ in rows(small, "patient_attachments")}
    assert {"../../etc/passwd", "..\\x.txt"} <= names
    assert any(" " in (n or "") for n in names) and any(n and not n.isascii() for n in names)
    big, meta = edge(small, "file_big_streamed")
    assert big["size"] > 50 * 1000 * 1000 and meta["streamed"] is True
    assert small.get_blob(big["id"]) is None
    for body, meta in rows(small, "patient_attachments"):
        if meta.get("content_of") and not meta["streamed"]:
            data, _ = small.get_blob(body["id"])
            assert data == files.content(42, int(body["id"]), body["size"], body["content_type"])
    processing, _ = edge(small, "file_processing")
    assert processing["processing_completed"] is False and processing["filename"] is None


def test_people_around_the_patients(small):
    alerts = rows(small, "medical_alerts")
    assert alerts and any(b["archived_at"] for b, _ in alerts) and any(b["deleted_at"] for b, _ in alerts)
    cases = [b for b, _ in rows(small, "patient_cases")]
    assert {c["referral_type"] for c in cases} >= {"dva", "medicare"} and any(c["closed_at"] for c in cases)
    contact_types = {b["type"] for b, _ in rows(small, "contacts")}
    assert {"Doctor", "3rd Party Payer"} <= contact_types
    comms = rows(small, "communications")
    assert {b["type"] for b, _ in comms} >= {"SMS", "Email", "Phone call"}
    assert any(b["category"] == "Memo" for b, _ in comms)
    assert any(b["direction_description"] == "Received" for b, _ in comms)
    per_patient = Counter(m["patient_id"] for _, m in comms)
    live = [int(b["id"]) for b, _ in rows(small, "patients") if not b["deleted_at"]]
    assert sum(1 for p in live if per_patient[p]) >= 0.8 * len(live)


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="unknown clinic size"):
        load(DocStore(), "gigantic", 1)
