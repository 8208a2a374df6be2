"""The README's path for a new user: rehearse on the sandboxes, then migrate for real.

The `$M ...` lines of README "The migration: Cliniko → Pipedrive, step by step" run as printed,
in a fresh project (scratch.py: this meltano.yml and the folders `make install` makes): first with
`--environment sandbox` against one pair of sandboxes - the rehearsal, up to the full migration
and its report (the later lines are the same commands again, and each costs seconds of CI) -
then every line with `--environment prod` against a second pair - another clinic, another
Pipedrive company - reached through the variables the README's prod steps export. Only base
URLs, pacing and the sample size are set from outside; crosswalk, map and output folders are
meltano.yml's defaults, `output/<environment>/`.

When both environments shared `output/crosswalk.sqlite`, prod's first writing step refused
("crosswalk_url holds the migration into another Pipedrive company"). Now every step exits 0 in
both, each environment's files are in its own folder, the second Pipedrive holds exactly the
clinic and the first is untouched by prod.

Privacy, from the moment each file exists: the rehearsal's sample run is SIGKILLed (its whole
process group) mid-migration, which leaves Meltano's run-config files - API key and token - on
disk, then re-run with `--force` as the README says. After the kill and after everything, no
file under `output/` or `.meltano/` can be read by another local user, and every file the
plugins wrote is 0600 in 0700 folders (the DuckDB file is target-duckdb's, protected by its folder).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from pipeline_helpers import ServedCliniko, ServedPipedrive, group_alive, kill_group, usage
from scratch import MELTANO, ROOT, clean_env, exposed, meltano, open_modes, scratch_project
from test_migration import Account, Clinic, check_contents

KILL_AFTER_ACTIVITIES = 10  # the sample run is killed after this many activities were created in it
SAMPLE = "5"  # step 4's sample (meltano.yml says 200, more than the small clinic has)


def readme_steps() -> list[list[str]]:
    """The `$M ...` lines of the README's step-by-step section, as Meltano arguments."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The migration: Cliniko"):]
    section = section[: section.index("\n## ")]
    assert 'M=".venv/bin/meltano --environment prod"' in section
    steps = [shlex.split(line.split("#", 1)[0])[1:] for line in section.splitlines() if line.startswith("$M ")]
    assert steps[:3] == [["run", "plan"], ["invoke", "target-pipedrive:confirm-map"],
                         ["invoke", "target-pipedrive:setup"]], steps
    return steps


def warehouse_step() -> list[str]:
    """README "Running against the real Cliniko and Pipedrive": Cliniko into the warehouse."""
    line = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                if line.strip().startswith(".venv/bin/meltano --environment prod run tap-cliniko target-duckdb"))
    return shlex.split(line.split("#", 1)[0])[3:]


def sandbox_pair(folder: Path, seed_value: str) -> tuple[ServedCliniko, ServedPipedrive]:
    """The small clinic and a Pipedrive company of its own (the seed value names the company) whose users are the
    clinic's staff."""
    folder.mkdir()
    cliniko = ServedCliniko("cliniko", folder / "cliniko.sqlite", ["--seed", "small", "--rate-limit-per-minute", "0"])
    pipedrive = ServedPipedrive("pipedrive", folder / "pipedrive.sqlite", ["--no-limits", "--seed-value", seed_value])
    cliniko.start()
    pipedrive.start()
    for user in Clinic(cliniko).users.values():
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": f"{user['first_name']} {user['last_name']}",
                                                      "email": user["email"]})
    return cliniko, pipedrive


def quick() -> dict[str, str]:
    """No pacing against sandboxes without limits, a small sample."""
    return {"TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": "0", "TARGET_PIPEDRIVE_RATE_LIMIT_BURST": "1000",
            "TAP_CLINIKO__SAMPLE_SAMPLE_PATIENTS": SAMPLE, "TARGET_PIPEDRIVE_PROGRESS_INTERVAL_S": "0"}


def step(project: Path, env: dict[str, str], environment: str, args: list[str]) -> str:
    done = meltano(project, env, ["--environment", environment, *args])
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{environment}: meltano {' '.join(args)} exited {done.returncode}:\n{out[-3000:]}"
    return out


def killed_mid_run(project: Path, env: dict[str, str], args: list[str], pipedrive: ServedPipedrive) -> None:
    """`meltano --environment sandbox <args>` SIGKILLed, its whole process group, once the migration has created
    KILL_AFTER_ACTIVITIES activities (progress, not time, so the kill lands inside the run)."""
    base = usage(pipedrive).get("POST /v2/activities", 0)
    with open(project.parent / "killed-run.log", "wb") as log:
        proc = subprocess.Popen([str(MELTANO), "--environment", "sandbox", *args], cwd=project, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    began = time.monotonic()
    while usage(pipedrive).get("POST /v2/activities", 0) - base < KILL_AFTER_ACTIVITIES:
        if proc.poll() is not None:
            tail = (project.parent / "killed-run.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"the run ended ({proc.returncode}) before its kill point:\n{tail}")
        if time.monotonic() - began > 300:
            kill_group(proc)
            raise AssertionError("the run did not reach its kill point within 300 s")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    while group_alive(proc.pid):
        time.sleep(0.05)


def private(project: Path) -> None:
    """Nothing under output/ or .meltano/ readable by another user; the plugins' own files and folders owner-only."""
    assert exposed(project, "output") == [] and exposed(project, ".meltano") == [], (
        exposed(project, "output") + exposed(project, ".meltano"))
    assert open_modes(project, "output", skip=(".duckdb", ".duckdb.wal")) == []


def audit(project: Path, environment: str) -> dict[str, Any]:
    document = json.loads((project / "output" / environment / "report" / "audit.json").read_text(encoding="utf-8"))
    assert document["reconciliation"]["line"].endswith(": reconciled"), document["reconciliation"]["line"]
    return document


def test_rehearsal_on_the_sandboxes_then_the_real_migration(tmp_path: Path) -> None:
    project = scratch_project(tmp_path)
    steps = readme_steps()
    pairs = [sandbox_pair(tmp_path / "rehearsal", "7"), sandbox_pair(tmp_path / "clinic", "8")]
    try:
        (cliniko_a, pipedrive_a), (cliniko_b, pipedrive_b) = pairs
        # the rehearsal: the sandbox environment's own credentials; only where the sandboxes listen differs
        rehearsal = clean_env(TAP_CLINIKO_BASE_URL=cliniko_a.base_url, TARGET_PIPEDRIVE_BASE_URL=pipedrive_a.url,
                              TARGET_PIPEDRIVE_CLINIKO_BASE_URL=cliniko_a.base_url, **quick())
        full_run = ["run", "tap-cliniko", "target-pipedrive"]
        assert ["run", "sample"] in steps and full_run in steps
        for args in [*steps[: steps.index(full_run) + 1], ["invoke", "target-pipedrive:report"]]:
            if args == ["run", "sample"]:  # the only run of its pipeline (the lock a kill leaves is per pipeline)
                killed_mid_run(project, rehearsal, args, pipedrive_a)
                leftovers = {p.name.split(".")[0] for p in (project / ".meltano" / "run").glob("*/*.config.json")}
                assert leftovers == {"tap", "target"}, f"the kill left {leftovers} run-config files, not both"
                private(project)
                args = ["run", "--force", *args[1:]]  # Meltano's stale-run lock names --force
            step(project, rehearsal, "sandbox", args)
        rehearsed = pipedrive_a.admin("GET", "/_admin/snapshot")
        rehearsal_audit = audit(project, "sandbox")

        # the real migration: what the README's prod steps export, pointed at the second pair
        prod = clean_env(TAP_CLINIKO_API_KEY=cliniko_b.api_key,
                         TAP_CLINIKO_USER_AGENT="Acme Clinic migration (it@acme-clinic.example)",
                         TAP_CLINIKO_BASE_URL=cliniko_b.base_url, TARGET_PIPEDRIVE_API_TOKEN=pipedrive_b.api_token,
                         TARGET_PIPEDRIVE_BASE_URL=pipedrive_b.url, TARGET_PIPEDRIVE_PLAN_TIER="growth",
                         TARGET_PIPEDRIVE_SEATS="3", **quick())
        step(project, prod, "prod", warehouse_step())
        for args in steps:
            step(project, prod, "prod", args)

        check_contents(Clinic(cliniko_b), Account(pipedrive_b))
        assert pipedrive_a.admin("GET", "/_admin/snapshot") == rehearsed, "prod wrote to the rehearsal's Pipedrive"
        prod_audit = audit(project, "prod")
        assert len(prod_audit["records"]) == len(rehearsal_audit["records"]) > 0  # the same clinic twice
        assert sorted(p.name for p in (project / "output").iterdir()) == ["prod", "sandbox"]
        for environment in ("sandbox", "prod"):
            folder = project / "output" / environment
            for name in ("crosswalk.sqlite", "cliniko-map.confirmed.yaml", "plan/plan.html", "verify/diff.json",
                         "report/audit.html"):
                assert (folder / name).is_file(), f"output/{environment}/{name} is missing"
            assert any((folder / "attachments").rglob("*-*")) and any((folder / "map").iterdir())
        assert (project / "output" / "prod" / "clinic.duckdb").is_file()
        private(project)
    finally:
        for cliniko, pipedrive in pairs:
            pipedrive.stop()
            cliniko.stop()
