"""End to end: `meltano run tap-cliniko target-pipedrive` moves the small clinic into Pipedrive.

Both APIs are the project's sandboxes, over real HTTP; Meltano runs the real plugins. What
must be in Pipedrive is computed here, independently, from the Cliniko sandbox's rows and
the map's documented policies (deleted/merged patients skipped, archived migrated,
cancelled appointments migrated, deleted records skipped, confidential memos skipped,
files over 50 MB reported), then compared with what the Pipedrive sandbox stores.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).with_name("meltano")
REF = re.compile(r"\[ref:(cliniko:[a-z_]+:\d+)\]")
MAX_FILE = 50 * 1024 * 1024
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def link_id(rec: dict[str, Any], name: str) -> str | None:
    if rec.get(f"{name}_id"):
        return str(rec[f"{name}_id"])
    url = ((rec.get(name) or {}).get("links") or {}).get("self")
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else None


def private_sys_dir(tmp_path: Path) -> Path:
    """Meltano's `.meltano` for this test alone: the installed plugins, but its own `run/` files. Meltano
    writes each tap's catalog to one shared path there; a kill mid-write, or another Meltano started in
    the same project (a test on the other pytest worker), must not touch what other runs read."""
    sys_dir = tmp_path / "meltano-sys"
    sys_dir.mkdir(exist_ok=True)
    for kind in ("extractors", "loaders"):
        if not (sys_dir / kind).exists():
            (sys_dir / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return sys_dir


def meltano_env(tmp_path: Path, cliniko: Any, pipedrive: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_CLINIKO_", "TARGET_"))}
    env.update({
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "MELTANO_SYS_DIR_ROOT": str(private_sys_dir(tmp_path)),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TAP_CLINIKO_BASE_URL": cliniko.base_url,
        "TAP_CLINIKO_API_KEY": cliniko.api_key,
        "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": "0",
        "TAP_CLINIKO_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "TARGET_PIPEDRIVE_BASE_URL": pipedrive.base_url,
        "TARGET_PIPEDRIVE_API_TOKEN": pipedrive.api_token,
        "TARGET_PIPEDRIVE_CLINIKO_BASE_URL": cliniko.base_url,  # verify counts what Cliniko holds
        "TARGET_PIPEDRIVE_CLINIKO_API_KEY": cliniko.api_key,
        "TARGET_PIPEDRIVE_CROSSWALK_URL": f"sqlite:///{tmp_path / 'crosswalk.sqlite'}",
        "TARGET_PIPEDRIVE_MAP": str(tmp_path / "cliniko-map.confirmed.yaml"),
        "TARGET_PIPEDRIVE_MAP_OUTPUT_DIR": str(tmp_path / "map-output"),
        "TARGET_PIPEDRIVE_RATE_LIMIT_BURST": "1000",  # the sandbox has no limits here; the tests of the target pace
        "TARGET_PIPEDRIVE_PROGRESS_INTERVAL_S": "0",
    })
    return env


def meltano(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MELTANO), "--environment", "sandbox", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def migrate(env: dict[str, str], cliniko: Any, pipedrive: Any) -> subprocess.CompletedProcess[str]:
    proc = meltano(env, "run", "tap-cliniko", "target-pipedrive")
    out = proc.stdout + proc.stderr
    assert cliniko.api_key not in out and pipedrive.api_token not in out
    return proc


class Clinic:
    """What the Cliniko sandbox holds, and what the map's policies say must reach Pipedrive."""

    def __init__(self, cliniko: Any) -> None:
        def rows(name: str) -> list[dict[str, Any]]:
            return cliniko.admin("GET", f"/_admin/records/{name}")[name]

        self.patients = {p["id"]: p for p in rows("patients")}
        self.migrated = {pid for pid, p in self.patients.items() if not p.get("deleted_at") and not p.get("merged_at")}
        self.users = {u["id"]: u for u in rows("users")}
        self.practitioners = {p["id"]: p for p in rows("practitioners")}
        self.groups = {g["id"]: g for g in rows("group_appointments")}
        self.appointments = rows("individual_appointments")
        self.attendees = rows("attendees")
        self.treatment_notes = rows("treatment_notes")
        self.alerts = rows("medical_alerts")
        self.cases = rows("patient_cases")
        self.attachments = rows("patient_attachments")
        self.communications = rows("communications")

    def owner(self, rec: dict[str, Any]) -> str | None:
        """The patient a record lands on: a merged patient's records follow them (policy merged_patients: skip)."""
        pid = link_id(rec, "patient")
        patient = self.patients.get(pid or "")
        if patient and patient.get("merged_at") and link_id(patient, "merged_with_patient"):
            return link_id(patient, "merged_with_patient")
        return pid

    def belongs(self, rec: dict[str, Any]) -> bool:
        return self.owner(rec) in self.migrated and not rec.get("deleted_at")

    def practitioner_email(self, practitioner_id: str | None) -> str | None:
        practitioner = self.practitioners.get(practitioner_id or "")
        user = self.users.get(link_id(practitioner, "user") or "") if practitioner else None
        return user["email"].lower() if user and user.get("email") else None

    def activities(self) -> dict[str, tuple[str | None, str, str | None]]:
        """source key -> (patient id, starts_at, practitioner e-mail)."""
        out: dict[str, tuple[str | None, str, str | None]] = {}
        for a in self.appointments:
            if self.belongs(a):
                out[f"cliniko:individual_appointment:{a['id']}"] = (
                    self.owner(a), a["starts_at"], self.practitioner_email(link_id(a, "practitioner")))
        for a in self.attendees:
            group = self.groups.get(link_id(a, "booking") or "")
            if self.belongs(a) and group and not group.get("deleted_at"):
                out[f"cliniko:attendee:{a['id']}"] = (
                    self.owner(a), group["starts_at"], self.practitioner_email(link_id(group, "practitioner")))
        return out

    def notes(self) -> dict[str, str | None]:
        """source key -> patient id."""
        out = {f"cliniko:treatment_note:{n['id']}": self.owner(n) for n in self.treatment_notes if self.belongs(n)}
        out |= {f"cliniko:medical_alert:{n['id']}": self.owner(n) for n in self.alerts if self.belongs(n)}
        out |= {f"cliniko:patient_case:{n['id']}": self.owner(n) for n in self.cases if self.belongs(n)}
        out |= {f"cliniko:patient_notes:{pid}": pid for pid in self.migrated
                if (self.patients[pid].get("notes") or "").strip() or (self.patients[pid].get("appointment_notes")
                                                                        or "").strip()}
        return out

    def files_per_patient(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.attachments:
            if self.belongs(a) and a.get("processing_completed") and (a.get("size") or 0) <= MAX_FILE:
                out[self.owner(a) or ""] = out.get(self.owner(a) or "", 0) + 1
        with_csv = {self.owner(c) for c in self.communications if self.belongs(c) and not c.get("confidential")}
        for pid in with_csv:
            out[pid or ""] = out.get(pid or "", 0) + 1
        return out


class Account:
    """What the Pipedrive sandbox stores."""

    def __init__(self, pipedrive: Any) -> None:
        def objects(kind: str) -> list[dict[str, Any]]:
            return [o for o in pipedrive.admin("GET", f"/_admin/objects/{kind}")["data"] if not o.get("is_deleted")
                    and o.get("active_flag", True)]

        fields = {f["name"]: f["key"] for f in objects("field") if f["entity"] == "person"}
        self.fields = fields
        self.cliniko_id, self.dob = fields["Cliniko ID"], fields["Date of birth"]
        self.persons = {p["custom_fields"].get(self.cliniko_id): p for p in objects("person")}
        self.activities = objects("activity")
        self.notes = objects("note")
        self.products = objects("product")
        self.files = objects("file")
        self.users = {u["email"].lower(): u["id"] for u in objects("user")}


def check_contents(clinic: Clinic, account: Account) -> None:
    # persons: exactly the migrated patients, with their values
    assert set(account.persons) == {f"cliniko:patient:{pid}" for pid in clinic.migrated}
    person_of = {key.rsplit(":", 1)[1]: p["id"] for key, p in account.persons.items()}
    for pid in clinic.migrated:
        patient, person = clinic.patients[pid], account.persons[f"cliniko:patient:{pid}"]
        first, last = (patient.get("first_name") or "").strip(), (patient.get("last_name") or "").strip()
        if first and last and not patient.get("preferred_first_name"):
            assert person["name"] == f"{first} {last}", pid
        if patient.get("email") and "@" in patient["email"]:
            assert patient["email"].strip().lower() in {e["value"].lower() for e in person["emails"]}, pid
        for number in patient.get("patient_phone_numbers") or []:
            assert number["number"] in {ph["value"] for ph in person["phones"]}, pid
        assert person["custom_fields"].get(account.dob) == patient.get("date_of_birth"), pid

    # activities: one per kept appointment and attendee, on the right person, owned by the practitioner's user
    expected = clinic.activities()
    by_key = {REF.search(a.get("note") or "").group(1): a for a in account.activities}  # type: ignore[union-attr]
    assert len(by_key) == len(account.activities)
    assert set(by_key) == set(expected)
    for key, (pid, starts_at, email) in expected.items():
        activity = by_key[key]
        assert activity["person_id"] == person_of[pid or ""], key
        assert activity["due_date"] == starts_at[:10] and activity["due_time"][:5] == starts_at[11:16], key
        assert email and activity["owner_id"] == account.users[email], key

    # notes: treatment notes, alerts, cases and patient notes, each on its person
    expected_notes = clinic.notes()
    notes = {REF.search(n["content"]).group(1): n for n in account.notes}  # type: ignore[union-attr]
    assert len(notes) == len(account.notes)
    assert set(notes) == set(expected_notes)
    for key, pid in expected_notes.items():
        assert notes[key]["person_id"] == person_of[pid or ""], key
    for tn in clinic.treatment_notes:
        key = f"cliniko:treatment_note:{tn['id']}"
        questions = [q["name"] for s in (tn.get("content") or {}).get("sections") or [] for q in s.get("questions", [])]
        if key in notes and questions:
            assert any(html.escape(q, quote=False) in notes[key]["content"] for q in questions), key

    # products: Cliniko products, billable items, appointment types
    assert len(account.products) == 6 + 10 + 6

    # files: attachments (up to 50 MB) and one communications CSV per patient, on the right person
    per_person: dict[int, int] = {}
    for f in account.files:
        per_person[f["person_id"]] = per_person.get(f["person_id"], 0) + 1
    assert per_person == {person_of[pid]: n for pid, n in clinic.files_per_patient().items()}


def writes(pipedrive: Any) -> dict[str, int]:
    usage = pipedrive.admin("GET", "/_admin/usage")["by_operation"]
    return {op: v["count"] for op, v in usage.items() if op.split(" ", 1)[0] in WRITES and v["count"]}


def test_meltano_run_migrates_the_small_clinic(tmp_path: Path, cliniko_sandbox: Any, pipedrive_sandbox: Any) -> None:
    if not (ROOT / ".meltano" / "loaders" / "target-pipedrive").exists():
        pytest.fail("meltano plugins are not installed: run `make install` (it runs `meltano install`)")
    cliniko, pipedrive = cliniko_sandbox, pipedrive_sandbox
    clinic = Clinic(cliniko)
    for user in clinic.users.values():  # the clinic's staff have Pipedrive users with the same e-mail
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                      "email": user["email"].upper()})
    env = meltano_env(tmp_path, cliniko, pipedrive)

    # apply refuses an unconfirmed map before writing anything
    refused = migrate(env, cliniko, pipedrive)
    assert refused.returncode != 0 and "confirm-map" in refused.stderr
    assert writes(pipedrive) == {}
    confirmed = meltano(env, "invoke", "target-pipedrive:confirm-map")
    assert confirmed.returncode == 0, confirmed.stderr[-2000:]

    first = migrate(env, cliniko, pipedrive)
    assert first.returncode == 0, first.stderr[-3000:]
    report = meltano(env, "invoke", "target-pipedrive:report", "--out-dir", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr[-2000:]
    audit = json.loads((tmp_path / "report" / "audit.json").read_text())
    assert [r for r in audit["records"] if r["status"] == "failed"] == []
    # the attachment over Pipedrive's 50 MB limit is listed as needing manual handling, never dropped silently
    oversized = [a for a in clinic.attachments if clinic.belongs(a) and (a.get("size") or 0) > MAX_FILE]
    assert oversized
    manual = [r for r in audit["records"] if r["error_code"] == "file_too_large"]
    assert [(r["source_key"], r["status"]) for r in manual] == [
        (f"cliniko:patient_attachment:{a['id']}", "skipped") for a in oversized]
    assert "needs manual handling" in manual[0]["message"]
    # every Cliniko record the tap read is accounted for, per stream, against the sandbox's own counts
    reconciliation = audit["reconciliation"]
    received = {stream: sum(c.values()) for stream, c in reconciliation["per_stream"].items()}
    counts = {name: c["total"] for name, c in cliniko.admin("GET", "/_admin/counts").items() if c["total"]}
    assert received == {**counts, "settings": 1}  # the account's settings: one object, not a listed resource
    assert not any(c.get("unaccounted") or c.get("failed") for c in reconciliation["per_stream"].values())
    assert reconciliation["line"].endswith(": reconciled"), reconciliation["line"]
    check_contents(clinic, Account(pipedrive))
    # each patient's rollup PATCH is diffed against what this run's create left, never read back first
    usage = pipedrive.admin("GET", "/_admin/usage")["by_operation"]
    assert usage["PATCH /v2/persons/{id}"]["count"] > 0
    assert usage.get("GET /v2/persons/{id}", {"count": 0})["count"] == 0, usage["GET /v2/persons/{id}"]

    # a second run right after writes nothing
    pipedrive.admin("POST", "/_admin/usage/reset")
    second = migrate(env, cliniko, pipedrive)
    assert second.returncode == 0, second.stderr[-3000:]
    assert writes(pipedrive) == {}

    # changes in Cliniko: a third run writes exactly them
    template = next(a for a in clinic.appointments if clinic.belongs(a) and not a.get("cancelled_at")
                    and a["starts_at"] > "2020")
    edited = next(pid for pid in sorted(clinic.migrated) if pid != clinic.owner(template))
    invoiced = next(pid for pid in sorted(clinic.migrated, reverse=True) if pid not in (edited, clinic.owner(template)))
    count_field = Account(pipedrive).fields["Invoice count"]
    invoices_before = Account(pipedrive).persons[f"cliniko:patient:{invoiced}"]["custom_fields"].get(count_field) or 0
    new_patient = cliniko.admin("POST", "/_admin/records/patients", {
        "first_name": "Aroha", "last_name": "Ngata", "email": "aroha.ngata@example.com", "date_of_birth": "1990-04-05"})
    cliniko.admin("POST", "/_admin/mutate", {"resource": "patients", "id": edited, "set": {"last_name": "Renamed"}})
    new_appointment = cliniko.admin("POST", "/_admin/records/individual_appointments", {
        "patient_id": new_patient["id"], "practitioner_id": link_id(template, "practitioner"),
        "appointment_type_id": link_id(template, "appointment_type"), "business_id": link_id(template, "business"),
        "starts_at": "2031-03-04T23:30:00Z", "ends_at": "2031-03-05T00:15:00Z"})
    cliniko.admin("POST", "/_admin/cancel", {"resource": "individual_appointments", "id": template["id"]})
    cliniko.admin("POST", "/_admin/records/invoices", {
        "patient_id": invoiced, "number": 990001, "status": 20, "issue_date": "2026-10-30", "total_amount": "95.00"})
    new_note = cliniko.admin("POST", "/_admin/records/treatment_notes", {
        "patient_id": clinic.owner(template), "practitioner_id": link_id(template, "practitioner"), "draft": False,
        "title": "Review", "finalized_at": "2026-10-30T01:00:00Z",
        "content": {"sections": [{"name": "Review", "questions": [
            {"name": "Pain today", "type": "text", "answer": "Better"}]}]}})
    texted = next(c for c in clinic.communications if clinic.belongs(c) and not c.get("confidential")
                  and clinic.owner(c) not in (edited, invoiced, clinic.owner(template)))
    cliniko.admin("POST", "/_admin/records/communications", {
        "patient_id": clinic.owner(texted), "category": "Appointment Reminder", "category_code": 1, "type": "SMS",
        "type_code": 1, "direction_code": 1, "direction_description": "Sent", "content": "See you tomorrow"})
    pipedrive.admin("POST", "/_admin/usage/reset")
    third = migrate(env, cliniko, pipedrive)
    assert third.returncode == 0, third.stderr[-3000:]
    # the patient's communications CSV is replaced (the old version deleted), never duplicated
    assert writes(pipedrive) == {"POST /v2/persons": 1, "PATCH /v2/persons/{id}": 2, "POST /v2/activities": 1,
                                 "PATCH /v2/activities/{id}": 1, "POST /v1/notes": 1, "DELETE /v1/files/{id}": 1,
                                 "POST /v1/files": 1}, writes(pipedrive)
    account = Account(pipedrive)
    person = account.persons[f"cliniko:patient:{new_patient['id']}"]
    assert person["name"] == "Aroha Ngata" and person["custom_fields"][account.dob] == "1990-04-05"
    assert account.persons[f"cliniko:patient:{edited}"]["name"].endswith(" Renamed")
    activities = {REF.search(a.get("note") or "").group(1): a for a in account.activities}  # type: ignore[union-attr]
    booked = activities[f"cliniko:individual_appointment:{new_appointment['id']}"]
    assert booked["person_id"] == person["id"] and (booked["due_date"], booked["due_time"][:5]) == ("2031-03-04",
                                                                                                     "23:30")
    cancelled = activities[f"cliniko:individual_appointment:{template['id']}"]
    assert cancelled["done"] is True and "Cancelled" in cancelled["subject"]
    assert account.persons[f"cliniko:patient:{invoiced}"]["custom_fields"][count_field] == invoices_before + 1
    notes = {REF.search(n["content"]).group(1): n for n in account.notes}  # type: ignore[union-attr]
    written = notes[f"cliniko:treatment_note:{new_note['id']}"]
    assert "Pain today" in written["content"] and written["person_id"] == activities[
        f"cliniko:individual_appointment:{template['id']}"]["person_id"]
    check_contents(Clinic(cliniko), account)
