"""Secrets and patient data: never in what the operator's terminal or log files show, patient files
owner-only, and the privacy policy `exclude_clinical` keeps every clinical field out of every
request Pipedrive receives (checked at the Pipedrive sandbox, request by request).
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import (
    audit,
    confirmed_map,
    live,
    pipedrive_writes,
    run_pipeline,
    tap_config,
    target_config,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from test_migration import meltano, meltano_env  # noqa: E402 - the e2e test's Meltano harness

# every clinical text carries its own marker, so a leak names the field it came from
CLINICAL = {
    "treatment note title": "ClinTitleQ7", "treatment note answer": "ClinAnswerQ7",
    "treatment note section": "ClinSectQ7",
    "medical alert": "ClinAlertQ7", "patient case name": "ClinCaseQ7", "patient case notes": "ClinCaseNotesQ7",
    "confidential memo": "ClinMemoQ7", "attachment file name": "ClinFileNameQ7", "attachment bytes": "ClinBytesQ7",
    "patient notes": "ClinPatientNotesQ7", "patient appointment notes": "ClinApptNotesQ7",
    "appointment notes": "ClinBookingQ7", "group appointment notes": "ClinGroupQ7", "attendee notes": "ClinAttendeeQ7",
}


class RequestTap:
    """Every request the Pipedrive sandbox receives: method, path, query and raw body bytes."""

    def __init__(self, pipedrive: Any) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self._lock = threading.Lock()
        pipedrive.app.observers.append(self._observe)

    def _observe(self, request: Any, response: Any) -> None:
        with self._lock:
            self.requests.append((request.method, f"{request.path}?{request.raw_query}", request.body))

    def carrying(self, text: str) -> list[str]:
        needle = text.encode()
        with self._lock:
            return [f"{m} {p}" for m, p, body in self.requests if needle in body or needle in p.encode()]


def clinical_clinic(cliniko: Any) -> str:
    """A patient with one of every clinical record, each text marked; returns the patient's id."""
    user = cliniko.admin("GET", "/_admin/records/users")["users"][0]
    business = cliniko.admin("POST", "/_admin/records/businesses", {"business_name": "Harbour",
                                                                    "time_zone_identifier": "Australia/Sydney"})
    practitioner = cliniko.admin("POST", "/_admin/records/practitioners", {
        "first_name": "Sam", "last_name": "Lee", "user_id": user["id"], "active": True})
    kind = cliniko.admin("POST", "/_admin/records/appointment_types", {"name": "Consult", "duration_in_minutes": 30})
    links = {"business_id": business["id"], "practitioner_id": practitioner["id"], "appointment_type_id": kind["id"]}
    pid = cliniko.admin("POST", "/_admin/records/patients", {
        "first_name": "Priya", "last_name": "Private", "notes": CLINICAL["patient notes"],
        "appointment_notes": CLINICAL["patient appointment notes"]})["id"]
    add = lambda resource, values: cliniko.admin("POST", f"/_admin/records/{resource}", values)  # noqa: E731
    add("treatment_notes", {"patient_id": pid, "practitioner_id": practitioner["id"], "draft": False,
                            "title": CLINICAL["treatment note title"], "finalized_at": "2025-01-01T01:00:00Z",
                            "content": {"sections": [{"name": CLINICAL["treatment note section"], "questions": [
                                {"name": "Findings", "type": "text", "answer": CLINICAL["treatment note answer"]}]}]}})
    add("medical_alerts", {"patient_id": pid, "name": CLINICAL["medical alert"]})
    add("patient_cases", {"patient_id": pid, "name": CLINICAL["patient case name"],
                          "notes": CLINICAL["patient case notes"]})
    add("communications", {"patient_id": pid, "type_code": 3, "confidential": True,
                           "content": CLINICAL["confidential memo"]})
    add("communications", {"patient_id": pid, "type_code": 1, "content": "Reminder: your appointment is tomorrow"})
    add("patient_attachments", {"patient_id": pid, "filename": f"{CLINICAL['attachment file name']}.txt",
                                "content_type": "text/plain",
                                "content_base64": base64.b64encode(CLINICAL["attachment bytes"].encode()).decode()})
    add("individual_appointments", {**links, "patient_id": pid, "notes": CLINICAL["appointment notes"],
                                    "starts_at": "2025-01-02T00:00:00Z", "ends_at": "2025-01-02T00:30:00Z"})
    group = add("group_appointments", {**links, "notes": CLINICAL["group appointment notes"],
                                       "starts_at": "2025-01-03T00:00:00Z", "ends_at": "2025-01-03T01:00:00Z"})
    add("attendees", {"patient_id": pid, "booking_id": group["id"], "notes": CLINICAL["attendee notes"]})
    return str(pid)


@pytest.fixture
def two_accounts(pipedrive_sandbox_factory: Any) -> Iterator[tuple[Any, Any]]:
    yield pipedrive_sandbox_factory(), pipedrive_sandbox_factory()


def test_exclude_clinical_keeps_every_clinical_field_out_of_every_request(tmp_path: Path, empty_clinic: Any,
                                                                        two_accounts: tuple[Any, Any]) -> None:
    pid = clinical_clinic(empty_clinic)
    runs: dict[bool, Any] = {}
    seen: dict[bool, RequestTap] = {}
    threads = []
    for excluded, pipedrive in zip((True, False), two_accounts, strict=True):
        folder = tmp_path / f"exclude-{excluded}"
        folder.mkdir()
        seen[excluded] = RequestTap(pipedrive)
        target = target_config(pipedrive, folder, confirmed_map(folder, {"exclude_clinical": excluded}))
        tap = tap_config(empty_clinic, attachments_dir=str(folder / "attachments"))
        threads.append(threading.Thread(target=lambda e=excluded, f=folder, t=tap, g=target: runs.__setitem__(
            e, (run_pipeline(f, t, g), g))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for excluded, (run, target) in runs.items():
        assert run.tap_code == 0 and run.target_code == 0, (excluded, run.output[-3000:])
        persons = {p["name"] for p in live(two_accounts[0 if excluded else 1], "person")}
        assert "Priya Private" in persons, excluded  # the patient herself is migrated either way
        rows = audit(target, tmp_path / f"exclude-{excluded}")
        assert rows[f"cliniko:patient:{pid}"]["status"] == "migrated"

    # with the policy on: not one request carries any clinical text, in its body, path or query
    leaks = {field: seen[True].carrying(marker) for field, marker in CLINICAL.items()}
    assert {field: where for field, where in leaks.items() if where} == {}
    # the same clinic without the policy does send them: the check above can fail
    sent = {field for field, marker in CLINICAL.items() if seen[False].carrying(marker)}
    assert sent == set(CLINICAL) - {"confidential memo"}, set(CLINICAL) - sent  # memos: own policy, skipped
    assert "POST /v1/files" in pipedrive_writes(two_accounts[1])
    assert "POST /v1/files" in pipedrive_writes(two_accounts[0])  # the non-clinical communications CSV still goes


# -- the full demo: secrets and patient names never in what the operator sees or the logs -------------------------
SECRET_KEY = "CLINIKOSECRETkey7731zq-au1"
SECRET_TOKEN = "PIPEDRIVESECRETtoken7731zq0000000000000000"
NAMES = ("Zebulon", "Quaxworth", "Ysolde", "Marchbanks")


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_the_demo_never_shows_secrets_or_patient_names_and_keeps_patient_files_owner_only(
        tmp_path: Path, cliniko_sandbox_factory: Any, pipedrive_sandbox_factory: Any) -> None:
    if not (ROOT / ".meltano" / "loaders" / "target-pipedrive").exists():
        pytest.fail("meltano plugins are not installed: run `make install` (it runs `meltano install`)")
    cliniko = cliniko_sandbox_factory(size="none", api_keys=[SECRET_KEY])
    pipedrive = pipedrive_sandbox_factory(api_token=SECRET_TOKEN)
    pid = clinical_clinic(cliniko)
    first, last, other_first, other_last = NAMES
    cliniko.admin("POST", "/_admin/mutate", {"resource": "patients", "id": pid, "set": {
        "first_name": first, "last_name": last, "email": f"{first}.{last}@example.com".lower()}})
    # a patient whose record fails in Pipedrive (a 1 MB occupation): its error must not quote her
    cliniko.admin("POST", "/_admin/records/patients", {"first_name": other_first, "last_name": other_last,
                                                      "occupation": f"{other_first} {other_last} " * 40000})
    env = meltano_env(tmp_path, cliniko, pipedrive)
    # meltano_env's private Meltano system folder (the installed plugins linked in): its run files and logs are
    # this run's alone, whatever other Meltano runs the project has going
    system = Path(env["MELTANO_SYS_DIR_ROOT"])
    logs_before = set(_files_under(ROOT / ".meltano" / "logs"))
    shutil.copy(confirmed_map(tmp_path), env["TARGET_PIPEDRIVE_MAP"])

    run = meltano(env, "run", "tap-cliniko", "target-pipedrive")
    assert run.returncode in (0, 1), run.stderr[-3000:]  # 1: the oversized record failed, as reported
    assert live(pipedrive, "person"), f"nothing was migrated, the test proves nothing: {run.stderr[-3000:]}"
    report = tmp_path / "report"  # what `target-pipedrive-admin report` writes
    failed = [r for r in audit({"crosswalk_url": env["TARGET_PIPEDRIVE_CROSSWALK_URL"]}, report).values()
              if r["status"] == "failed"]
    assert failed, "the oversized record did not fail: its error message was never written"

    shown = {"meltano run": run.stdout + run.stderr}
    for path in [*set(_files_under(ROOT / ".meltano" / "logs")) - logs_before, *_files_under(system / "logs")]:
        shown[str(path)] = path.read_text(errors="replace")
    for where, text in shown.items():
        for secret in (SECRET_KEY, SECRET_TOKEN, *NAMES, *CLINICAL.values()):
            assert secret.lower() not in text.lower(), f"{secret!r} appears in {where}"
    # the audit report is the clinic's own (owner-only, checked below): a record is labelled by the name people
    # know it by, but a secret never appears, and an error message never quotes a patient's data
    assert _files_under(report)
    for path in _files_under(report):
        text = path.read_text(errors="replace")
        for secret in (SECRET_KEY, SECRET_TOKEN):
            assert secret.lower() not in text.lower(), f"{secret!r} appears in {path.name}"
    document = json.loads(next(p for p in _files_under(report) if p.name == "audit.json").read_text())
    assert any(first in (r["label"] or "") for r in document["records"]), "records are not labelled by name"
    for row in document["records"]:
        said = " ".join(str(row[k] or "") for k in ("error_code", "message", "warnings")).lower()
        for secret in (*NAMES, *CLINICAL.values()):
            assert secret.lower() not in said, f"{secret!r} appears in the message of {row['source_key']}"

    # patient data on disk: owner-only files in owner-only folders
    crosswalk = Path(env["TARGET_PIPEDRIVE_CROSSWALK_URL"].removeprefix("sqlite:///"))
    private = [crosswalk, *crosswalk.parent.glob(crosswalk.name + "-*"), *_files_under(report),
               *_files_under(Path(env["TAP_CLINIKO_ATTACHMENTS_DIR"])),
               *_files_under(Path(env["TARGET_PIPEDRIVE_MAP_OUTPUT_DIR"]))]
    assert any(p.suffix == ".csv" for p in private) and any(p.suffix == ".txt" for p in private), private
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is readable by others"
    for folder in {p.parent for p in private if p != crosswalk}:
        assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0, f"{folder} is open to others"
