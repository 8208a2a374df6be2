"""The whole mix at each Pipedrive plan's limits: 429s and achieved / allowed over a whole run.

A sample of the standard clinic's patients (the tap's `sample_patients`; larger at the faster
tiers, so that each runs about as long) carries every kind of write in the clinic's proportions:
persons, activities, notes, attachments and communication files, products, and each patient's
rollup PATCH at the end. The target migrates it whole into a fresh account of each tier, with
latency on; the ratio covers every request after the schema's first ones, up to the last request
(not the run's closing checkpoint, which sends none).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench import plugins, sandboxes
from bench.pipeline import run_tap, run_target
from bench.scenarios import PLAN_BURST, SEARCH_BURST, Scenario
from bench.windows import Window, pipedrive_ratio


def whole_mix(s: Scenario, work: Path, clinic: Path) -> dict[str, Any]:
    folder = work / "tiers"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    map_path = plugins.confirmed_map(work)
    out: dict[str, Any] = {"latency_ms": s.latency_ms}
    samples: dict[int, tuple[Path, int]] = {}  # patients -> the tap's Singer file of them, its records
    with sandboxes.cliniko("standard", clinic) as cliniko:
        for tier in s.tiers:
            patients = s.tier_patients(tier)
            if patients not in samples:
                tap = {**plugins.tap_config(cliniko.url, folder / "files", 0), "sample_patients": patients}
                sample, _ = run_tap(plugins.TAP, tap, cliniko, folder, f"sample-{patients}")
                samples[patients] = folder / f"sample-{patients}.singer", sample.records
            singer, records = samples[patients]
            with sandboxes.pipedrive(None, "--plan", tier, "--seats", str(s.seats)) as pipedrive:
                sandboxes.staff_as_users(cliniko, pipedrive)
                pipedrive.latency(s.latency_ms)
                account = folder / tier
                account.mkdir()
                config = plugins.target_config(pipedrive.url, account, map_path, tier, s.seats)
                run, window = run_target(config, pipedrive, singer, account, tier,
                                         timeout_s=3600, skip=s.pipedrive_warmup_requests)
                usage = pipedrive.admin("/_admin/usage")
            assert window is not None
            sent, seconds = until_last_request(window)
            searches = sum(v["count"] for op, v in usage["by_operation"].items() if "search" in op)
            out[tier] = {"sample_patients": patients, "source_records": records, "burst_limit": PLAN_BURST[tier],
                         "requests": usage["requests"], "window_requests": sent, "window_s": round(seconds, 1),
                         "rate_per_s": round(sent / seconds, 2) if seconds else None,
                         "allowed_ratio": _round(pipedrive_ratio(sent, searches, seconds, PLAN_BURST[tier],
                                                                 SEARCH_BURST)),
                         "responses_429": usage["responses_429"], "max_requests_in_2s": usage["max_requests_in_2s"],
                         "tokens": usage["tokens_today"], "failed": run.extra.get("failed"),
                         "returncode": run.returncode}
    return out


def until_last_request(window: Window) -> tuple[int, float]:
    """The window's requests and seconds, ending at the sample where the last request was first seen."""
    if not window.samples or window.requests <= 0:
        return window.requests, window.seconds
    final = window.samples[-1][1]
    ended = next(t for t, seen in window.samples if seen == final)
    opened = window.samples[-1][0] - window.seconds  # the window's first request
    return window.requests, max(0.0, ended - opened)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
