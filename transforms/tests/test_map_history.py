"""The history cutoff (policies history_cutoff, history_notes): appointments (and, by choice, treatment
notes) before a date become rows of one CSV file per patient instead of one activity (note) each;
later ones are untouched, every record is still accounted for, and a delta rewrites the file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from map_contract import problems
from map_helpers import NOW, Clinic, Run, migrate

from cliniko_map import Map, MapError
from cliniko_map.functions.dates import before_cutoff
from cliniko_map.functions.history import history_csv, html_plain
from cliniko_map.mapper import default_map_path

CUTOFF = "2024-01-01"
HISTORY = "cliniko:history:"


def rows_of(record: dict[str, Any]) -> list[dict[str, str]]:
    data = Path(record["local_path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["sha256"]
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def owner(clinic: Clinic, patient_id: str) -> str:
    merged = clinic.edge("patient_merged")
    return merged["merged_with_patient_id"] if patient_id == merged["id"] else patient_id


def history_files(run: Run) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in run.last("files").items() if k.startswith(HISTORY)}


@pytest.fixture(scope="module")
def cut(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return migrate(clinic, tmp_path_factory.mktemp("history"), history_cutoff=CUTOFF, history_notes=True)


@pytest.fixture(scope="module")
def plain(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return migrate(clinic, tmp_path_factory.mktemp("plain"))


def test_old_appointments_are_rows_of_the_patients_history_not_activities(cut: Run, plain: Run,
                                                                          clinic: Clinic) -> None:
    assert [p for stream, record in cut.records for p in problems(stream, record)] == [] and cut.silent == []
    activities, files = cut.last("activities"), history_files(cut)
    expected: dict[str, set[str]] = {}
    for appt in clinic.stream("individual_appointments"):
        key = f"cliniko:individual_appointment:{appt['id']}"
        if key in cut.skipped and key not in cut.rolled_up:  # deleted, or its patient is not migrated
            assert key not in activities and key not in plain.last("activities")
            continue
        if appt["starts_at"] < CUTOFF:
            patient = owner(clinic, appt["patient_id"])
            assert key not in activities and cut.rolled_up[key] == f"cliniko:patient:{patient}"
            assert "history cutoff" in cut.skipped[key]
            expected.setdefault(patient, set()).add(appt["starts_at"])
        else:
            assert activities[key] == plain.last("activities")[key] and key not in cut.rolled_up
    assert sum(len(v) for v in expected.values()) > 100
    moved_kinds = ("cliniko:individual_appointment:", "cliniko:attendee:", "cliniko:treatment_note:")
    into = {p.rsplit(":", 1)[-1] for k, p in cut.rolled_up.items() if k.startswith(moved_kinds)}
    assert set(expected) <= into and set(files) == {f"{HISTORY}{p}" for p in into}
    for patient, starts in expected.items():
        record = files[f"{HISTORY}{patient}"]
        assert record["person_source_key"] == f"cliniko:patient:{patient}"
        assert record["file_name"] == "Cliniko history.csv"
        rows = rows_of(record)
        assert {r["date"] for r in rows if r["record"] == "Appointment"} == starts
        assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)
    # fewer Pipedrive objects: one file per patient instead of an activity per old appointment
    assert len(cut.last("activities")) + len(files) < len(plain.last("activities"))


def test_old_group_attendances_go_with_the_group_time(cut: Run, clinic: Clinic) -> None:
    groups = {g["id"]: g for g in clinic.stream("group_appointments")}
    moved = 0
    for attendee in clinic.stream("attendees"):
        key = f"cliniko:attendee:{attendee['id']}"
        group = groups[attendee["booking_id"]]
        if key not in cut.rolled_up:
            continue
        assert group["starts_at"] < CUTOFF and key not in cut.last("activities")
        rows = rows_of(history_files(cut)[f"{HISTORY}{owner(clinic, attendee['patient_id'])}"])
        assert any(r["record"] == "Group appointment" and r["date"] == group["starts_at"] for r in rows)
        moved += 1
    assert moved > 0
    later = [a for a in clinic.stream("attendees") if groups[a["booking_id"]]["starts_at"] >= CUTOFF
             and not a["deleted_at"] and not groups[a["booking_id"]]["deleted_at"]]
    assert later and all(f"cliniko:attendee:{a['id']}" in cut.last("activities") for a in later
                         if f"cliniko:attendee:{a['id']}" not in cut.skipped)


def test_old_treatment_notes_join_the_history_only_when_asked(cut: Run, plain: Run, clinic: Clinic,
                                                              tmp_path: Path) -> None:
    full = clinic.edge("note_full")
    assert full["created_at"] < CUTOFF
    key = f"cliniko:treatment_note:{full['id']}"
    assert key not in cut.last("notes") and key in cut.rolled_up
    rows = rows_of(history_files(cut)[f"{HISTORY}{owner(clinic, full['patient_id'])}"])
    [row] = [r for r in rows if r["record"] == "Treatment note" and r["date"] == full["created_at"]]
    assert "Presenting complaint:" in row["details"] and "<b>" not in row["details"]
    recent = [n for n in clinic.stream("treatment_notes") if n["created_at"] >= CUTOFF and not n["deleted_at"]]
    assert recent and all(f"cliniko:treatment_note:{n['id']}" in cut.last("notes") for n in recent
                          if f"cliniko:treatment_note:{n['id']}" not in cut.skipped)
    # without history_notes every note stays a note; the appointments still move
    appointments_only = migrate(clinic, tmp_path, history_cutoff=CUTOFF)
    assert appointments_only.last("notes") == plain.last("notes")
    assert not any(r["record"] == "Treatment note" for f in history_files(appointments_only).values()
                   for r in rows_of(f))


def test_no_cutoff_changes_nothing(plain: Run) -> None:
    assert history_files(plain) == {}
    assert not any(k.startswith("cliniko:individual_appointment:") for k in plain.rolled_up)


def test_exclude_clinical_keeps_notes_out_of_the_history(clinic: Clinic, tmp_path: Path) -> None:
    run = migrate(clinic, tmp_path, history_cutoff=CUTOFF, history_notes=True, exclude_clinical=True)
    texts = [r["details"] for f in history_files(run).values() for r in rows_of(f)]
    assert texts and not any("Presenting complaint" in t for t in texts)
    booked = [a for a in clinic.stream("individual_appointments") if a["notes"] and a["starts_at"] < CUTOFF]
    assert booked and not any(a["notes"] in t for a in booked for t in texts)
    assert not any(r["record"] == "Treatment note" for f in history_files(run).values() for r in rows_of(f))


def test_a_rescheduled_appointment_moves_between_the_history_and_an_activity(clinic: Clinic, tmp_path: Path) -> None:
    first = migrate(clinic, tmp_path, history_cutoff=CUTOFF)
    state = json.loads(json.dumps(first.map.export_state()))
    appt = next(a for a in clinic.stream("individual_appointments") if a["starts_at"] < CUTOFF
                and f"cliniko:individual_appointment:{a['id']}" in first.rolled_up)
    patient = owner(clinic, appt["patient_id"])
    before = rows_of(history_files(first)[f"{HISTORY}{patient}"])

    m = Map.load(now=NOW, output_dir=tmp_path, state=state, policies={"history_cutoff": CUTOFF})
    moved = {**appt, "starts_at": "2024-09-02T01:00:00Z", "ends_at": "2024-09-02T01:30:00Z",
             "updated_at": "2024-08-11T00:00:00Z"}
    result = m.apply("individual_appointments", moved)
    [(stream, activity)] = list(result)
    assert stream == "activities" and activity["due_date"] == "2024-09-02"
    flushed = list(m.flush())
    [(stream, file)] = flushed
    assert stream == "files" and file["source_key"] == f"{HISTORY}{patient}"
    after = rows_of(file)
    assert len(after) == len(before) - 1 and appt["starts_at"] not in {r["date"] for r in after}

    # and back: before the cutoff again, the activity's record is skipped and the file has the row again
    back = m.apply("individual_appointments", {**appt, "updated_at": "2024-08-11T01:00:00Z"})
    assert list(back) == [] and "history cutoff" in dict(back.skipped)[f"cliniko:individual_appointment:{appt['id']}"]
    [(_, file)] = list(m.flush())
    assert len(rows_of(file)) == len(before)


@pytest.mark.parametrize("value", ["last year", "2024-13-01", 2024, True])
def test_a_bad_cutoff_stops_the_load_with_the_policy_named(value: Any) -> None:
    with pytest.raises(MapError, match="history_cutoff must be a date"):
        Map.load(policies={"history_cutoff": value})


def test_an_unquoted_yaml_date_is_read_as_the_date() -> None:
    text = default_map_path().read_text(encoding="utf-8")
    assert text.count("  history_cutoff: null ") == 1
    m = Map.from_text(text.replace("  history_cutoff: null ", "  history_cutoff: 2023-01-01 "))
    assert m.policies["history_cutoff"] == "2023-01-01"  # plain text, as the plan's JSON shows it


def test_before_cutoff() -> None:
    assert before_cutoff("2023-12-31T23:59:59Z", "2024-01-01")
    assert not before_cutoff("2024-01-01T00:00:00Z", "2024-01-01")
    assert before_cutoff("2024-01-01T10:00:00+11:00", "2024-01-01")  # 23:00 UTC the day before
    assert not before_cutoff("2023-01-01T00:00:00Z", None)
    assert not before_cutoff(None, "2024-01-01")  # no date: never moved out of view
    assert not before_cutoff("2023-01-01T00:00:00Z", "2024-01-01", False)
    assert before_cutoff("2023-01-01T00:00:00Z", "2024-01-01", True)


def test_history_csv_is_stable_ordered_and_inert() -> None:
    rows = [{"id": "2", "date": "2023-02-01T00:00:00Z", "record": "Appointment", "details": "=HYPERLINK(\"x\")"},
            {"id": "1", "date": "2023-01-01T00:00:00Z", "record": "Treatment note", "details": "Pain 3/10"}]
    data = history_csv(individual_appointments=rows[:1], treatment_notes=rows[1:])
    assert data == history_csv(individual_appointments=list(reversed(rows[:1])), treatment_notes=rows[1:])
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["date"] for r in parsed] == ["2023-01-01T00:00:00Z", "2023-02-01T00:00:00Z"]
    assert parsed[1]["details"].startswith("'=")
    assert html_plain("<p><b>Pain:</b> 3/10 &amp; easing</p><p>Next</p>") == "Pain: 3/10 & easing\nNext"
    assert html_plain("") is None
