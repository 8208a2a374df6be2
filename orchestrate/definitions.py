"""The migration as Dagster jobs, run through dagster-meltano (Meltano's `dagster` utility in meltano.yml).

`migrate` runs `meltano run tap-cliniko target-pipedrive`, then `verify` into `<MIGRATION_OUTPUT>/verify`
(MIGRATION_OUTPUT: the project's `output/` unless set), in the active Meltano environment. Each clinic
named in MIGRATION_CLINICS (its inherited plugins `tap-cliniko--<clinic>` and `target-pipedrive--<clinic>`,
README "Running at scale") gets its own job `migrate_<clinic>`: its pipeline, then its verify into
`<MIGRATION_OUTPUT>/<clinic>/verify`. Clinics' jobs may run at once: each has its own state id, crosswalk
and `.meltano/run/` folders. No `--force`: Meltano refuses to start a clinic's pipeline while another
run of it is going on. `verify` fails the job when it finds a difference or a Cliniko record not
accounted for.

    .venv/bin/meltano invoke dagster job execute -f orchestrate/definitions.py -j migrate
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Definitions, JobDefinition, job, resource
from dagster_meltano import MeltanoResource, meltano_command_op

PROJECT = Path(os.environ.get("MELTANO_PROJECT_ROOT") or Path(__file__).resolve().parents[1])
OUTPUT = Path(os.environ.get("MIGRATION_OUTPUT") or PROJECT / "output")


@resource(description="The Meltano project, run with the `meltano` of this venv")
def meltano(_context: object) -> MeltanoResource:
    return MeltanoResource(project_dir=str(PROJECT), meltano_bin="meltano")


def migration_job(clinic: str | None = None) -> JobDefinition:
    name = f"migrate_{clinic.replace('-', '_')}" if clinic else "migrate"
    suffix = f"--{clinic}" if clinic else ""
    pipeline = f"run tap-cliniko{suffix} target-pipedrive{suffix}"
    verify = f"invoke target-pipedrive{suffix}:verify --out-dir {OUTPUT / (clinic or '') / 'verify'}"
    run_pipeline = meltano_command_op(pipeline, dagster_name=f"{name}_pipeline")
    run_verify = meltano_command_op(verify, dagster_name=f"{name}_verify")

    @job(name=name, resource_defs={"meltano": meltano}, description=f"meltano {pipeline}, then {verify}")
    def migration() -> None:
        run_verify(after=run_pipeline())

    return migration


defs = Definitions(jobs=[migration_job(), *(migration_job(c) for c in os.environ.get("MIGRATION_CLINICS", "").split())])
