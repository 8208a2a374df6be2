"""The migration as Dagster jobs, run through dagster-meltano (Meltano's `dagster` utility in meltano.yml).

`migrate` runs `meltano run tap-cliniko target-pipedrive` in the active Meltano environment; each
name in MIGRATION_CLINICS (Meltano environments, one per clinic) gets its own job `migrate_<clinic>`.
No `--force`: Meltano refuses to start a clinic's pipeline while another run of it is going on.

    .venv/bin/meltano invoke dagster job execute -f orchestrate/definitions.py -j migrate
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, JobDefinition, job, resource
from dagster_meltano import MeltanoResource, meltano_command_op

PROJECT = Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path(__file__).resolve().parents[1])
PIPELINE = "run tap-cliniko target-pipedrive"


@resource(description="The Meltano project, run with the `meltano` of this venv")
def meltano(_context: object) -> MeltanoResource:
    return MeltanoResource(project_dir=str(PROJECT), meltano_bin="meltano")


def migration_job(environment: str | None = None) -> JobDefinition:
    name = f"migrate_{environment.replace('-', '_')}" if environment else "migrate"
    command = f"--environment {environment} {PIPELINE}" if environment else PIPELINE
    run_pipeline = meltano_command_op(command, dagster_name=f"{name}_pipeline")

    @job(name=name, resource_defs={"meltano": meltano}, description=f"meltano {command}")
    def migration() -> None:
        run_pipeline()

    return migration


defs = Definitions(jobs=[migration_job(), *(migration_job(c) for c in os.environ.get("MIGRATION_CLINICS", "").split())])
