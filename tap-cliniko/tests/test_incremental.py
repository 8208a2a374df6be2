"""Incremental replication: only changes on the next run, nothing lost while paging, resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tap_helpers import run_tap, tap_config


def bookmark(state: dict[str, Any], stream: str) -> str:
    return state["bookmarks"][stream]["replication_key_value"]


def test_second_run_emits_only_changed_and_new_records(tmp_path: Path, cliniko_sandbox: Any) -> None:
    first = run_tap(tmp_path / "1", tap_config(cliniko_sandbox))
    assert first.returncode == 0, first.stderr[-1500:]
    patients = first.records["patients"]
    assert len(patients) > 10

    changed = patients[3]["id"]
    cliniko_sandbox.admin("POST", "/_admin/mutate",
                          {"resource": "patients", "id": changed, "set": {"occupation": "Changed occupation"}})
    created = cliniko_sandbox.admin("POST", "/_admin/records/patients", {"first_name": "Neu", "last_name": "Patient"})
    archived_appt = first.records["individual_appointments"][0]["id"]
    cliniko_sandbox.admin("POST", "/_admin/archive", {"resource": "individual_appointments", "id": archived_appt})

    second = run_tap(tmp_path / "2", tap_config(cliniko_sandbox), state=first.last_state)
    assert second.returncode == 0, second.stderr[-1500:]
    # `>=` bookmarks re-read rows stamped exactly at the bookmark second (at-least-once);
    # beyond those, only what changed may come again.
    at_bookmark = {p["id"] for p in patients if p["updated_at"] == bookmark(first.last_state, "patients")}
    got = set(second.ids("patients"))
    assert {changed, created["id"]} <= got
    assert got - at_bookmark == {changed, created["id"]}
    assert next(p for p in second.records["patients"] if p["id"] == changed)["occupation"] == "Changed occupation"
    appts = second.records.get("individual_appointments", [])
    assert archived_appt in [a["id"] for a in appts]
    assert next(a for a in appts if a["id"] == archived_appt)["archived_at"], "the archive itself must arrive"
    untouched = {s for s in ("businesses", "products", "contacts")}
    for stream in untouched:
        at = {r["id"] for r in first.records[stream] if r["updated_at"] == bookmark(first.last_state, stream)}
        assert set(second.ids(stream)) <= at, stream


def test_a_record_changed_mid_sync_is_not_lost(tmp_path: Path, cliniko_sandbox: Any) -> None:
    """Page-number paging would skip a row when an earlier row moves to the end."""
    all_patients = cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"]
    assert len(all_patients) >= 12
    ordered = sorted(all_patients, key=lambda p: (p["updated_at"], int(p["id"])))
    early = ordered[1]  # read on the first page, then changed: moves to the end
    # Change it right after the first page of patients has been served.
    cliniko_sandbox.admin("POST", "/_admin/on_request", {
        "after": 1, "path_prefix": "/v1/patients",
        "mutate": {"resource": "patients", "id": early["id"], "set": {"notes": "edited during the sync"}},
    })
    run = run_tap(tmp_path, tap_config(cliniko_sandbox, page_size=5))
    assert run.returncode == 0, run.stderr[-1500:]
    got = run.ids("patients")
    assert set(got) == {p["id"] for p in all_patients}, "a patient was skipped while the result set moved"
    latest = [p for p in run.records["patients"] if p["id"] == early["id"]][-1]
    assert latest["notes"] == "edited during the sync", "the change itself was not delivered"


def test_interrupted_run_resumes_from_its_last_state(tmp_path: Path, cliniko_sandbox: Any) -> None:
    total = {p["id"] for p in cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"]}
    # Every request fails after the first pages: the tap gives up with an error.
    config = tap_config(cliniko_sandbox, page_size=5, max_retries=2)
    cliniko_sandbox.admin("POST", "/_admin/on_request", {
        "after": 4, "path_prefix": "/v1/patients", "faults": {"error_rate": 1.0},
    })
    broken = run_tap(tmp_path / "1", config, catalog=None)
    assert broken.returncode == 2
    assert "kept failing" in broken.stderr and "Traceback" not in broken.stderr
    from tap_helpers import parse_singer

    records, states, _ = parse_singer(broken.stdout)
    partial = {r["id"] for r in records.get("patients", [])}
    assert partial and partial != total
    resumable = [s for s in states if "patients" in s.get("bookmarks", {})
                 and s["bookmarks"]["patients"].get("replication_key_value")]
    assert resumable, "no STATE with a patients bookmark before the failure"
    cliniko_sandbox.admin("POST", "/_admin/faults", {"error_rate": 0.0})
    resumed = run_tap(tmp_path / "2", tap_config(cliniko_sandbox, page_size=5), state=resumable[-1])
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert partial | set(resumed.ids("patients")) == total
    # it resumed: rows strictly before the saved bookmark are not read again
    saved = resumable[-1]["bookmarks"]["patients"]["replication_key_value"]
    assert all(p["updated_at"] >= saved for p in resumed.records["patients"])
