"""The map's bill-cutting choices end to end: tap-cliniko | target-pipedrive against both sandboxes.

History cutoff: appointments (and, with history_notes, treatment notes) before the cutoff arrive as one
readable CSV file on the patient's person instead of one activity (note) each; later ones stay
activities and notes. Treatment notes on appointments: a note of a migrated appointment is written in
that activity's note instead of a note of its own. Each checked in the plan (its effect, and an estimate
the run spends exactly), in what Pipedrive holds, in the audit, by `verify` (against Cliniko as well),
through a delta, and by a rollback that leaves nothing behind.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from reliability_helpers import PLAN, audit, clean_env, confirmed_map, live, run_pipeline, tap_config, target_config

CUTOFF = "2024-01-01"
POLICIES = {"history_cutoff": CUTOFF, "history_notes": True}


def long_history_clinic(cliniko: Any) -> dict[str, Any]:
    """One patient with years of appointments, a group class and notes; returns the rows by name."""
    add = lambda resource, values: cliniko.admin("POST", f"/_admin/records/{resource}", values)  # noqa: E731
    user = cliniko.admin("GET", "/_admin/records/users")["users"][0]
    business = add("businesses", {"business_name": "Harbour", "time_zone_identifier": "Australia/Sydney"})
    practitioner = add("practitioners", {"first_name": "Sam", "last_name": "Lee", "user_id": user["id"],
                                         "active": True})
    kind = add("appointment_types", {"name": "Consult", "duration_in_minutes": 30})
    links = {"business_id": business["id"], "practitioner_id": practitioner["id"], "appointment_type_id": kind["id"]}
    patient = add("patients", {"first_name": "Hana", "last_name": "Longstay"})
    rows: dict[str, Any] = {"patient": patient}
    for name, day in (("old_1", "2019-03-04"), ("old_2", "2020-06-01"), ("old_3", "2023-12-31"),
                      ("recent", "2024-02-05")):
        rows[name] = add("individual_appointments", {
            **links, "patient_id": patient["id"], "notes": f"Booking note {name}",
            "starts_at": f"{day}T01:00:00Z", "ends_at": f"{day}T01:30:00Z"})
    group = add("group_appointments", {**links, "starts_at": "2021-05-05T22:00:00Z",
                                       "ends_at": "2021-05-05T23:00:00Z"})
    rows["attendee"] = add("attendees", {"patient_id": patient["id"], "booking_id": group["id"]})
    for name, when, booking in (("old_note", "2022-02-02T03:00:00Z", rows["old_1"]),
                                ("recent_note", "2024-03-03T03:00:00Z", rows["recent"]),
                                ("loose_note", "2024-03-04T03:00:00Z", None)):
        rows[name] = add("treatment_notes", {
            "patient_id": patient["id"], "practitioner_id": practitioner["id"], "draft": False,
            **({"booking_id": booking["id"]} if booking else {}),
            "title": f"Visit {name}", "created_at": when, "finalized_at": when,
            "content": {"sections": [{"name": "S", "questions": [
                {"name": "Findings", "type": "text", "answer": f"Answer of {name}"}]}]}})
    return rows


def history_rows(pipedrive: Any) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The live history files and the rows of the (one) file's CSV as Pipedrive serves it."""
    files = [f for f in live(pipedrive, "file") if f["name"] == "Cliniko history.csv"]
    assert len(files) == 1, files
    answer = pipedrive.request("GET", f"/api/v1/files/{files[0]['id']}/download")
    assert answer.status_code == 200, answer.text[:300]
    return files, list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def admin(target: dict[str, Any], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = folder / "admin-config.json"
    config.write_text(json.dumps(target))
    return subprocess.run([sys.executable, "-m", "target_pipedrive.workflow.admin", "--config", str(config), *args],
                          capture_output=True, text=True, env=clean_env(), cwd=folder, timeout=600, check=False)


def verified_then_rolled_back(target: dict[str, Any], folder: Path, pipedrive: Any) -> None:
    """After the delta: verify passes, and a rollback of everything leaves nothing of the migration."""
    checked = admin(target, folder, "verify", "--out-dir", str(folder / "verify-2"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    undone = admin(target, folder, "rollback", "--all", "--yes")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    for kind in ("person", "activity", "note", "file"):
        assert live(pipedrive, kind) == [], kind


def test_history_before_the_cutoff_is_one_file_verified_delta_safe_and_reversible(
        tmp_path: Path, empty_clinic: Any, pipedrive_sandbox_factory: Any) -> None:
    rows = long_history_clinic(empty_clinic)
    pipedrive = pipedrive_sandbox_factory()
    tap = tap_config(empty_clinic)
    target = target_config(pipedrive, tmp_path, confirmed_map(tmp_path, POLICIES),
                           cliniko_api_key=empty_clinic.api_key, cliniko_user_agent=empty_clinic.user_agent,
                           cliniko_base_url=empty_clinic.base_url)

    # the plan says what the choice does, and prices the migration with it
    planned = run_pipeline(tmp_path, tap, {**target, "plan_out_dir": str(tmp_path / "plan")}, target_command=PLAN)
    assert planned.target_code == 0, planned.output[-3000:]
    document = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert document["choices"]["history"] == {
        "history_cutoff": CUTOFF, "history_notes": True, "appointments_in_history": 4,  # 3 + the group class
        "treatment_notes_in_history": 1, "history_files": 1, "tokens_saved": 4 * 5 + 10 - 10}
    assert f"Choice history_cutoff {CUTOFF}: 4 appointment(s) and 1 treatment note(s)" in (
        tmp_path / "plan" / "plan.html").read_text(encoding="utf-8")
    assert live(pipedrive, "person") == []  # a plan writes nothing
    spent_before = pipedrive.admin("GET", "/_admin/usage")["tokens_today"]

    run = run_pipeline(tmp_path, tap, target)
    assert run.tap_code == 0 and run.target_code == 0, run.output[-3000:]
    spent = pipedrive.admin("GET", "/_admin/usage")["tokens_today"] - spent_before
    assert spent == document["estimate"]["tokens"], (spent, document["estimate"])
    [person] = live(pipedrive, "person")
    [activity] = live(pipedrive, "activity")  # only the appointment after the cutoff
    assert activity["due_date"] == "2024-02-05" and activity["person_id"] == person["id"]
    notes = sorted(n["content"] for n in live(pipedrive, "note"))  # only the notes written after the cutoff
    assert len(notes) == 2 and "Answer of loose_note" in notes[0] and "Answer of recent_note" in notes[1]
    files, csv_rows = history_rows(pipedrive)
    assert files[0]["person_id"] == person["id"]
    assert [(r["record"], r["date"]) for r in csv_rows] == [
        ("Appointment", "2019-03-04T01:00:00Z"), ("Appointment", "2020-06-01T01:00:00Z"),
        ("Group appointment", "2021-05-05T22:00:00Z"), ("Treatment note", "2022-02-02T03:00:00Z"),
        ("Appointment", "2023-12-31T01:00:00Z")]
    assert "Booking note old_1" in csv_rows[0]["details"] and "Answer of old_note" in csv_rows[3]["details"]
    assert all(r["practitioner"].startswith("Sam Lee") for r in csv_rows) and csv_rows[0]["type"] == "Consult"

    records = audit(target, tmp_path)
    for name in ("old_1", "old_2", "old_3"):
        record = records[f"cliniko:individual_appointment:{rows[name]['id']}"]
        assert record["status"] == "rolled_up" and "history cutoff" in record["message"], record
    # each old appointment counted once in the run's summary: rolled up, not also skipped
    assert "individual_appointments: rolled_up 3" in run.target_stderr and "individual_appointments: skipped" \
        not in run.target_stderr, run.target_stderr[-2000:]
    assert records[f"cliniko:attendee:{rows['attendee']['id']}"]["status"] == "rolled_up"
    assert records[f"cliniko:treatment_note:{rows['old_note']['id']}"]["status"] == "rolled_up"
    assert records[f"cliniko:individual_appointment:{rows['recent']['id']}"]["status"] == "migrated"

    checked = admin(target, tmp_path, "verify", "--out-dir", str(tmp_path / "verify"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "every one of the" in checked.stdout + checked.stderr  # every Cliniko record accounted for

    # delta: one old appointment rescheduled after the cutoff becomes an activity and leaves the file
    empty_clinic.admin("POST", "/_admin/mutate", {"resource": "individual_appointments", "id": rows["old_2"]["id"],
                                                  "set": {"starts_at": "2024-04-04T01:00:00Z",
                                                          "ends_at": "2024-04-04T01:30:00Z"}})
    again = run_pipeline(tmp_path, tap, target)
    assert again.tap_code == 0 and again.target_code == 0, again.output[-3000:]
    assert sorted(a["due_date"] for a in live(pipedrive, "activity")) == ["2024-02-05", "2024-04-04"]
    assert len(live(pipedrive, "person")) == 1 and len(live(pipedrive, "note")) == 2
    _, csv_rows = history_rows(pipedrive)  # still one file: replaced, not added
    assert "2020-06-01T01:00:00Z" not in {r["date"] for r in csv_rows} and len(csv_rows) == 4
    verified_then_rolled_back(target, tmp_path, pipedrive)


def test_treatment_notes_written_in_their_activities_verified_delta_safe_and_reversible(
        tmp_path: Path, empty_clinic: Any, pipedrive_sandbox_factory: Any) -> None:
    rows = long_history_clinic(empty_clinic)
    pipedrive = pipedrive_sandbox_factory()
    tap = tap_config(empty_clinic)
    target = target_config(pipedrive, tmp_path, confirmed_map(tmp_path, {"treatment_notes_on_appointments": True}),
                           cliniko_api_key=empty_clinic.api_key, cliniko_user_agent=empty_clinic.user_agent,
                           cliniko_base_url=empty_clinic.base_url)
    planned = run_pipeline(tmp_path, tap, {**target, "plan_out_dir": str(tmp_path / "plan")}, target_command=PLAN)
    assert planned.target_code == 0, planned.output[-3000:]
    document = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert document["choices"]["notes_on_appointments"] == {  # old_note and recent_note have an appointment
        "treatment_notes_on_appointments": True, "treatment_notes_in_activities": 2, "tokens_saved": 2 * (10 - 5)}
    assert document["choices"]["history"]["history_cutoff"] is None
    spent_before = pipedrive.admin("GET", "/_admin/usage")["tokens_today"]

    run = run_pipeline(tmp_path, tap, target)
    assert run.tap_code == 0 and run.target_code == 0, run.output[-3000:]
    assert pipedrive.admin("GET", "/_admin/usage")["tokens_today"] - spent_before == document["estimate"]["tokens"]
    activities = {a["due_date"]: a for a in live(pipedrive, "activity")}
    assert len(activities) == 5  # every appointment and the group class, as without the choice
    assert "Answer of old_note" in activities["2019-03-04"]["note"]
    assert "Answer of recent_note" in activities["2024-02-05"]["note"]
    assert "Booking note recent" in activities["2024-02-05"]["note"]  # the appointment's own note stays
    [note] = live(pipedrive, "note")  # the note without an appointment stays a note
    assert "Answer of loose_note" in note["content"]
    records = audit(target, tmp_path)
    assert "activity note" in records[f"cliniko:treatment_note:{rows['recent_note']['id']}"]["message"]
    checked = admin(target, tmp_path, "verify", "--out-dir", str(tmp_path / "verify"))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # delta: the note is amended in Cliniko; its activity shows the new text, nothing is added
    empty_clinic.admin("POST", "/_admin/mutate", {"resource": "treatment_notes", "id": rows["recent_note"]["id"],
                                                  "set": {"title": "Visit amended"}})
    again = run_pipeline(tmp_path, tap, target)
    assert again.tap_code == 0 and again.target_code == 0, again.output[-3000:]
    activities = {a["due_date"]: a for a in live(pipedrive, "activity")}
    assert len(activities) == 5 and "Visit amended" in activities["2024-02-05"]["note"]
    assert len(live(pipedrive, "note")) == 1
    verified_then_rolled_back(target, tmp_path, pipedrive)
