"""The choice treatment_notes_on_appointments: a treatment note of a migrated individual appointment is
written in that activity's note (an update, 5 tokens) instead of a note of its own (10); notes of group
classes, of skipped appointments and without an appointment stay notes. Off, nothing changes and
nothing is kept in the map's memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from map_contract import problems
from map_helpers import NOW, Clinic, Run, migrate

from cliniko_map import Map
from cliniko_map.functions.notes import booked_notes_html

ON = {"treatment_notes_on_appointments": True}


@pytest.fixture(scope="module")
def folded(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return migrate(clinic, tmp_path_factory.mktemp("folded"), **ON)


@pytest.fixture(scope="module")
def plain(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return migrate(clinic, tmp_path_factory.mktemp("plain"))


def note_key(note: dict[str, Any]) -> str:
    return f"cliniko:treatment_note:{note['id']}"


def test_notes_of_migrated_appointments_are_written_in_their_activity(folded: Run, plain: Run,
                                                                      clinic: Clinic) -> None:
    assert [p for stream, record in folded.records for p in problems(stream, record)] == [] and folded.silent == []
    activities, notes = folded.last("activities"), folded.last("notes")
    appointments = {a["id"]: a for a in clinic.stream("individual_appointments")}
    moved = kept = 0
    for note in clinic.stream("treatment_notes"):
        key = note_key(note)
        if key in plain.skipped:  # deleted: skipped either way, and in no activity
            assert key in folded.skipped and key not in notes
            continue
        activity = activities.get(f"cliniko:individual_appointment:{note['booking_id']}")
        if note["booking_id"] in appointments and activity is not None:
            assert key not in notes and "activity note" in folded.skipped[key]
            assert f"Author: {note['author_name']}" in activity["note"]
            assert activity["note"].startswith(plain.last("activities")[activity["source_key"]]["note"])
            moved += 1
        else:  # a group class's note (its attendee), or an appointment the map skipped: a note of its own
            assert notes[key] == plain.last("notes")[key]
            kept += 1
    assert moved > 50 and kept > 10
    full = clinic.edge("note_full")
    activity = activities[f"cliniko:individual_appointment:{full['booking_id']}"]
    assert "<b>Presenting complaint:</b>" in activity["note"] and "<script" not in activity["note"]
    # fewer notes, the same activities
    assert set(activities) == set(plain.last("activities"))
    assert len(notes) == len(plain.last("notes")) - moved


def test_off_changes_nothing_and_remembers_nothing(plain: Run, clinic: Clinic) -> None:
    note = clinic.stream("treatment_notes")[0]
    assert plain.map.state.row("treatment_notes", str(note["id"])) is None
    assert plain.map.state.row("individual_appointments", str(note["booking_id"])) is None
    assert not any("Treatment notes:" in a["note"] for a in plain.last("activities").values())


def test_exclude_clinical_wins(clinic: Clinic, tmp_path: Path) -> None:
    run = migrate(clinic, tmp_path, exclude_clinical=True, **ON)
    assert not any("Treatment notes:" in a["note"] for a in run.last("activities").values())
    note = clinic.stream("treatment_notes")[0]
    assert run.map.state.row("treatment_notes", str(note["id"])) is None  # clinical text not kept either


def test_a_changed_or_deleted_note_rewrites_its_activity_in_a_delta(folded: Run, clinic: Clinic,
                                                                   tmp_path: Path) -> None:
    state = json.loads(json.dumps(folded.map.export_state()))
    appointments = {a["id"] for a in clinic.stream("individual_appointments")}
    note = next(n for n in clinic.stream("treatment_notes") if n["booking_id"] in appointments
                and note_key(n) in folded.skipped and "activity note" in folded.skipped[note_key(n)])
    m = Map.load(now=NOW, output_dir=tmp_path, state=state, policies=ON)
    changed = {**note, "title": "Reviewed title", "updated_at": "2024-08-11T00:00:00Z"}
    result = m.apply("treatment_notes", changed)
    [(stream, activity)] = list(result)
    assert stream == "activities" and activity["source_key"] == f"cliniko:individual_appointment:{note['booking_id']}"
    assert "Reviewed title" in activity["note"]
    gone = m.apply("treatment_notes", {**changed, "deleted_at": "2024-08-11T01:00:00Z",
                                       "updated_at": "2024-08-11T01:00:00Z"})
    [(_, activity)] = list(gone)
    assert "Reviewed title" not in activity["note"]
    assert "deleted" in dict(gone.skipped)[note_key(note)]


def test_an_appointment_before_the_history_cutoff_keeps_its_note_apart(clinic: Clinic, tmp_path: Path) -> None:
    run = migrate(clinic, tmp_path, history_cutoff="2024-01-01", **ON)
    appointments = {a["id"]: a for a in clinic.stream("individual_appointments")}
    old = [n for n in clinic.stream("treatment_notes") if n["booking_id"] in appointments
           and appointments[n["booking_id"]]["starts_at"] < "2024-01-01" and note_key(n) not in run.skipped]
    assert old and all(note_key(n) in run.last("notes") for n in old)  # its activity is a history row


def test_booked_notes_html_orders_and_applies_the_notes_policies() -> None:
    notes = [{"id": "2", "created_at": "2024-02-01T00:00:00Z", "title": "Second"},
             {"id": "1", "created_at": "2024-01-01T00:00:00Z", "title": "First"},
             {"id": "3", "created_at": "2024-01-05T00:00:00Z", "title": "Gone", "deleted_at": "2024-03-01"},
             {"id": "4", "created_at": "2024-01-06T00:00:00Z", "title": "Unfinished", "draft": True}]
    html = booked_notes_html(notes) or ""
    assert html.index("First") < html.index("Second") and "Gone" not in html and "DRAFT" in html
    assert "Unfinished" not in (booked_notes_html(notes, draft_notes="skip") or "")
    assert "Gone" in (booked_notes_html(notes, deleted_records="migrate") or "")
    assert booked_notes_html([]) is None


def test_the_rows_of_a_watched_field_come_from_an_index_that_follows_changes() -> None:
    """An appointment reads its notes through an index (a scan per appointment is quadratic in the notes)."""
    from cliniko_map.state import INDEX, State

    state = State()
    state.indexed = {"treatment_notes": ("booking_id",)}
    state.put_row("treatment_notes", "1", {"booking_id": "10"})
    assert state.rows_where("treatment_notes", "booking_id", "10") == [("1", {"booking_id": "10"})]  # built once
    state.put_row("treatment_notes", "2", {"booking_id": "10"})
    state.put_row("treatment_notes", "3", {"booking_id": "11"})
    state.put_row("treatment_notes", "1", {"booking_id": "11"})  # moved to another appointment
    assert [i for i, _ in state.rows_where("treatment_notes", "booking_id", "10")] == ["2"]
    assert [i for i, _ in state.rows_where("treatment_notes", "booking_id", "11")] == ["1", "3"]
    assert state.memory.get(INDEX, "treatment_notes.booking_id=11") == ["3", "1"]  # not a scan

    # a memory from before the index (an earlier version's crosswalk): the first read builds it from the rows
    older = State()
    older.put_row("treatment_notes", "7", {"booking_id": "10"})
    older.indexed = {"treatment_notes": ("booking_id",)}
    assert [i for i, _ in older.rows_where("treatment_notes", "booking_id", "10")] == ["7"]
    assert older.memory.get(INDEX, "treatment_notes.booking_id=10") == ["7"]
    # a field nothing watches is scanned, as before
    assert [i for i, _ in older.rows_where("treatment_notes", "title", "None")] == ["7"]


def test_a_state_put_on_the_map_later_keeps_the_index() -> None:
    """The target gives the map a state on its crosswalk after loading it: the index must come along."""
    from cliniko_map.state import State

    m = Map.load(policies=ON)
    m.state = State()
    assert m.state.indexed["treatment_notes"] == ("booking_id",)
