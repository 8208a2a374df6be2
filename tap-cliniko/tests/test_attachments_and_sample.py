"""Attachment downloads (integrity, hostile names, no key leak, once only) and sample mode."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tap_helpers import run_tap, select_streams, tap_config


def test_attachments_download_inside_the_folder_with_matching_sha256(tmp_path: Path, cliniko_sandbox: Any) -> None:
    folder = tmp_path / "files"
    config = tap_config(cliniko_sandbox, attachments_dir=str(folder))
    catalog = select_streams(tmp_path, config, {"patient_attachments"})
    run = run_tap(tmp_path / "1", config, catalog=catalog)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = run.records["patient_attachments"]
    hostile = [r for r in rows if ".." in (r.get("filename") or "")]
    assert hostile, "the small clinic must contain a hostile file name"
    big = [r for r in rows if (r.get("size") or 0) > 50 * 1024 * 1024]
    assert big, "the small clinic must contain a file over 50 MB"
    root = folder.resolve()
    pending = [r for r in rows if not r.get("content")]
    assert all(r["local_path"] is None and r["sha256"] is None for r in pending), "no bytes yet: nothing to claim"
    rows = [r for r in rows if r.get("content")]
    for row in rows:
        path = Path(row["local_path"])
        assert path.resolve().is_relative_to(root), row["filename"]
        assert path.exists()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == row["sha256"]
        if row.get("size") is not None:
            assert path.stat().st_size == row["size"]
    # patient files are owner-only
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / ".manifest.json").stat().st_mode & 0o777 == 0o600
    assert all(Path(r["local_path"]).stat().st_mode & 0o077 == 0 for r in rows)
    assert all(Path(r["local_path"]).parent.stat().st_mode & 0o077 == 0 for r in rows)
    # nothing was written outside the folder (e.g. next to it through ../)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["1", "discover-config.json", "files"])
    storage = cliniko_sandbox.admin("GET", "/_admin/storage")
    assert storage["auth_leaks"] == 0, "the Cliniko key was sent to the storage host"
    assert storage["downloads"] >= len(rows)

    # second run: every file is already there with the right hash, nothing is fetched again
    again = run_tap(tmp_path / "2", config, catalog=catalog)
    assert again.returncode == 0, again.stderr[-2000:]
    assert cliniko_sandbox.admin("GET", "/_admin/storage")["downloads"] == storage["downloads"]
    assert {r["id"]: r["sha256"] for r in again.records["patient_attachments"] if r.get("content")} == {
        r["id"]: r["sha256"] for r in rows}


def test_a_tampered_file_is_downloaded_again(tmp_path: Path, cliniko_sandbox: Any) -> None:
    folder = tmp_path / "files"
    config = tap_config(cliniko_sandbox, attachments_dir=str(folder))
    catalog = select_streams(tmp_path, config, {"patient_attachments"})
    first = run_tap(tmp_path / "1", config, catalog=catalog)
    assert first.returncode == 0, first.stderr[-2000:]
    victim = min((r for r in first.records["patient_attachments"] if r.get("content") and r.get("size")),
                 key=lambda r: r["size"])
    Path(victim["local_path"]).write_bytes(b"tampered")
    before = cliniko_sandbox.admin("GET", "/_admin/storage")["downloads"]
    second = run_tap(tmp_path / "2", config, catalog=catalog)
    assert second.returncode == 0, second.stderr[-2000:]
    assert cliniko_sandbox.admin("GET", "/_admin/storage")["downloads"] == before + 1
    assert hashlib.sha256(Path(victim["local_path"]).read_bytes()).hexdigest() == victim["sha256"]


def test_attachments_without_folder_carry_no_local_path(tmp_path: Path, cliniko_sandbox: Any) -> None:
    config = tap_config(cliniko_sandbox)
    run = run_tap(tmp_path, config, catalog=select_streams(tmp_path, config, {"patient_attachments"}))
    assert run.returncode == 0, run.stderr[-2000:]
    assert all(r["local_path"] is None and r["sha256"] is None for r in run.records["patient_attachments"])
    assert cliniko_sandbox.admin("GET", "/_admin/storage")["downloads"] == 0


def test_sample_emits_the_first_patients_and_only_their_records(tmp_path: Path, cliniko_sandbox: Any) -> None:
    n = 5
    run = run_tap(tmp_path, tap_config(cliniko_sandbox, sample_patients=n))
    assert run.returncode == 0, run.stderr[-2000:]
    everyone = cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"]
    first = {p["id"] for p in sorted(everyone, key=lambda p: int(p["id"]))[:n]}
    merged, survivor = str(cliniko_sandbox.edge("patient_merged")), str(cliniko_sandbox.edge("patient_merge_survivor"))
    assert merged in first and survivor not in first, "the clinic no longer samples a merge: the test proves less"
    assert "covers the whole clinic" not in run.stderr
    chosen = first | {survivor}  # the merged patient's records belong to the patient it was merged into
    assert set(run.ids("patients")) == chosen
    for stream in ("individual_appointments", "attendees", "treatment_notes", "invoices", "communications",
                   "medical_alerts", "patient_cases", "patient_attachments"):
        assert all(r["patient_id"] in chosen for r in run.records.get(stream, [])), stream
    invoices = {r["id"] for r in run.records.get("invoices", [])}
    assert invoices, "the sampled patients have no invoices: the test proves nothing"
    assert all(r["invoice_id"] in invoices for r in run.records.get("invoice_items", []))
    assert run.records.get("invoice_items"), "invoice items of sampled invoices are missing"
    expected_appts = {a["id"] for a in cliniko_sandbox.admin("GET", "/_admin/records/individual_appointments")[
        "individual_appointments"] if a["patient"]["links"]["self"].rsplit("/", 1)[-1] in chosen}
    assert set(run.ids("individual_appointments")) == expected_appts
    # reference data is complete (an appointment type's billable-item rows price it for every patient)
    for stream in ("practitioners", "appointment_types", "appointment_type_billable_items", "billable_items"):
        assert sorted(run.ids(stream)) == sorted(
            r["id"] for r in cliniko_sandbox.admin("GET", f"/_admin/records/{stream}")[stream]), stream


def test_a_sample_as_big_as_the_clinic_says_so(tmp_path: Path, cliniko_sandbox: Any) -> None:
    """sample_patients 200 on a 50-patient clinic is the whole migration: the operator is told, not left to find
    that the full run after it has nothing left to do."""
    config = tap_config(cliniko_sandbox, sample_patients=200)
    run = run_tap(tmp_path, config, catalog=select_streams(tmp_path, config, {"patients"}))
    assert run.returncode == 0, run.stderr[-2000:]
    patients = len(cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"])
    assert f"sample_patients 200 covers the whole clinic ({patients} patients)" in run.stderr
