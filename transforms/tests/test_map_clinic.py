"""The whole small clinic of the Cliniko sandbox through the packaged map, in the tap's
stream order: every output honours target-pipedrive's contract, every input record is
accounted for, and the values match what is computed here, independently, from the raw
Cliniko rows."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from map_contract import problems
from map_helpers import NOW, Clinic, Run, migrate

from cliniko_map import Map


@pytest.fixture(scope="module")
def run(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return migrate(clinic, tmp_path_factory.mktemp("map"))


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


# -- contract and accounting -----------------------------------------------------------------
def test_every_output_honours_the_contract(run: Run) -> None:
    bad = [p for stream, record in run.records for p in problems(stream, record)]
    assert bad == []
    streams = {s for s, _ in run.records}
    assert streams == {"custom_fields", "activity_types", "persons", "products", "activities", "notes", "files"}


def test_every_input_record_is_accounted_for(run: Run) -> None:
    assert run.silent == []
    assert run.map.pending() == []
    assert all(reason for reason in run.skipped.values())


# -- patients -> persons ---------------------------------------------------------------------
def test_one_person_per_migrated_patient(run: Run, clinic: Clinic) -> None:
    patients = clinic.stream("patients")
    expected = {f"cliniko:patient:{p['id']}" for p in patients if not p["deleted_at"] and not p["merged_at"]}
    assert set(run.last("persons")) == expected
    deleted = clinic.edge("patient_deleted")["id"]
    merged = clinic.edge("patient_merged")["id"]
    assert "deleted" in run.skipped[f"cliniko:patient:{deleted}"]
    assert "merged" in run.skipped[f"cliniko:patient:{merged}"]
    archived = run.last("persons")[f"cliniko:patient:{clinic.edge('patient_archived')['id']}"]
    assert archived["custom_fields"]["Cliniko status"] == "Archived"


@pytest.mark.parametrize(("edge", "name"), [
    ("patient_rtl_arabic", "محمد (مو) العلي"),
    ("patient_rtl_hebrew", "נועה כהן"),
    ("patient_apostrophe_last", "Siobhán O'Brien"),
    ("patient_apostrophe_first", "D'Arcy D'Angelo-Smith"),
    ("patient_unicode_diacritics", "Zoë Ødegård-Łukasiewicz"),
    ("patient_cjk_name", "小明 王"),
    ("patient_emoji_preferred_name", "Rebecca (Bec 🌸) Roberts"),
    ("patient_whitespace_name", "Anne Lee"),
])
def test_unusual_names(run: Run, clinic: Clinic, edge: str, name: str) -> None:
    assert run.last("persons")[f"cliniko:patient:{clinic.edge(edge)['id']}"]["name"] == name


def test_emails_phones_address_and_dob(run: Run, clinic: Clinic) -> None:
    persons = run.last("persons")

    def person(edge: str) -> dict[str, Any]:
        return persons[f"cliniko:patient:{clinic.edge(edge)['id']}"]

    assert person("patient_no_email")["emails"] == []
    a, b = person("patient_duplicate_email_a"), person("patient_duplicate_email_b")
    assert a["emails"][0]["value"] == b["emails"][0]["value"] == "the.jones.family@example.com"
    for edge, address in (("patient_invalid_email_double_dot", "john..smith@example.com"),
                          ("patient_invalid_email_leading_dot", ".jane@example.com"),
                          ("patient_invalid_email_bad_domain", "tom@-clinic.com.au")):
        assert person(edge)["emails"] == [{"value": address, "label": "home", "primary": True}]
    assert [p["label"] for p in person("patient_multiple_phones")["phones"]] == ["mobile", "home", "work", "other",
                                                                               "other"]
    assert person("patient_no_phone")["phones"] == []
    assert person("patient_leap_day_birthday")["custom_fields"]["Date of birth"] == "2000-02-29"
    assert person("patient_no_date_of_birth")["custom_fields"]["Date of birth"] is None
    raw = clinic.edge("patient_rtl_arabic")
    address = person("patient_rtl_arabic")["custom_fields"]["Postal address"]
    assert address["value"].startswith(raw["address_1"]) and address["locality"] == raw["city"]
    assert address["postal_code"] == raw["post_code"]


def test_insurance_fields(run: Run, clinic: Clinic) -> None:
    raw = clinic.edge("patient_insurance_full")
    fields = run.last("persons")[f"cliniko:patient:{raw['id']}"]["custom_fields"]
    insurance = next(s for s in raw["custom_fields"]["sections"] if s["name"] == "Insurance coverage")
    values = {f["name"]: f for f in insurance["fields"]}
    selected = [o["name"] for o in values["Provider"]["options"] if o.get("selected")]
    assert fields["Insurance provider"] == selected[0]
    assert fields["Insurance policy number"] == values["Policy number"]["value"]
    assert fields["Insurance group"] == values["Group"]["value"]
    assert fields["Insurance coverage details"] == values["Coverage details"]["value"]
    assert fields["Insurance type"] == next(o["name"] for o in values["Insurance type"]["options"] if o.get("selected"))
    assert (fields["Medicare number"], fields["Medicare reference number"], fields["DVA card number"]) == (
        "2953 71048 1", "2", "NX123456")
    assert "Intake / Referral date: " in fields["Other Cliniko fields"]
    # the enum's options are the clinic's own (from settings), archived ones included
    definition = {r["label"]: r for s, r in run.records if s == "custom_fields"}
    assert definition["Insurance type"]["options"] == ["Private health", "Workers compensation",
                                                       "Motor vehicle accident", "Medicare EPC", "DVA", "ACC"]


def test_patient_notes_are_sanitised(run: Run, clinic: Clinic) -> None:
    pid = clinic.edge("patient_html_in_notes")["id"]
    note = run.last("notes")[f"cliniko:patient_notes:{pid}"]
    assert note["person_source_key"] == f"cliniko:patient:{pid}"
    assert "<b>VIP</b> prefers mornings" in note["content"] and "&amp; parking at rear" in note["content"]
    assert "script" not in note["content"] and "alert" not in note["content"]


# -- appointments -> activities ---------------------------------------------------------------
def owner_of(clinic: Clinic, practitioner_id: str) -> str:
    users = by_id(clinic.stream("users"))
    return users[by_id(clinic.stream("practitioners"))[practitioner_id]["user_id"]]["email"].lower()


def minutes_between(start: str, end: str) -> int:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return int((datetime.strptime(end, fmt) - datetime.strptime(start, fmt)).total_seconds() // 60)


def test_individual_appointments(run: Run, clinic: Clinic) -> None:
    activities = run.last("activities")
    types = {t["id"]: t["name"] for t in clinic.stream("appointment_types")}
    skipped_patients = {clinic.edge("patient_deleted")["id"]}
    checked = 0
    for appt in clinic.stream("individual_appointments"):
        key = f"cliniko:individual_appointment:{appt['id']}"
        if appt["deleted_at"] or appt["patient_id"] in skipped_patients:
            assert key not in activities and key in run.skipped
            continue
        activity = activities[key]
        assert activity["due_date"] == appt["starts_at"][:10]
        assert activity["due_time"] == appt["starts_at"][11:16]
        total = minutes_between(appt["starts_at"], appt["ends_at"])
        assert activity["duration"] == f"{total // 60:02d}:{total % 60:02d}"
        assert activity["type"] == types[appt["appointment_type_id"]]
        assert activity["owner_email"] == owner_of(clinic, appt["practitioner_id"])
        past = appt["ends_at"] <= "2024-08-12T00:00:00Z"
        assert activity["done"] is bool(appt["cancelled_at"] or appt["did_not_arrive"] or appt["patient_arrived"]
                                        or past)
        checked += 1
    assert checked > 250


@pytest.mark.parametrize(("edge", "subject_suffix", "status", "done", "busy"), [
    ("appointment_cancelled", " (Cancelled)", "Status: Cancelled - Other", True, False),
    ("appointment_did_not_arrive", " (Did not arrive)", "Status: Did not arrive", True, True),
    ("appointment_archived", "", "Status: Attended", True, True),
    ("appointment_dst_span_sydney_2", " (Did not arrive)", "Status: Did not arrive", True, True),
])
def test_appointment_status_is_visible(run: Run, clinic: Clinic, edge: str, subject_suffix: str, status: str,
                                       done: bool, busy: bool) -> None:
    appt = clinic.edge(edge)
    activity = run.last("activities")[f"cliniko:individual_appointment:{appt['id']}"]
    type_name = {t["id"]: t["name"] for t in clinic.stream("appointment_types")}[appt["appointment_type_id"]]
    assert activity["subject"] == type_name + subject_suffix
    assert activity["public_description"].startswith(status)
    assert (activity["done"], activity["busy"]) == (done, busy)


@pytest.mark.parametrize(("edge", "due", "local"), [
    ("appointment_dst_span_sydney_1", ("2024-04-06", "14:00", "02:30"), "Sun 07 Apr 2024 01:00 AEDT"),
    ("appointment_dst_span_sydney_2", ("2023-09-30", "15:00", "02:30"), "Sun 01 Oct 2023 01:00 AEST"),
    ("appointment_dst_span_auckland_1", ("2024-04-06", "12:00", "02:30"), "Sun 07 Apr 2024 01:00 NZDT"),
    ("appointment_dst_span_auckland_2", ("2023-09-23", "13:00", "02:30"), "Sun 24 Sep 2023 01:00 NZST"),
    ("appointment_dst_span_new_york_1", ("2024-03-10", "06:00", "02:30"), "Sun 10 Mar 2024 01:00 EST"),
    ("appointment_dst_span_new_york_2", ("2023-11-05", "05:00", "02:30"), "Sun 05 Nov 2023 01:00 EDT"),
])
def test_dst_appointments(run: Run, clinic: Clinic, edge: str, due: tuple[str, str, str], local: str) -> None:
    activity = run.last("activities")[f"cliniko:individual_appointment:{clinic.edge(edge)['id']}"]
    assert (activity["due_date"], activity["due_time"], activity["duration"]) == due
    assert local in activity["note"]


def test_inactive_practitioner_is_kept_for_audit(run: Run, clinic: Clinic) -> None:
    appt = clinic.edge("appointment_of_inactive_practitioner")
    activity = run.last("activities")[f"cliniko:individual_appointment:{appt['id']}"]
    assert f"Cliniko practitioner {appt['practitioner_id']}, inactive" in activity["note"]
    assert activity["owner_email"] == owner_of(clinic, appt["practitioner_id"])


def test_practitioners_are_listed_for_user_matching(run: Run, clinic: Clinic) -> None:
    listed = {p["cliniko_id"]: p for p in run.map.practitioners()}
    raw = clinic.stream("practitioners")
    assert set(listed) == {p["id"] for p in raw}
    for p in raw:
        assert listed[p["id"]]["email"] == owner_of(clinic, p["id"])
        assert listed[p["id"]]["active"] is p["active"]
    inactive = clinic.edge("inactive_practitioner")["id"]
    assert listed[inactive]["active"] is False and "inactive" in listed[inactive]["name"]


def test_group_attendees_become_activities_with_the_group_time(run: Run, clinic: Clinic) -> None:
    groups = by_id(clinic.stream("group_appointments"))
    activities = run.last("activities")
    emitted = 0
    for attendee in clinic.stream("attendees"):
        key = f"cliniko:attendee:{attendee['id']}"
        group = groups[attendee["booking_id"]]
        if attendee["deleted_at"] or group["deleted_at"]:
            assert key in run.skipped and key not in activities
            continue
        activity = activities[key]
        assert (activity["due_date"], activity["due_time"]) == (group["starts_at"][:10], group["starts_at"][11:16])
        assert activity["person_source_key"] == f"cliniko:patient:{attendee['patient_id']}"
        assert activity["owner_email"] == owner_of(clinic, group["practitioner_id"])
        assert f"Cliniko group appointment {group['id']}" in activity["note"]
        emitted += 1
    assert emitted > 40
    cancelled = activities[f"cliniko:attendee:{clinic.edge('attendee_cancelled')['id']}"]
    assert cancelled["subject"].endswith("(Cancelled)") and cancelled["busy"] is False


def test_merged_patients_records_go_to_the_survivor(run: Run, clinic: Clinic) -> None:
    merged, survivor = clinic.edge("patient_merged"), clinic.edge("patient_merge_survivor")
    assert merged["merged_with_patient_id"] == survivor["id"]
    moved = [r for s, r in run.records if s in ("activities", "notes")
             and r["source_key"].endswith(tuple(f":{a['id']}" for a in clinic.stream("individual_appointments")
                                                if a["patient_id"] == merged["id"]))]
    assert moved and all(r["person_source_key"] == f"cliniko:patient:{survivor['id']}" for r in moved)


def test_deleted_patients_records_are_skipped_with_the_reason(clinic: Clinic, tmp_path: Path) -> None:
    m = Map.load(now=NOW, output_dir=tmp_path)
    patient = clinic.edge("patient_deleted")
    assert patient["deleted_at"]
    m.apply("patients", patient)
    reason = "patient not migrated (deleted in Cliniko (policy deleted_patients))"
    for stream in ("individual_appointments", "treatment_notes", "medical_alerts", "patient_cases"):
        record = {**clinic.stream(stream)[0], "patient_id": patient["id"]}
        result = m.apply(stream, record)
        assert list(result) == [] and [r for _, r in result.skipped] == [reason], stream
    m.apply("invoices", {**clinic.stream("invoices")[0], "patient_id": patient["id"]})
    flushed = m.flush()
    assert list(flushed) == [] and flushed.skipped == [(f"cliniko:billing:{patient['id']}",
                                                        "patient not migrated (deleted in Cliniko (policy "
                                                        "deleted_patients))")]


# -- treatment notes, alerts, cases ------------------------------------------------------------
def test_treatment_notes(run: Run, clinic: Clinic) -> None:
    notes = run.last("notes")
    for raw in clinic.stream("treatment_notes"):
        key = f"cliniko:treatment_note:{raw['id']}"
        if raw["deleted_at"]:
            assert key in run.skipped
            continue
        note = notes[key]
        assert note["add_time"] == raw["created_at"]
        assert f"Author: {raw['author_name']}" in note["content"]
        assert note["pinned"] is bool(raw["pinned_at"])
    hostile = notes[f"cliniko:treatment_note:{clinic.edge('note_hostile')['id']}"]["content"]
    assert "<script" not in hostile and "onerror" not in hostile and "Pain 3/10 after session." in hostile
    assert "&lt;b&gt;not bold&lt;/b&gt;" in hostile
    assert "<b>DRAFT</b>" in notes[f"cliniko:treatment_note:{clinic.edge('note_draft')['id']}"]["content"]
    full = notes[f"cliniko:treatment_note:{clinic.edge('note_full')['id']}"]["content"]
    for question in ("Presenting complaint", "Occupation", "Date of injury", "Pain severity", "Body chart",
                     "Treatment plan"):
        assert f"<b>{question}:</b>" in full
    assert "Unanswered question" not in full
    assert "(no content)" in notes[f"cliniko:treatment_note:{clinic.edge('note_no_content')['id']}"]["content"]


def test_medical_alerts_and_cases(run: Run, clinic: Clinic) -> None:
    notes = run.last("notes")
    alert = clinic.stream("medical_alerts")[0]
    assert alert["name"] in notes[f"cliniko:medical_alert:{alert['id']}"]["content"]
    assert f"cliniko:medical_alert:{clinic.edge('medical_alert_deleted')['id']}" in run.skipped
    assert notes[f"cliniko:medical_alert:{clinic.edge('medical_alert_archived')['id']}"]["pinned"] is False
    case = notes[f"cliniko:patient_case:{clinic.edge('case_dva')['id']}"]["content"]
    assert "Referral type: DVA" in case and "Max sessions: 12" in case


# -- products ----------------------------------------------------------------------------------
def test_products_billable_items_and_appointment_type_prices(run: Run, clinic: Clinic) -> None:
    products = run.last("products")
    for item in clinic.stream("products"):
        got = products[f"cliniko:product:{item['id']}"]
        assert got["name"] == item["name"] and got["code"] == item["item_code"]
        assert got["prices"] == [{"currency": "AUD", "price": float(item["price_including_tax"]),
                                  "cost": float(item["cost_price"])}]
    billable = by_id(clinic.stream("billable_items"))
    for item in billable.values():
        assert products[f"cliniko:billable_item:{item['id']}"]["prices"] == [{"currency": "AUD",
                                                                              "price": float(item["price"])}]
    for atype in clinic.stream("appointment_types"):
        got = products[f"cliniko:appointment_type:{atype['id']}"]
        assert got["name"] == f"Appointment: {atype['name']}"
        assert got["prices"][0]["price"] == float(billable[atype["billable_item_id"]]["price"])
        assert got["is_linkable"] is (atype["archived_at"] is None)
    types = run.last("activity_types")
    assert {t["name"] for t in types.values()} == {t["name"] for t in clinic.stream("appointment_types")}


# -- invoices -> person figures ------------------------------------------------------------------
def expected_figures(invoices: list[dict[str, Any]]) -> dict[str, Any]:
    live = [i for i in invoices if not i["deleted_at"] and not i["archived_at"]]
    return {"count": len(live),
            "total": float(sum(Decimal(i["total_amount"]) for i in live)),
            "outstanding": float(sum(Decimal(i["total_amount"]) for i in live if i["status"] == 10)),
            "last": max((i["issue_date"] for i in live), default=None)}


def test_invoice_figures_per_patient(run: Run, clinic: Clinic) -> None:
    persons = run.last("persons")
    by_patient: dict[str, list[dict[str, Any]]] = {}
    merged = clinic.edge("patient_merged")
    for invoice in clinic.stream("invoices"):
        owner = merged["merged_with_patient_id"] if invoice["patient_id"] == merged["id"] else invoice["patient_id"]
        by_patient.setdefault(owner, []).append(invoice)
    statuses = {i["status"] for i in clinic.stream("invoices")}
    assert statuses == {10, 20, 30, 40}
    checked = 0
    for pid, invoices in by_patient.items():
        person = persons.get(f"cliniko:patient:{pid}")
        if person is None:
            continue
        fields = person["custom_fields"]
        want = expected_figures(invoices)
        assert fields["Invoice count"] == want["count"]
        assert fields["Total invoiced"] == {"value": want["total"], "currency": "AUD"}
        assert fields["Outstanding balance"] == {"value": want["outstanding"], "currency": "AUD"}
        assert fields["Last invoice date"] == want["last"]
        assert len(fields["Invoice history"].splitlines()) == min(want["count"], 10) + (want["count"] > 10)
        checked += 1
    assert checked > 20


# -- files -------------------------------------------------------------------------------------
def test_attachments_without_download_are_skipped_with_the_reason(run: Run, clinic: Clinic) -> None:
    for raw in clinic.stream("patient_attachments"):
        assert "file not downloaded" in run.skipped[f"cliniko:patient_attachment:{raw['id']}"]


def test_downloaded_attachments_become_files(clinic: Clinic, tmp_path: Path) -> None:
    m = Map.load(now=NOW, output_dir=tmp_path)
    raw = clinic.edge("file_path_traversal")
    staged = tmp_path / "staged.bin"
    staged.write_bytes(b"attachment bytes")
    record = {**raw, "local_path": str(staged), "sha256": hashlib.sha256(b"attachment bytes").hexdigest()}
    m.apply("patients", {"id": raw["patient_id"], "first_name": "A", "last_name": "B"})
    [(stream, out)] = m.apply("patient_attachments", record)
    assert stream == "files" and problems("files", out) == []
    assert out == {"source_key": f"cliniko:patient_attachment:{raw['id']}",
                   "person_source_key": f"cliniko:patient:{raw['patient_id']}", "local_path": str(staged),
                   "sha256": record["sha256"], "size": raw["size"], "file_name": "passwd"}


def test_a_plan_describes_attachments_from_their_metadata_without_a_download(clinic: Clinic, tmp_path: Path) -> None:
    """A plan (a dry run) needs no download: the file goes to the target with Cliniko's size, so the plan still
    counts the upload and finds the files over the limit; outside a plan the same record is skipped."""
    raw = clinic.edge("file_path_traversal")
    for planning, expected in ((True, 1), (False, 0)):
        m = Map.load(now=NOW, output_dir=tmp_path, planning=planning)
        m.apply("patients", {"id": raw["patient_id"], "first_name": "A", "last_name": "B"})
        result = m.apply("patient_attachments", {**raw, "local_path": None, "sha256": None})
        assert len(result) == expected, planning
        if planning:
            [(stream, out)] = result
            assert stream == "files" and problems("files", out) == [] and out["size"] == raw["size"]
            assert "local_path" not in out
        else:
            assert "file not downloaded" in dict(result.skipped)[f"cliniko:patient_attachment:{raw['id']}"]


def test_communications_csv_per_patient(run: Run, clinic: Clinic) -> None:
    files = {k: r for k, r in run.last("files").items() if k.startswith("cliniko:communications:")}
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for message in clinic.stream("communications"):
        if not message.get("confidential"):
            by_patient.setdefault(message["patient_id"], []).append(message)
    merged = clinic.edge("patient_merged")
    expected_keys = {f"cliniko:communications:{merged['merged_with_patient_id'] if p == merged['id'] else p}"
                     for p in by_patient if p != clinic.edge("patient_deleted")["id"]}
    assert set(files) == expected_keys
    pid = clinic.edge("patient_rtl_arabic")["id"]
    record = files[f"cliniko:communications:{pid}"]
    data = Path(record["local_path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert record["file_name"] == "Cliniko communications.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == len(by_patient[pid])
    assert [r["date"] for r in rows] == sorted(m["created_at"] for m in by_patient[pid])
    assert {r["content"] for r in rows} == {m["content"] for m in by_patient[pid]}
    memo = clinic.edge("memo_confidential")
    assert "confidential" in run.skipped[f"cliniko:communication:{memo['id']}"]


def test_workflow_reference_is_written(run: Run, clinic: Clinic) -> None:
    path = run.map.artifact_paths["workflow_reference"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["account"]["name"] == clinic.stream("settings")[0]["account"]["name"]
    assert len(doc["appointment_types"]) == len(clinic.stream("appointment_types"))
    assert len(doc["locations"]) == len(clinic.stream("businesses"))


# -- privacy -----------------------------------------------------------------------------------
def test_exclude_clinical_keeps_clinical_content_in_cliniko(clinic: Clinic, tmp_path: Path) -> None:
    run = migrate(clinic, tmp_path, exclude_clinical=True, confidential_communications="migrate")
    keys = {r["source_key"] for _, r in run.records}
    assert not any(k.startswith(("cliniko:treatment_note:", "cliniko:medical_alert:", "cliniko:patient_attachment:"))
                   for k in keys)
    note = clinic.edge("note_full")
    assert run.skipped[f"cliniko:treatment_note:{note['id']}"] == "privacy: exclude_clinical"
    memo = clinic.edge("memo_confidential")
    assert run.skipped[f"cliniko:communication:{memo['id']}"] == "privacy: exclude_clinical"
    assert len(run.last("activities")) > 300  # the rest still migrates
    described = run.map.describe()
    assert all(not d["sent"] for d in described if d["cliniko_stream"] == "treatment_notes")
