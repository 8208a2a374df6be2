"""Workers: separate machines running one migration, sharing only its PostgreSQL database.

What differs between two machines is the project's checkout and everything under it: its own
`meltano.yml` copy, `.meltano/` (plugin venvs, which each machine's `meltano install` builds -
here linked to this checkout's, and its own `run/` files) and `output/` (the confirmed map, the
map's files, the tap's attachments). Each worker runs with `MELTANO_PROJECT_ROOT` at its own
copy and meltano.yml's own paths (`$MELTANO_PROJECT_ROOT/output/...`); what is shared is
`MELTANO_DATABASE_URI`: Meltano's state and run records and, through meltano.yml, the crosswalk.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline_helpers import ROOT

# settings the e2e environment points at the test's folder; a worker takes meltano.yml's own
MACHINE_PATHS = ("TAP_CLINIKO_ATTACHMENTS_DIR", "TARGET_PIPEDRIVE_MAP", "TARGET_PIPEDRIVE_MAP_OUTPUT_DIR",
                 "TARGET_PIPEDRIVE_CROSSWALK_URL", "MELTANO_SYS_DIR_ROOT")


def checkout(where: Path) -> Path:
    """A worker's copy of the project: meltano.yml and the installed plugins, nothing else."""
    (where / ".meltano").mkdir(parents=True)
    shutil.copy2(ROOT / "meltano.yml", where / "meltano.yml")
    for kind in ("extractors", "loaders"):
        (where / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind, target_is_directory=True)
    return where


def worker_env(env: dict[str, str], project: Path, **settings: str) -> dict[str, str]:
    """`env` for `meltano` on the worker at `project`, plus `settings` (environment variables)."""
    out = {k: v for k, v in env.items() if k not in MACHINE_PATHS}
    return {**out, "MELTANO_PROJECT_ROOT": str(project), **settings}


def output(project: Path) -> Path:
    """That worker's files of meltano.yml's default environment (`output/<environment>/`)."""
    return project / "output" / "sandbox"


def confirmed_map(project: Path) -> Path:
    """Where meltano.yml keeps the confirmed map (`map`) on that worker."""
    return output(project) / "cliniko-map.confirmed.yaml"


def reviewed_map(where: Path) -> Path:
    """The packaged map, confirmed once by the operator (as `confirm-map` writes it) and kept with the
    project's files, for every worker to use."""
    from target_pipedrive.workflow.confirm import confirm

    confirm(None, str(where / "cliniko-map.confirmed.yaml"), str(where / "map-output"))
    return where / "cliniko-map.confirmed.yaml"


def deploy_map(reviewed: Path, project: Path) -> None:
    """Put the reviewed, confirmed map where that worker's meltano.yml looks for it."""
    confirmed_map(project).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(reviewed, confirmed_map(project))


def lose(project: Path) -> None:
    """The machine is gone: its disk with it (the links to the shared venvs first, never what they point at)."""
    for kind in ("extractors", "loaders"):
        (project / ".meltano" / kind).unlink()
    shutil.rmtree(project)
