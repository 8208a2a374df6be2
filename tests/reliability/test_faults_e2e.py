"""Faults on both sides at once, through the sandboxes' own switches, during the whole
`meltano run tap-cliniko target-pipedrive` of the small clinic: latency, 5% 5xx, dropped
connections, random 429s, a 429 storm, and each sandbox crashed (SIGKILL) and started again
on the same data mid-run. The migration must still end with exactly the Pipedrive contents
the e2e test expects, and an audit log that reconciles record by record.

The faults are counted from the sandboxes' request logs, so the test fails if they did not
really happen. CI runs one seed; `make soak` (SOAK=1) runs heavier faults with more restarts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import (
    PIPELINE,
    PIPELINE_AFTER_CRASH,
    Chaos,
    ServedSandbox,
    assert_migrated_exactly,
    attempt,
    confirm_map,
    pipeline_env,
    served_sandboxes,
)


def switches(seed: int, latency_ms: float, error_rate: float, drop_rate: float, rate_429: float) -> dict[str, Any]:
    return {"latency_ms": latency_ms, "error_rate": error_rate, "drop_rate": drop_rate, "rate_429": rate_429,
            "seed": seed}


def run_under_faults(tmp_path: Path, faults: dict[str, dict[str, Any]],
                     events: list[tuple[str, int, str]]) -> dict[str, Any]:
    """Migrate under `faults` and `events` ((emulator, after its Nth request, action)); re-run only if a run
    stops (the operator's re-run), at most twice. Returns what was injected and how many runs it took."""
    cliniko, pipedrive = served_sandboxes(tmp_path)
    sandboxes: dict[str, ServedSandbox] = {"cliniko": cliniko, "pipedrive": pipedrive}
    try:
        env = pipeline_env(tmp_path, cliniko, pipedrive)
        confirm_map(env)
        chaos = Chaos(faults, [(sandboxes[name], after, action) for name, after, action in events])
        chaos.arm(cliniko, pipedrive)
        runs = []
        for args in (PIPELINE, PIPELINE_AFTER_CRASH, PIPELINE_AFTER_CRASH):
            runs.append(attempt(env, args, tmp_path / "pipeline.log", on_poll=chaos.poll))
            if runs[-1].returncode == 0:
                break
        assert runs[-1].returncode == 0, f"still failing after {len(runs)} runs:\n{runs[-1].stderr_tail}"
        assert chaos.events == [], f"the run ended before these faults: {chaos.events}"
        chaos.disarm(cliniko, pipedrive)
        assert_migrated_exactly(cliniko, pipedrive, env, tmp_path / "report")
        print(f"faults injected: {dict(sorted(chaos.injected.items()))}; runs: {len(runs)}")  # the README's table
        return {"runs": len(runs), "injected": dict(chaos.injected)}
    finally:
        cliniko.stop()
        pipedrive.stop()


def assert_every_kind(injected: dict[str, int]) -> None:
    for side in ("cliniko", "pipedrive"):
        for kind in ("5xx", "dropped connections", "429s", "restarts"):
            assert injected.get(f"{side} {kind}", 0) > 0, f"no {kind} injected on {side}: {injected}"


def test_migration_under_faults_on_both_sides_ends_exact(tmp_path: Path) -> None:
    faults = {"cliniko": switches(3, latency_ms=20, error_rate=0.05, drop_rate=0.03, rate_429=0.03),
              "pipedrive": switches(4, latency_ms=5, error_rate=0.05, drop_rate=0.02, rate_429=0.01)}
    events = [("cliniko", 25, "restart"), ("pipedrive", 150, "storm:20"), ("pipedrive", 400, "restart")]
    outcome = run_under_faults(tmp_path, faults, events)
    assert_every_kind(outcome["injected"])
    assert outcome["injected"]["pipedrive 429s"] >= 20  # the storm
    assert outcome["runs"] == 1, outcome  # retries absorb all of it: no operator re-run needed


@pytest.mark.soak
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_soak_migration_under_heavier_faults_ends_exact(tmp_path: Path, seed: int) -> None:
    faults = {"cliniko": switches(seed, latency_ms=40, error_rate=0.1, drop_rate=0.05, rate_429=0.05),
              "pipedrive": switches(seed + 100, latency_ms=10, error_rate=0.08, drop_rate=0.04, rate_429=0.04)}
    events = [("cliniko", 10, "restart"), ("cliniko", 45, "restart"), ("pipedrive", 100, "storm:80"),
              ("pipedrive", 200, "restart"), ("pipedrive", 450, "storm:60"), ("pipedrive", 600, "restart")]
    outcome = run_under_faults(tmp_path, faults, events)
    assert_every_kind(outcome["injected"])
    assert outcome["runs"] <= 3
