"""End to end: after `meltano run tap-cliniko target-pipedrive`, `target-pipedrive:verify` reads it all back.

The small clinic goes through the real map (as in test_migration.py, whose helpers this
reuses). The diff's expected column must hold the Cliniko values (checked here against the
Cliniko sandbox's own rows, not against the crosswalk), everything must match, and a value
changed in Pipedrive afterwards must be the one difference reported.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from test_migration import ROOT, Account, Clinic, meltano, meltano_env, migrate

SAMPLE = 6


def _verify(env: dict[str, str], out: Path) -> tuple[int, dict[str, Any], list[dict[str, str]]]:
    proc = meltano(env, "invoke", "target-pipedrive:verify", "--out-dir", str(out))
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    with (out / "diff.csv").open(encoding="utf-8") as handle:
        differences = [r for r in csv.DictReader(handle) if r["verdict"] != "match"
                       and r["verdict"] != "not_yet_migrated"]  # a sample: the rest of the clinic comes later
    return proc.returncode, json.loads((out / "diff.json").read_text(encoding="utf-8")), differences


def test_verify_after_meltano_run_matches_cliniko_then_reports_the_one_edited_field(
        tmp_path: Path, cliniko_sandbox: Any, pipedrive_sandbox: Any) -> None:
    if not (ROOT / ".meltano" / "loaders" / "target-pipedrive").exists():
        pytest.fail("meltano plugins are not installed: run `make install` (it runs `meltano install`)")
    cliniko, pipedrive = cliniko_sandbox, pipedrive_sandbox
    clinic = Clinic(cliniko)
    for user in clinic.users.values():
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                      "email": user["email"]})
    env = meltano_env(tmp_path, cliniko, pipedrive)
    env["TAP_CLINIKO_SAMPLE_PATIENTS"] = str(SAMPLE)  # the whole clinic is test_migration.py's job; keep this quick
    assert meltano(env, "invoke", "target-pipedrive:confirm-map").returncode == 0
    first = migrate(env, cliniko, pipedrive)
    assert first.returncode in (0, 1), first.stderr[-3000:]  # 1 when a record failed; verify covers the migrated
    account = Account(pipedrive)

    code, document, differences = _verify(env, tmp_path / "verify")
    assert (code, differences) == (0, []), differences[:5]
    per_type = document["summary"]["by_object_type"]
    assert {s: per_type[s]["objects"] for s in ("persons", "activities", "notes", "products", "files")} == {
        "persons": len(account.persons), "activities": len(account.activities), "notes": len(account.notes),
        "products": len(account.products), "files": len(account.files)}
    assert all(t["all_match"] == t["objects"] for t in per_type.values())
    # against Cliniko: the sample's records are accounted for, the rest of the clinic is still to come
    completeness = document["summary"]["completeness"]
    counts = cliniko.admin("GET", "/_admin/counts")
    assert completeness["in_cliniko"] == sum(c["total"] for c in counts.values())
    assert completeness["problems"] == 0 and completeness["verdicts"]["not_yet_migrated"] > 0
    assert len(account.persons) <= completeness["per_stream"]["patients"]["received"] < len(clinic.patients)

    # the expected column is what the map made of the Cliniko rows
    rows = {(r["source_key"], r["field"]): r for r in document["rows"]}
    checked, sampled = 0, [pid for pid in clinic.migrated if f"cliniko:patient:{pid}" in account.persons]
    assert 0 < len(sampled) <= SAMPLE
    for pid in sampled:
        patient, key = clinic.patients[pid], f"cliniko:patient:{pid}"
        if patient.get("date_of_birth"):
            assert rows[(key, "custom_fields.Date of birth")]["cliniko_value"] == patient["date_of_birth"], pid
            checked += 1
        first_name, last = (patient.get("first_name") or "").strip(), (patient.get("last_name") or "").strip()
        if first_name and last and not patient.get("preferred_first_name"):
            assert rows[(key, "name")]["cliniko_value"] == f"{first_name} {last}", pid
    activities = {k: v for k, v in clinic.activities().items() if v[0] in sampled}
    for key, (_pid, starts_at, email) in activities.items():
        assert rows[(key, "due_date")]["cliniko_value"] == starts_at[:10], key
        assert rows[(key, "owner_id")]["cliniko_value"].lower() == email, key
    assert checked >= 3 and len(activities) == per_type["activities"]["objects"] > 3

    # one field of one person changed in Pipedrive after the migration: exactly that difference
    key, person = sorted(account.persons.items())[0]
    old = person["name"]
    changed = pipedrive.request("PATCH", f"/api/v2/persons/{person['id']}", json={"name": "Changed In Pipedrive"})
    assert changed.status_code == 200
    code, document, differences = _verify(env, tmp_path / "verify")
    assert code == 1
    assert [(r["stream"], r["source_key"], r["field"], r["cliniko_value"], r["pipedrive_value"], r["verdict"])
            for r in differences] == [("persons", key, "name", old, "Changed In Pipedrive", "mismatch")]
