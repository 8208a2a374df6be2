"""The orchestrator: Dagster (dagster-meltano, Meltano's `dagster` utility) runs the migration job once.

`meltano invoke dagster job execute -f orchestrate/definitions.py -j migrate` starts Dagster from the
utility's own venv; its ops run `meltano run tap-cliniko target-pipedrive` against the sandboxes, then
`verify`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_migration import ROOT, Account, Clinic, check_contents, meltano, meltano_env

STATE_ID = "sandbox:tap-cliniko-to-target-pipedrive"


def test_dagster_runs_the_migration_job_through_meltano(tmp_path: Path, cliniko_sandbox: Any,
                                                        pipedrive_sandbox: Any) -> None:
    assert (ROOT / ".meltano" / "utilities" / "dagster").exists(), "run `make install` first"
    cliniko, pipedrive = cliniko_sandbox, pipedrive_sandbox
    clinic = Clinic(cliniko)
    for user in clinic.users.values():
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                      "email": user["email"]})
    env = {**meltano_env(tmp_path, cliniko, pipedrive), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "MIGRATION_OUTPUT": str(tmp_path / "output")}
    (tmp_path / "dagster").mkdir()
    assert meltano(env, "invoke", "target-pipedrive:confirm-map").returncode == 0

    run = meltano(env, "invoke", "dagster", "job", "execute", "-f", "orchestrate/definitions.py", "-j", "migrate")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "RUN_SUCCESS" in out and "migrate_pipeline" in out and "migrate_verify" in out
    assert cliniko.api_key not in out and pipedrive.api_token not in out
    check_contents(clinic, Account(pipedrive))
    # then its verify op, after the pipeline: no difference
    assert json.loads((tmp_path / "output" / "verify" / "diff.json").read_text())["summary"]["differences"] == 0
    listed = meltano(env, "state", "list")
    assert STATE_ID in listed.stdout, listed.stderr[-2000:]  # the bookmarks the run saved, for the next one
    # one job per clinic (its inherited plugins) named in MIGRATION_CLINICS
    jobs = meltano({**env, "MIGRATION_CLINICS": "clinic-a clinic-b"}, "invoke", "dagster", "job", "list", "-f",
                   "orchestrate/definitions.py")
    assert jobs.returncode == 0, jobs.stderr[-2000:]
    assert [line.split()[-1] for line in jobs.stdout.splitlines() if "Job: " in line] == [
        "migrate", "migrate_clinic_a", "migrate_clinic_b"]
