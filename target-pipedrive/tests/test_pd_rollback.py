"""Rollback returns the account to its exact prior contents; it is confirmed, resumable, idempotent and careful."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pd_helpers import (
    assert_exact_clinic,
    base_config,
    clinic,
    messages,
    objects,
    run_admin,
    run_inproc,
    snapshot,
)


def _prior_account(sb: Any) -> None:
    """Data the clinic had before the migration, which the migration adopts and changes."""
    sb.request("POST", "/api/v2/persons", json={"name": "Patient 1 Example", "emails": [
        {"value": "patient1@mail.example", "label": "work"}], "phones": [{"value": "+61 2 0000 0000"}]})
    sb.request("POST", "/api/v1/personFields", json={"name": "Referral source", "field_type": "enum",
                                                     "options": [{"label": "GP"}]})
    follow_up = sb.request("POST", "/api/v1/activityTypes", json={"name": "Follow-up", "icon_key": "call"})
    assert follow_up.status_code == 200


def test_rollback_restores_the_exact_prior_snapshot_including_updated_fields(
        pipedrive_sandbox: Any, pipedrive_spec_validator: Any, tmp_path: Path, crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    _prior_account(sb)
    prior = snapshot(sb)
    data = clinic(tmp_path / "files")
    first = run_inproc(cfg, messages(data))
    assert first.returncode == 0 and "persons: created 3, matched 1" in first.stderr
    data["persons"][2]["name"] = "Patient 3 Renamed"
    data["notes"][0]["content"] = "<p>Corrected note</p>"
    assert run_inproc(cfg, messages(data)).returncode == 0
    migrated = snapshot(sb)
    assert migrated != prior

    preview = run_admin(cfg, ["rollback", "--all"], tmp_path)
    assert preview.returncode == 0 and "Nothing was changed. Re-run with --yes" in preview.stdout
    assert "restore persons: 2" in preview.stdout and "delete persons: 3" in preview.stdout
    assert snapshot(sb) == migrated
    estimate = re.search(r"Estimated cost: (\d+) Pipedrive requests, (\d+) tokens", preview.stdout)
    assert estimate, preview.stdout

    sb.admin("POST", "usage/reset", {})
    done = run_admin(cfg, ["rollback", "--all", "--yes"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    usage = sb.admin("GET", "usage")  # the estimate is exact when nobody changed the objects since
    assert (usage["requests"], usage["tokens_today"]) == (int(estimate[1]), int(estimate[2])), usage["by_operation"]
    assert snapshot(sb) == prior  # created objects gone, adopted ones back to their old values
    again = run_admin(cfg, ["rollback", "--all", "--yes"], tmp_path)
    assert again.returncode == 0 and "nothing to roll back" in again.stdout
    assert snapshot(sb) == prior
    # the crosswalk forgot the rolled-back records: a new run migrates them again, once
    redo = run_inproc(cfg, messages(data))
    assert redo.returncode == 0, redo.stderr
    assert_exact_clinic(sb, data)
    pipedrive_spec_validator.assert_clean()


def test_rollback_refuses_records_changed_in_pipedrive_unless_forced(pipedrive_sandbox: Any, tmp_path: Path,
                                                                     crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    prior = snapshot(sb)
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    first = run_inproc(cfg, messages(data))
    run_id = first.stderr.split("Run ")[1].split(":")[0]
    edited = next(p for p in objects(sb, "person") if p["name"] == "Patient 2 Example")
    sb.admin("PATCH", f"objects/person/{edited['id']}", {"name": "Edited By Reception"})
    note = next(n for n in objects(sb, "note") if "[ref:cliniko:treatment_note:1]" in n["content"])
    sb.admin("PATCH", f"objects/note/{note['id']}", {"content": "<p>Rewritten by a clinician</p>"})

    careful = run_admin(cfg, ["rollback", "--run", run_id, "--yes"], tmp_path)
    assert careful.returncode == 1
    assert "REFUSED delete persons" in careful.stdout and "(name)" in careful.stdout
    assert "REFUSED delete notes" in careful.stdout and "(content)" in careful.stdout
    assert {p["name"] for p in objects(sb, "person")} == {"Edited By Reception"}
    assert [n["id"] for n in objects(sb, "note")] == [note["id"]]
    assert objects(sb, "activity") == [] and objects(sb, "file") == []

    forced = run_admin(cfg, ["rollback", "--run", run_id, "--yes", "--force"], tmp_path)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "2 step(s) done, 0 refused" in forced.stdout  # resumed: only what was left
    assert "add --schema" in forced.stdout  # one run's rollback keeps the custom fields and activity types
    assert objects(sb, "person") == [] and len(objects(sb, "activity_type")) > len(prior["activity_type"])
    schema = run_admin(cfg, ["rollback", "--run", run_id, "--schema", "--yes"], tmp_path)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    assert snapshot(sb) == prior


def test_report_lists_every_record_with_its_id_and_action(pipedrive_sandbox: Any, tmp_path: Path,
                                                          crosswalk_url: str) -> None:
    sb = pipedrive_sandbox
    cfg = base_config(sb, tmp_path, crosswalk_url=crosswalk_url)
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    assert run_inproc(cfg, messages(data)).returncode == 0
    out = tmp_path / "report"
    result = run_admin(cfg, ["report", "--out-dir", str(out)], tmp_path)
    assert result.returncode == 0
    lines = (out / "audit.csv").read_text().splitlines()
    assert lines[0] == ("stream,source_key,status,action,pipedrive_id,error_code,message,warnings,run_id,at,label,"
                        "pipedrive_url")
    expected = sum(len(v) for v in data.values()) + 2  # + the two external-id fields the target ensured
    assert len(lines) - 1 == expected
    person_ids = {p["id"] for p in objects(sb, "person")}
    person_rows = [line.split(",") for line in lines if line.startswith("persons,")]
    assert {int(r[4]) for r in person_rows} == person_ids and {r[3] for r in person_rows} == {"created"}
    assert all(r[2] == "migrated" for r in person_rows)
    assert any("owner_fallback" in line for line in lines if line.startswith("persons,cliniko:patient:2,"))
