"""Delta runs: the map's memory is exported with the run and loaded for the next one, so
records that arrive alone (one changed invoice, a rescheduled group class) give the same
result as a full run would."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from map_contract import problems
from map_helpers import NOW, Clinic, migrate

from cliniko_map import Map
from cliniko_map.state import State


@pytest.fixture(scope="module")
def full(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("delta")
    run = migrate(clinic, out)
    state = json.loads(json.dumps(run.map.export_state()))  # what the target persists: plain JSON
    return state, out


def next_run(full: tuple[dict[str, Any], Path]) -> Map:
    state, out = full
    return Map.load(now=NOW, output_dir=out, state=json.loads(json.dumps(state)))


def an_open_invoice(clinic: Clinic) -> dict[str, Any]:
    merged = clinic.edge("patient_merged")["id"]
    return next(i for i in clinic.stream("invoices")
                if i["status"] == 10 and not i["deleted_at"] and i["patient_id"] != merged)


def test_a_paid_invoice_alone_gives_the_full_run_figures(clinic: Clinic, full: tuple[dict[str, Any], Path],
                                                         tmp_path: Path) -> None:
    invoice = an_open_invoice(clinic)
    paid = {**invoice, "status": 20, "status_description": "Paid", "closed_at": "2024-08-10T01:00:00Z",
            "updated_at": "2024-08-10T01:00:00Z"}
    m = next_run(full)
    result = m.apply("invoices", paid)
    assert list(result) == [] and result.rolled_up == [(f"cliniko:invoice:{invoice['id']}",
                                                       f"cliniko:patient:{invoice['patient_id']}")]
    flushed = m.flush()
    key = f"cliniko:patient:{invoice['patient_id']}"
    assert [(s, r["source_key"]) for s, r in flushed] == [("persons", key)]
    delta_person = flushed[0][1]
    assert problems("persons", delta_person) == []
    # the same change seen by a full run
    rerun = migrate(clinic, tmp_path, edit={f"invoices:{invoice['id']}": paid})
    assert delta_person == rerun.last("persons")[key]
    before = next_run(full).state.person(key)
    assert before["name"] == delta_person["name"]


def test_unchanged_records_change_nothing(clinic: Clinic, full: tuple[dict[str, Any], Path]) -> None:
    m = next_run(full)
    invoice = an_open_invoice(clinic)
    m.apply("invoices", invoice)
    assert list(m.flush()) == []
    appointment = clinic.stream("individual_appointments")[0]
    assert m.apply("individual_appointments", appointment) == Map.load(
        now=NOW, state=full[0]).apply("individual_appointments", appointment)


def test_a_rescheduled_group_class_moves_every_attendee(clinic: Clinic, full: tuple[dict[str, Any], Path]) -> None:
    m = next_run(full)
    attendees = clinic.stream("attendees")
    group = next(g for g in clinic.stream("group_appointments")
                 if not g["deleted_at"] and sum(a["booking_id"] == g["id"] and not a["deleted_at"]
                                                for a in attendees) >= 2)
    moved = {**group, "starts_at": "2024-09-02T22:00:00Z", "ends_at": "2024-09-02T23:00:00Z",
             "updated_at": "2024-08-11T00:00:00Z"}
    result = m.apply("group_appointments", moved)
    expected = {f"cliniko:attendee:{a['id']}" for a in attendees if a["booking_id"] == group["id"]
                and not a["deleted_at"] and not a["cancelled_at"]}
    activities = {r["source_key"]: r for s, r in result if s == "activities"}
    assert expected <= set(activities)
    arrived = {f"cliniko:attendee:{a['id']}": bool(a["arrived"]) for a in attendees}
    for key in expected:
        assert (activities[key]["due_date"], activities[key]["due_time"], activities[key]["duration"]) == (
            "2024-09-02", "22:00", "01:00")
        assert activities[key]["done"] is arrived[key]  # in the future now: done only if marked arrived


def test_a_new_attendee_of_a_known_group(clinic: Clinic, full: tuple[dict[str, Any], Path]) -> None:
    m = next_run(full)
    attendee = {**clinic.stream("attendees")[0], "id": "999000111", "cancelled_at": None, "deleted_at": None}
    group = next(g for g in clinic.stream("group_appointments") if g["id"] == attendee["booking_id"])
    [(stream, activity)] = m.apply("attendees", attendee)
    assert stream == "activities" and activity["due_time"] == group["starts_at"][11:16]


def test_an_attendee_before_its_group_waits_for_it(clinic: Clinic, tmp_path: Path) -> None:
    m = Map.load(now=NOW, output_dir=tmp_path)
    attendee = next(a for a in clinic.stream("attendees") if not a["deleted_at"])
    result = m.apply("attendees", attendee)
    key = f"cliniko:attendee:{attendee['id']}"
    assert list(result) == [] and result.deferred == [(key, f"waiting for group_appointments:{attendee['booking_id']}")]
    assert m.pending() == [(key, f"waiting for group_appointments:{attendee['booking_id']}")]
    # the waiting record survives an export/load between runs
    m = Map.load(now=NOW, output_dir=tmp_path, state=json.loads(json.dumps(m.export_state())))
    group = next(g for g in clinic.stream("group_appointments") if g["id"] == attendee["booking_id"])
    result = m.apply("group_appointments", group)
    assert [(s, r["source_key"]) for s, r in result] == [("activities", key)]
    assert result.skipped == [(f"cliniko:group_appointment:{group['id']}",
                               "a group appointment becomes one activity per attendee (see attendees)")]
    assert m.pending() == []


def test_an_invoice_item_before_its_invoice_waits(clinic: Clinic, tmp_path: Path) -> None:
    m = Map.load(now=NOW, output_dir=tmp_path)
    item = clinic.stream("invoice_items")[0]
    invoice = next(i for i in clinic.stream("invoices") if i["id"] == item["invoice_id"])
    assert m.apply("invoice_items", item).deferred == [(f"cliniko:invoice_item:{item['id']}",
                                                        f"waiting for invoices:{invoice['id']}")]
    result = m.apply("invoices", invoice)
    assert set(result.rolled_up) == {(f"cliniko:invoice:{invoice['id']}", f"cliniko:patient:{invoice['patient_id']}"),
                                     (f"cliniko:invoice_item:{item['id']}", f"cliniko:patient:{invoice['patient_id']}")}


def test_figures_without_the_person_record_wait_and_are_reported(clinic: Clinic, tmp_path: Path) -> None:
    m = Map.load(now=NOW, output_dir=tmp_path)  # no state: the patient was migrated in an earlier run
    invoice = an_open_invoice(clinic)
    m.apply("invoices", invoice)
    flushed = m.flush()
    key = f"cliniko:patient:{invoice['patient_id']}"
    assert list(flushed) == [] and flushed.deferred == [(key, "billing figures wait for the person record")]
    assert (key, "billing figures wait for the person record") in m.pending()
    patient = next(p for p in clinic.stream("patients") if p["id"] == invoice["patient_id"])
    person = next(r for s, r in m.apply("patients", patient) if s == "persons")
    assert person["custom_fields"]["Invoice count"] == 1
    assert m.pending() == [] and list(m.flush()) == []


def test_a_new_message_rewrites_the_patients_csv(clinic: Clinic, full: tuple[dict[str, Any], Path]) -> None:
    m = next_run(full)
    message = next(c for c in clinic.stream("communications") if not c.get("confidential"))
    new = {**message, "id": "777", "created_at": "2024-08-11T09:00:00Z", "content": "See you tomorrow",
           "updated_at": "2024-08-11T09:00:00Z"}
    m.apply("communications", new)
    [(stream, record)] = m.flush()
    assert stream == "files" and record["source_key"] == f"cliniko:communications:{message['patient_id']}"
    rows = list(csv.DictReader(io.StringIO(Path(record["local_path"]).read_text(encoding="utf-8-sig"))))
    earlier = [c for c in clinic.stream("communications")
               if c["patient_id"] == message["patient_id"] and not c.get("confidential")]
    assert len(rows) == len(earlier) + 1
    assert rows[-1]["content"] == "See you tomorrow"


def test_stateless_rollup_helper_matches(clinic: Clinic) -> None:
    m = Map.load(now=NOW)
    m.apply("settings", clinic.stream("settings")[0])
    invoices = [{"number": 1, "status": 10, "issue_date": "2024-01-01", "total_amount": "50.00", "id": "1"},
                {"number": 2, "status": 20, "issue_date": "2024-02-01", "total_amount": "20.00", "id": "2",
                 "closed_at": "2024-02-03T00:00:00Z"}]
    fields = m.rollup_fields("billing", {"invoices": invoices})
    assert fields["Invoice count"] == 2
    assert fields["Outstanding balance"] == {"value": 50.0, "currency": "AUD"}
    assert fields["Total invoiced"] == {"value": 70.0, "currency": "AUD"}
    assert fields["Last paid date"] == "2024-02-03"


def test_state_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="map state version"):
        State.from_dict({"version": 99})
    assert State.from_dict(None).to_dict()["version"] == 3


def test_an_enum_waits_for_its_options_from_settings(clinic: Clinic, tmp_path: Path) -> None:
    m = Map.load(now=NOW, output_dir=tmp_path)
    labels = {r["label"] for _, r in m.definitions()}
    assert "Insurance type" not in labels and "Cliniko status" in labels  # static options are known up front
    patient = clinic.edge("patient_insurance_full")
    before = next(r for s, r in m.apply("patients", patient) if s == "persons")
    assert "Insurance type" not in before["custom_fields"]  # never a value for a field Pipedrive cannot have yet
    result = m.apply("settings", clinic.stream("settings")[0])
    [(stream, definition)] = list(result)
    assert stream == "custom_fields" and definition["label"] == "Insurance type"
    assert "Private health" in definition["options"] and problems("custom_fields", definition) == []
    after = next(r for s, r in m.apply("patients", patient) if s == "persons")
    assert after["custom_fields"]["Insurance type"] == "Private health"
    assert ("custom_fields", definition) in m.definitions()
