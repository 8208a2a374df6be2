"""Crash and resume: the whole `meltano run tap-cliniko target-pipedrive` killed with SIGKILL
at a seeded random set of points, then run again until it finishes; then `rollback --all`
killed midway and run again until it finishes.

Each kill takes Meltano, the tap and the target at once (their process group), as a power cut
or an OOM kill of the container would. The points take turns: a number of Pipedrive requests
into the run, a delay after the run's first Pipedrive request (the target mid-write), a delay
after start (Meltano starting, the tap reading or the target writing). Re-runs are
`meltano run --force`: a killed run's job record still says "running" and Meltano's refusal
names --force. Then Pipedrive must hold exactly what the e2e test expects (no duplicate,
nothing missing) and the audit log must reconcile record by record; after the rollback, the
account must equal its snapshot from before the migration.

CI kills the pipeline 6 times and the rollback 2 times; `make soak` (SOAK=1) kills them 2 x 10
and 2 x 3 times more, with other seeds. A rollback after a killed migration is its own test (a
named crash point of the target, so it is deterministic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pd_helpers import snapshot
from pipeline_helpers import (
    PIPELINE,
    PIPELINE_AFTER_CRASH,
    ROLLBACK,
    Attempt,
    ServedCliniko,
    ServedPipedrive,
    ServedSandbox,
    assert_migrated_exactly,
    attempt,
    confirm_map,
    kill_points,
    pipeline_env,
    run_until_done,
    served_sandboxes,
)

# the small clinic: ~790 Pipedrive requests to migrate, ~1500 to roll back; all points of a test together
# move each of them on by well under that, so every point lies inside the run
PIPELINE_REQUESTS, PIPELINE_WRITE_S = 60, 1.5
ROLLBACK_REQUESTS, ROLLBACK_WRITE_S = 300, 3.0


@dataclass
class Migrated:
    cliniko: ServedCliniko
    pipedrive: ServedPipedrive
    env: dict[str, str]
    before: dict[str, Any] = field(default_factory=dict)  # the account's snapshot before the migration
    points: list[tuple[str, float]] = field(default_factory=list)
    killed: list[Attempt] = field(default_factory=list)

    def stop(self) -> None:
        self.cliniko.stop()
        self.pipedrive.stop()


def killed_at(env: dict[str, str], args: tuple[str, ...], log: Path, points: list[tuple[str, float]],
              watch: ServedSandbox, rerun: tuple[str, ...]) -> list[Attempt]:
    """Kill a run at each point in turn; every run after the first is the operator's re-run (`rerun`)."""
    attempts: list[Attempt] = []
    for kind, value in points:
        args = rerun if attempts else args
        if kind == "requests":
            run = attempt(env, args, log, kill_after_requests=int(value), watch=watch)
        elif kind == "write_s":
            run = attempt(env, args, log, kill_after_first_s=value, watch=watch)
        else:
            run = attempt(env, args, log, kill_after_s=value)
        assert run.returncode is None, f"the run ended ({run.returncode}) before its kill point {kind}={value}:\n" \
                                       f"{run.stderr_tail}"
        attempts.append(run)
    return attempts


def migrated_after_kills(tmp_path: Path, seed: int, kills: int, crash_at: str | None = None,
                         check: bool = True) -> Migrated:
    """The small clinic migrated through `kills` SIGKILLs of the whole pipeline (and, with `crash_at`, one
    first run the target kills itself in at that named write step), checked exactly unless `check` is off
    (a test about the rollback that follows)."""
    cliniko, pipedrive = served_sandboxes(tmp_path)
    done = Migrated(cliniko, pipedrive, pipeline_env(tmp_path, cliniko, pipedrive))
    try:
        confirm_map(done.env)
        done.before = snapshot(pipedrive)
        log = tmp_path / "pipeline.log"
        if crash_at is not None:
            crashed = attempt({**done.env, "TARGET_PIPEDRIVE_CRASH_AT": crash_at}, PIPELINE, log)
            assert crashed.returncode not in (0, None), crashed.stderr_tail
        points = kill_points(seed, kills, PIPELINE_REQUESTS, PIPELINE_WRITE_S)
        done.points = list(points)
        first = PIPELINE if crash_at is None else PIPELINE_AFTER_CRASH
        done.killed = killed_at(done.env, first, log, points, pipedrive, PIPELINE_AFTER_CRASH)
        reruns = run_until_done(done.env, PIPELINE_AFTER_CRASH if done.killed or crash_at else PIPELINE, log)
        if check:
            document = assert_migrated_exactly(cliniko, pipedrive, done.env, tmp_path / "report")
            assert document["counts"].get("migrated")
        text = log.read_text(errors="replace")
        adopted = sum(int(n) for n in re.findall(r"unconfirmed write\(s\) of an interrupted run: adopted (\d+)", text))
        print(f"pipeline kills survived: {len(done.killed)} at {points}; final runs: {len(reruns)}; writes "
              f"Pipedrive had but the crosswalk had not, adopted on re-run: {adopted}")  # the README's table
        return done
    except BaseException:
        done.stop()
        raise


def rolled_back_after_kills(tmp_path: Path, done: Migrated, seed: int, kills: int) -> None:
    """`rollback --all` through `kills` SIGKILLs, re-run until done: the account is as before the migration."""
    try:
        points = kill_points(seed, kills, ROLLBACK_REQUESTS, ROLLBACK_WRITE_S)
        log = tmp_path / "rollback.log"
        killed = killed_at(done.env, ROLLBACK, log, points, done.pipedrive, ROLLBACK)
        run_until_done(done.env, ROLLBACK, log)
        assert snapshot(done.pipedrive) == done.before  # every created object gone, nothing else touched
        print(f"rollback kills survived: {len(killed)} at {points}")  # the README's table
    finally:
        done.stop()


def test_killed_pipeline_resumes_to_the_exact_contents(tmp_path: Path) -> None:
    done = migrated_after_kills(tmp_path, seed=20261124, kills=6)
    done.stop()
    assert len(done.killed) == 6


def test_killed_rollback_resumes_to_the_snapshot_before_the_migration(tmp_path: Path) -> None:
    done = migrated_after_kills(tmp_path, seed=0, kills=0, check=False)
    rolled_back_after_kills(tmp_path, done, seed=20261125, kills=2)


def test_rollback_after_a_migration_killed_between_response_and_commit_restores_the_snapshot(tmp_path: Path) -> None:
    done = migrated_after_kills(tmp_path, seed=0, kills=0, crash_at="after_response@persons:2", check=False)
    rolled_back_after_kills(tmp_path, done, seed=0, kills=0)


@pytest.mark.soak
@pytest.mark.parametrize("seed", [7, 1999])
def test_soak_killed_pipeline_resumes_to_the_exact_contents(tmp_path: Path, seed: int) -> None:
    done = migrated_after_kills(tmp_path, seed=seed, kills=10)
    done.stop()
    assert len(done.killed) == 10


@pytest.mark.soak
@pytest.mark.parametrize("seed", [8, 2000])
def test_soak_killed_rollback_resumes_to_the_snapshot_before_the_migration(tmp_path: Path, seed: int) -> None:
    done = migrated_after_kills(tmp_path, seed=0, kills=0, check=False)
    rolled_back_after_kills(tmp_path, done, seed=seed, kills=3)
