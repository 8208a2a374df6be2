"""Crash and resume of the rollback: `rollback --all` killed with SIGKILL midway, then run
again until it finishes; the account must equal its snapshot from before the migration.

Each kill takes Meltano and the admin command at once (their process group), as a power cut
or an OOM kill of the container would. Kill points are defined by progress - the rollback's
Nth DELETE request to Pipedrive, counted over all its runs - never by time; the Pipedrive sandbox holds
the DELETE after it (pipeline_helpers.Point), so the kill lands there on any machine, however many
requests the rollback has in flight. A rollback after a migration the target killed itself in (a named
crash point between Pipedrive's answer and the crosswalk commit) is its own test. The migration
itself, stopped by SIGINT, SIGTERM and SIGKILL at every phase, is test_interruptions.py.

CI kills the rollback 2 times; `make soak` (SOAK=1) 2 x 3 times more, with other seeds.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import snapshot
from pipeline_helpers import (
    PIPELINE,
    PIPELINE_AFTER_CRASH,
    ROLLBACK,
    Point,
    ServedCliniko,
    ServedPipedrive,
    attempt,
    confirm_map,
    pipeline_env,
    run_until_done,
    served_sandboxes,
    stop_at,
)

ROLLBACK_DELETES = 700  # the small clinic's migration is undone with about 700 DELETEs (and ~40 restores)


def migrated(tmp_path: Path, crash_at: str | None = None) -> tuple[ServedCliniko, ServedPipedrive, dict[str, str],
                                                                       dict[str, Any]]:
    """The small clinic migrated (through one crash of the target at `crash_at`), and the snapshot before it."""
    cliniko, pipedrive = served_sandboxes(tmp_path)
    env = pipeline_env(tmp_path, cliniko, pipedrive)
    confirm_map(env)
    before = snapshot(pipedrive)
    log = tmp_path / "pipeline.log"
    if crash_at is not None:
        crashed = attempt({**env, "TARGET_PIPEDRIVE_CRASH_AT": crash_at}, PIPELINE, log)
        assert crashed.returncode not in (0, None), crashed.stderr_tail
    run_until_done(env, PIPELINE_AFTER_CRASH if crash_at else PIPELINE, log)
    return cliniko, pipedrive, env, before


def rollback_points(seed: int, kills: int) -> list[Point]:
    """`kills` seeded points spread over the rollback's DELETEs, in order."""
    rng = random.Random(seed)
    step = ROLLBACK_DELETES // (kills + 1)
    return [Point(f"rollback delete {n + 1}", "DELETE", rng.randint(n * step + 10, (n + 1) * step), hold=True)
            for n in range(kills)]


def rolled_back_after_kills(tmp_path: Path, seed: int, kills: int, crash_at: str | None = None) -> None:
    cliniko, pipedrive, env, before = migrated(tmp_path, crash_at)
    try:
        log = tmp_path / "rollback.log"
        points = rollback_points(seed, kills)
        for point in points:
            stopped = stop_at(env, ROLLBACK, log, point, signal.SIGKILL, "group", cliniko, pipedrive)
            assert stopped.returncode != 0
        run_until_done(env, ROLLBACK, log)
        assert snapshot(pipedrive) == before  # every created object gone, nothing else touched
        print(f"rollback kills survived: {len(points)} at {[p.count for p in points]}")  # the README's table
    finally:
        cliniko.stop()
        pipedrive.stop()


def test_killed_rollback_resumes_to_the_snapshot_before_the_migration(tmp_path: Path) -> None:
    rolled_back_after_kills(tmp_path, seed=20261125, kills=2)


def test_rollback_after_a_migration_killed_between_response_and_commit_restores_the_snapshot(tmp_path: Path) -> None:
    rolled_back_after_kills(tmp_path, seed=0, kills=0, crash_at="after_response@persons:2")


@pytest.mark.soak
@pytest.mark.parametrize("seed", [8, 2000])
def test_soak_killed_rollback_resumes_to_the_snapshot_before_the_migration(tmp_path: Path, seed: int) -> None:
    rolled_back_after_kills(tmp_path, seed=seed, kills=3)
