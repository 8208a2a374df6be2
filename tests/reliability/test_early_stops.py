"""What the terminal shows when `meltano run tap-cliniko target-pipedrive` stops early.

For each way a run stops before its end - a wrong Cliniko key or Pipedrive token, an
unreachable host on either side, a map with a typo, an unconfirmed map, the daily token
budget spent - the whole output of Meltano is captured as the user's terminal shows it: the
project's own sentence must be among its last lines (only Meltano's closing lines may follow),
with no Python traceback anywhere (neither plugin's, nor Meltano's pipe handling when the
target stops while the tap still writes), and a non-zero exit. A host that cannot be reached
at all on a run's first request is a setting to fix: said at once, never retried for minutes.
When the target stops first, Meltano must stop the tap with it: those cases pace the tap so
slowly that reading the small clinic would take minutes, and the run must end well before.
The cases run two at a time (each with its own crosswalk and Meltano database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline_helpers import (
    PIPELINE,
    ServedCliniko,
    ServedPipedrive,
    attempt,
    confirm_map,
    pipeline_env,
    served_sandboxes,
)

TAIL_LINES = 6  # the sentence, then at most Meltano's closing lines ("Loader failed", "Run completed", ...)


@dataclass(frozen=True)
class Case:
    change: Callable[[dict[str, str], Path], None]  # what is wrong, set in the run's environment
    sentence: str  # part of the project's one sentence
    code: int | None = None  # the plugin's own exit code, when Meltano logs it
    target_stops_first: bool = False  # the tap would go on reading: the run's end proves it was stopped


SLOW_TAP = "5"  # requests per minute: the small clinic's ~50 requests would take the tap ten minutes
STOPPED_WITH_THE_TARGET_S = 120  # loose on purpose (a loaded machine), far below the slow tap's minutes


def _typo_map(env: dict[str, str], tmp: Path) -> None:
    confirmed = Path(env["TARGET_PIPEDRIVE_MAP"]).read_text(encoding="utf-8")
    broken = tmp / "map-with-typo.yaml"
    broken.write_text(confirmed.replace("fn: clean,", "fn: clena,", 1), encoding="utf-8")
    env["TARGET_PIPEDRIVE_MAP"] = str(broken)


def _unconfirmed_map(env: dict[str, str], tmp: Path) -> None:
    confirmed = Path(env["TARGET_PIPEDRIVE_MAP"]).read_text(encoding="utf-8")
    edited = tmp / "map-edited.yaml"
    edited.write_text(confirmed.replace("invoice_history_limit: 10", "invoice_history_limit: 12"), encoding="utf-8")
    env["TARGET_PIPEDRIVE_MAP"] = str(edited)


CASES: dict[str, Case] = {
    "wrong Cliniko key": Case(lambda env, _: env.update(TAP_CLINIKO_API_KEY="not-the-key-au1"),
                              "tap-cliniko: Cliniko rejected the API key"),
    "Cliniko refuses connections": Case(lambda env, _: env.update(TAP_CLINIKO_BASE_URL="http://127.0.0.1:9/v1"),
                                        "tap-cliniko: Cannot reach Cliniko at http://127.0.0.1:9/v1"),
    "wrong Pipedrive token": Case(lambda env, _: env.update(TARGET_PIPEDRIVE_API_TOKEN="not-the-token"),
                                  "target-pipedrive: Pipedrive rejected the API token", target_stops_first=True),
    "Pipedrive refuses connections": Case(lambda env, _: env.update(TARGET_PIPEDRIVE_BASE_URL="http://127.0.0.1:9"),
                                          "target-pipedrive: Cannot reach Pipedrive at http://127.0.0.1:9",
                                          target_stops_first=True),
    "a typo in the map": Case(_typo_map, "unknown function 'clena'", target_stops_first=True),
    "an unconfirmed map": Case(_unconfirmed_map, "was changed since it was confirmed", target_stops_first=True),
    "the daily budget spent": Case(lambda env, _: env.update(TARGET_PIPEDRIVE_DAILY_TOKEN_BUDGET="300"),
                                   "STOPPED EARLY: the configured daily_token_budget"),
}


def run_case(name: str, case: Case, base: Path, cliniko: ServedCliniko, pipedrive: ServedPipedrive) -> None:
    tmp = base / name.replace(" ", "-")
    tmp.mkdir()
    env = pipeline_env(tmp, cliniko, pipedrive)
    confirm_map(env)
    case.change(env, tmp)
    if case.target_stops_first:
        env["TAP_CLINIKO_MAX_REQUESTS_PER_MINUTE"] = SLOW_TAP
    began = time.monotonic()
    run = attempt(env, PIPELINE, tmp / "meltano.log")
    seconds = time.monotonic() - began
    output = run.output
    assert run.returncode not in (0, None), f"{name}: exit {run.returncode}\n{output[-3000:]}"
    assert "Traceback" not in output and "never retrieved" not in output, f"{name}:\n{output[-6000:]}"
    last = [line for line in output.splitlines() if line.strip()][-TAIL_LINES:]
    assert any(case.sentence in line for line in last), f"{name}: the sentence is not among the last lines:\n" + \
        "\n".join(last)
    if "refuses" in name:  # at once, not after minutes of retries (the bound is loose: a loaded machine)
        assert "Retrying" not in output and seconds < 60, f"{name}: retried for {seconds:.0f} s"
    if case.target_stops_first:
        assert seconds < STOPPED_WITH_THE_TARGET_S, f"{name}: the tap went on for {seconds:.0f} s"
    print(f"{name}: {seconds:.1f} s to the sentence, exit {run.returncode}")


def test_meltano_run_stopping_early_ends_with_the_projects_sentence_and_no_traceback(tmp_path: Path) -> None:
    cliniko, pipedrive = served_sandboxes(tmp_path)
    try:
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(run_case, name, case, tmp_path, cliniko, pipedrive)
                           for name, case in CASES.items()]:
                future.result()
    finally:
        cliniko.stop()
        pipedrive.stop()
