"""Interrupted the way people stop things - Ctrl-C, SIGTERM, a kill - then simply run again.

The whole `meltano run tap-cliniko target-pipedrive` on the small clinic is stopped at
seeded points defined by progress (the migration's Nth write of a kind to Pipedrive, or
the tap's Nth request to Cliniko), never by time, so every point lands inside a run on
any machine: while the tap reads, while persons (a merged patient's survivor among them),
appointments, group attendances, notes, attachments, rollups and communications files are
half written. Then the operator's re-run: plain after SIGINT/SIGTERM, `--force` after a
SIGKILL (Meltano's stale-run lock names it). At the end Pipedrive must hold exactly what the
clinic says, nothing twice, the last run exits 0, the audit reconciles and verify finds
every Cliniko record accounted for.

- SIGINT goes to the whole process group, as Ctrl-C in a terminal does; each plugin must
  stop promptly, say so in one sentence and exit non-zero (not "Gracefully shutting down"
  and 0), and relay no bookmark beyond what is durable.
- SIGTERM goes to Meltano alone, as `kill PID` or an orchestrator does; Meltano passes it on.
- SIGKILL goes to the group, as an OOM kill or a power cut.
- The plugins without Meltano: `tap-cliniko | target-pipedrive`, Ctrl-C, resumed from the
  last STATE line the target wrote.

`make test` stops each kind 3 times (the plain pipeline twice); `make soak` (SOAK=1) 17 more
per signal with other seeds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_helpers import (
    PIPELINE,
    SIGNALS,
    Point,
    ServedCliniko,
    ServedPipedrive,
    Stopped,
    assert_migrated_exactly,
    confirm_map,
    group_alive,
    pipeline_env,
    run_until_done,
    served_sandboxes,
    stop_at,
    verify,
)

# The small clinic's migration, in the order the target writes it (its creates, counted over all runs):
# 22 products, 48 persons (19 patient notes among them), 314 individual appointments then 59 group
# attendances, 142 notes, 23 attachments, then per patient a rollup PATCH (36) and a communications CSV (42).
PHASES: dict[str, tuple[str, int, int]] = {
    "the tap reading": ("cliniko", 4, 12),
    "products": ("POST /v2/products", 3, 16),
    "persons": ("POST /v2/persons", 6, 40),
    "individual appointments": ("POST /v2/activities", 20, 290),
    "group attendances": ("POST /v2/activities", 322, 358),
    "treatment notes": ("POST /v1/notes", 40, 150),
    "attachments": ("POST /v1/files", 3, 18),
    "rollups": ("PATCH /v2/persons/{id}", 4, 24),
    "communications files": ("POST /v1/files", 30, 48),
}
# Near the end of a run the target may finish before a polled signal reaches it; there the Pipedrive
# sandbox holds the next request instead, so the stop always lands mid-write (pipeline_helpers.Point).
HELD = {"rollups", "communications files"}
ORDER = list(PHASES)

SUITE = {  # make test: three points a signal, between them every phase
    "SIGINT": ["the tap reading", "group attendances", "rollups"],
    "SIGTERM": ["persons", "treatment notes", "communications files"],
    "SIGKILL": ["products", "individual appointments", "attachments"],
}


def points(phases: list[str], seed: int) -> list[Point]:
    """One seeded point in each phase, in the order the migration passes them."""
    rng = random.Random(seed)
    chosen = sorted(phases, key=ORDER.index)
    return [Point(label, PHASES[label][0], rng.randint(*PHASES[label][1:]), hold=label in HELD) for label in chosen]


def interrupted_then_finished(tmp_path: Path, name: str, chain: list[Point]) -> None:
    signum, whom, rerun = SIGNALS[name]
    cliniko, pipedrive = served_sandboxes(tmp_path)
    try:
        env = pipeline_env(tmp_path, cliniko, pipedrive)
        confirm_map(env)
        log = tmp_path / "pipeline.log"
        stops: list[Stopped] = []
        for n, point in enumerate(chain):
            stopped = stop_at(env, PIPELINE if n == 0 else rerun, log, point, signum, whom, cliniko, pipedrive)
            assert stopped.returncode != 0, f"an interrupted run exited 0 at {point}"
            if signum != signal.SIGKILL:
                # each plugin says it stopped, in one sentence (the target while it writes: what to run next),
                # and neither prints a Python traceback of its own
                said = "tap-cliniko: stopped by" if point.operation == "cliniko" else "target-pipedrive: stopped by"
                assert f"{said} {name}" in stopped.log, (point, stopped.log[-3000:])
                assert "Traceback" not in "".join(line for line in stopped.log.splitlines(keepends=True)
                                                  if " tap-cliniko " in line or " target-pipedrive " in line)
            stops.append(stopped)
        finals = run_until_done(env, rerun, log)
        assert len(finals) == 1, "one plain re-run after the interruptions finishes the migration"
        assert_migrated_exactly(cliniko, pipedrive, env, tmp_path / "report")
        code, document = verify(env, tmp_path / "verify")
        assert code == 0 and document["summary"]["completeness"]["problems"] == 0, document["summary"]
        print(f"{name}: stopped at {[(p.label, p.count) for p in chain]}, in "
              f"{[round(s.stop_s, 1) for s in stops]} s; then one re-run finished it exactly")
    finally:
        cliniko.stop()
        pipedrive.stop()


@pytest.mark.parametrize("name", list(SUITE))
def test_interrupted_migration_then_plain_reruns_give_the_exact_contents(tmp_path: Path, name: str) -> None:
    interrupted_then_finished(tmp_path, name, points(SUITE[name], seed=sum(map(ord, name))))


@pytest.mark.soak
@pytest.mark.parametrize("seed", [11, 29])
@pytest.mark.parametrize("name", list(SUITE))
def test_soak_interrupted_at_every_phase(tmp_path: Path, name: str, seed: int) -> None:
    phases = ORDER if seed == 11 else ORDER[1:]  # 9 + 8 points, with the suite's 3: 20 per signal
    interrupted_then_finished(tmp_path, name, points(phases, seed))


# -- without Meltano ------------------------------------------------------------------------------
BIN = Path(sys.executable).parent


def plain_configs(tmp_path: Path, cliniko: ServedCliniko, pipedrive: ServedPipedrive) -> tuple[Path, Path]:
    tap = {"api_key": cliniko.api_key, "user_agent": "Clinic migration (it@clinic.example)",
           "base_url": cliniko.base_url, "max_requests_per_minute": 0, "attachments_dir": str(tmp_path / "files")}
    target = {"api_token": pipedrive.api_token, "base_url": pipedrive.base_url, "rate_limit_burst": 1000,
              "crosswalk_url": f"sqlite:///{tmp_path / 'crosswalk.sqlite'}", "map": str(tmp_path / "map.yaml"),
              "map_output_dir": str(tmp_path / "map-output"), "state_interval_s": 0, "progress_interval_s": 0}
    paths = tmp_path / "tap.json", tmp_path / "target.json"
    for path, config in zip(paths, (tap, target), strict=True):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w") as handle:
            json.dump(config, handle)
    return paths


def plain_run(tmp_path: Path, tap: Path, target: Path, stop: Point | None, cliniko: ServedCliniko,
              pipedrive: ServedPipedrive) -> int:
    """`tap-cliniko --config tap.json [--state state.json] | target-pipedrive --config target.json >> states`,
    as a Singer user runs it; Ctrl-C (SIGINT to the group) at `stop`. The state file is the target's last line."""
    states, state_file = tmp_path / "states.jsonl", tmp_path / "state.json"
    lines = states.read_text().splitlines() if states.exists() else []
    resume = f"--state {state_file}" if lines else ""
    if lines:
        state_file.write_text(lines[-1])
    command = (f"{BIN / 'tap-cliniko'} --config {tap} {resume} | {BIN / 'target-pipedrive'} --config {target} "
               f">> {states} 2>> {tmp_path / 'plain.log'}")
    base = cliniko.requests_served()
    proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", command], start_new_session=True)
    if stop is not None:
        while stop.reached(cliniko, pipedrive, base) < stop.count:
            assert proc.poll() is None, f"the plain pipeline ended before its stop point {stop}"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=600)
    while group_alive(proc.pid):
        time.sleep(0.05)
    return code


def test_plain_singer_pipeline_interrupted_and_resumed_from_its_last_state(tmp_path: Path) -> None:
    cliniko, pipedrive = served_sandboxes(tmp_path)
    try:
        env = pipeline_env(tmp_path, cliniko, pipedrive)
        env["TARGET_PIPEDRIVE_MAP"] = str(tmp_path / "map.yaml")
        confirm_map(env)
        tap, target = plain_configs(tmp_path, cliniko, pipedrive)
        for stop in points(["persons", "treatment notes"], seed=5):
            code = plain_run(tmp_path, tap, target, stop, cliniko, pipedrive)
            assert code == 130, f"Ctrl-C must end the pipeline with 130 (SIGINT), not {code}"
        log = (tmp_path / "plain.log").read_text()
        assert log.count("target-pipedrive: stopped by SIGINT") == 2
        assert "Traceback" not in log, log[-3000:]
        assert plain_run(tmp_path, tap, target, None, cliniko, pipedrive) == 0
        assert_migrated_exactly(cliniko, pipedrive, env, tmp_path / "report")
    finally:
        cliniko.stop()
        pipedrive.stop()
