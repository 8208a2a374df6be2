"""Many clinics at once: two clinics migrated concurrently into two Pipedrive companies from one PostgreSQL.

The per-clinic pattern is the README's own ("Running at scale": inherited plugins, a job and a schedule
per clinic), read from the README and added, for clinic-a and clinic-b, to a copy of meltano.yml.
Both schedules run at the same time, with one set of environment variables, as an orchestrator
would run them. Each clinic is its own Cliniko account (another seed, another API key) and its own
Pipedrive company (another token), so a record that crossed over would show in the exact contents
of both; each pipeline has its own Meltano state id and crosswalk schema. Then the report of one
holds only its records, and rolling one back empties its company and leaves the other exact,
with no request of any kind sent to the other.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from pipeline_helpers import RUN_TIMEOUT_S, kill_group, served_sandboxes, usage
from sqlalchemy import create_engine, text
from test_migration import MELTANO, ROOT, Account, Clinic, check_contents
from workers import checkout, reviewed_map

CLINICS = {"clinic-a": 101, "clinic-b": 202}  # clinic -> seed of its Cliniko data
STATE = "prod:tap-cliniko--{0}-to-target-pipedrive--{0}"


def readme_pattern() -> str:
    """The README's YAML block for clinic-a."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if "- name: clinic-a" in b]
    assert len(found) == 1, "README 'Running at scale' shows one YAML block for clinic-a"
    return found[0]


def variables(clinic: str) -> str:
    return clinic.upper().replace("-", "_")


def clinics_project(where: Path) -> Path:
    """A copy of the project with the README's plugins, jobs and schedule for each clinic."""
    project = checkout(where)
    config = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))
    pattern = readme_pattern()
    for clinic in CLINICS:
        block = yaml.safe_load(pattern.replace("clinic-a", clinic).replace("clinic_a", clinic.replace("-", "_"))
                               .replace("CLINIC_A", variables(clinic)))
        for kind, plugins in block["plugins"].items():
            config["plugins"][kind].extend(plugins)
        for key in ("jobs", "schedules"):
            config.setdefault(key, []).extend(block[key])
    (project / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return project


def clinics_env(project: Path, database: str, sandboxes: dict[str, tuple[Any, Any]]) -> dict[str, str]:
    """One environment for every clinic's run (as an orchestrator has): each clinic's secrets and URLs under its
    own names, nothing under the plugins' own; Meltano's `prod` environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_CLINIKO_", "TARGET_", "MELTANO_"))}
    env.update({"MELTANO_PROJECT_ROOT": str(project), "MELTANO_DATABASE_URI": database, "MELTANO_ENVIRONMENT": "prod",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "TAP_CLINIKO_USER_AGENT": "Clinic group migration (it@clinics.example)",
                "TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE": "0", "TARGET_PIPEDRIVE_RATE_LIMIT_BURST": "1000",
                "TARGET_PIPEDRIVE_PROGRESS_INTERVAL_S": "0"})
    for clinic, (cliniko, pipedrive) in sandboxes.items():
        prefix = variables(clinic)
        env.update({f"{prefix}_CLINIKO_API_KEY": cliniko.api_key, f"{prefix}_PIPEDRIVE_TOKEN": pipedrive.api_token,
                    f"{prefix}_PIPEDRIVE_URL": pipedrive.base_url,
                    # the sandbox's URL stands in for the shard a real key names
                    f"TAP_CLINIKO__{prefix}_BASE_URL": cliniko.base_url})
    return env


def meltano(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(MELTANO), *args], cwd=env["MELTANO_PROJECT_ROOT"], env=env, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def requests_to(pipedrive: Any) -> int:
    return sum(usage(pipedrive).values())


def run_at_once(env: dict[str, str], sandboxes: dict[str, tuple[Any, Any]], log: Path) -> None:
    """Both schedules started together; each clinic's Pipedrive is being sent requests while the other still runs."""
    with open(log, "ab") as out:
        procs = {c: subprocess.Popen([str(MELTANO), "schedule", "run", f"{c}-nightly"], cwd=env["MELTANO_PROJECT_ROOT"],
                                     env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                 for c in CLINICS}
    began, first_requests, ended = time.monotonic(), {}, {}
    try:
        while len(ended) < len(procs):
            assert time.monotonic() - began < RUN_TIMEOUT_S, "the clinics' migrations hung"
            for clinic, proc in procs.items():
                if clinic not in first_requests and requests_to(sandboxes[clinic][1]) > 5:
                    first_requests[clinic] = time.monotonic()
                if clinic not in ended and proc.poll() is not None:
                    ended[clinic] = time.monotonic()
            time.sleep(0.1)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                kill_group(proc)
    assert {c: p.returncode for c, p in procs.items()} == dict.fromkeys(CLINICS, 0), log.read_text()[-4000:]
    a, b = CLINICS
    assert first_requests[a] < ended[b] and first_requests[b] < ended[a], "the two migrations did not overlap"


def test_two_clinics_migrate_at_once_and_stay_apart(tmp_path: Path, postgres_url: str) -> None:
    sandboxes = {c: served_sandboxes(tmp_path, f"{c}-", seed) for c, seed in CLINICS.items()}
    try:
        project = clinics_project(tmp_path / "project")
        env = clinics_env(project, postgres_url, sandboxes)
        reviewed = reviewed_map(tmp_path)
        for clinic in CLINICS:  # the map reviewed once, confirmed for each clinic (`map` in the README's block)
            (project / "output" / clinic).mkdir(parents=True)
            shutil.copy2(reviewed, project / "output" / clinic / "cliniko-map.confirmed.yaml")
        clinic_a, clinic_b = (Clinic(sandboxes[c][0]) for c in CLINICS)
        assert not set(clinic_a.patients) & set(clinic_b.patients), "the two clinics' Cliniko ids must differ"

        # a new system database is created by the first Meltano: two creating it at once collide (README)
        meltano(env, "state", "list")
        run_at_once(env, sandboxes, tmp_path / "clinics.log")
        for clinic, (cliniko, pipedrive) in sandboxes.items():
            check_contents(Clinic(cliniko), Account(pipedrive))
            assert list((project / "output" / clinic / "attachments").rglob("*.*")), clinic
        database = create_engine(postgres_url)
        try:
            with database.connect() as conn:
                states = set(conn.execute(text("SELECT state_id FROM public.state")).scalars())
                assert states == {STATE.format(c) for c in CLINICS}
                schemas = set(conn.execute(text("SELECT table_schema FROM information_schema.tables "
                                                "WHERE table_name = 'xwalk'")).scalars())
                assert schemas == {"crosswalk_clinic_a", "crosswalk_clinic_b"}
                rows_b = conn.execute(text("SELECT count(*) FROM crosswalk_clinic_b.xwalk")).scalar()
        finally:
            database.dispose()

        # clinic-a's report: its records only, in its own folder
        out = project / "output" / "clinic-a" / "report"
        meltano(env, "invoke", "target-pipedrive--clinic-a:report", "--out-dir", str(out))
        report = (out / "audit.json").read_text(encoding="utf-8")
        keys = {r["source_key"] for r in json.loads(report)["records"]}
        patients = {k.rsplit(":", 1)[1] for k in keys if k.startswith("cliniko:patient:")}
        assert patients == set(clinic_a.patients)

        # clinic-a rolled back: its company empty, clinic-b's exact and not sent a single request
        untouched = requests_to(sandboxes["clinic-b"][1])
        meltano(env, "invoke", "target-pipedrive--clinic-a:rollback", "--all", "--yes")
        emptied = Account(sandboxes["clinic-a"][1])
        left = (emptied.persons, emptied.activities, emptied.notes, emptied.files, emptied.products)
        assert left == ({}, [], [], [], [])
        check_contents(clinic_b, Account(sandboxes["clinic-b"][1]))
        assert requests_to(sandboxes["clinic-b"][1]) == untouched
        database = create_engine(postgres_url)
        try:
            with database.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM crosswalk_clinic_b.xwalk")).scalar() == rows_b
        finally:
            database.dispose()
    finally:
        for cliniko, pipedrive in sandboxes.values():
            cliniko.stop()
            pipedrive.stop()
