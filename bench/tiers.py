"""The whole mix at each Pipedrive plan's limits: 429s and achieved / allowed over a whole run.

A sample of the standard clinic's patients (the tap's `sample_patients`; larger at the faster
tiers, so that each runs about as long) carries every kind of write in the clinic's proportions:
persons, activities, notes, attachments and communication files, products, and each patient's
rollup PATCH at the end. The target migrates it whole into a fresh account of each tier, with
latency on; the ratio covers every request after the schema's first ones, up to the last request
(not the run's closing checkpoint, which sends none). Every tier runs `tier_rounds` times, interleaved.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from bench import plugins, sandboxes
from bench.pipeline import run_tap, run_target
from bench.scenarios import PLAN_BURST, SEARCH_BURST, Scenario
from bench.windows import Window, pipedrive_ratio


def whole_mix(s: Scenario, work: Path, clinic: Path) -> dict[str, Any]:
    """Each tier `s.tier_rounds` times, interleaved (lite growth ... ultimate, then again), so that the
    machine's noise falls on every tier alike; a tier's row is its lower round, with every round listed."""
    folder = work / "tiers"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    map_path = plugins.confirmed_map(work)
    count = max(1, s.tier_rounds)
    rounds: dict[str, list[dict[str, Any]]] = {tier: [] for tier in s.tiers}
    samples: dict[int, tuple[Path, int]] = {}  # patients -> the tap's Singer file of them, its records
    with sandboxes.cliniko("standard", clinic) as cliniko:
        for n in range(1, count + 1):
            for tier in s.tiers:
                patients = s.tier_patients(tier)
                if patients not in samples:
                    tap = {**plugins.tap_config(cliniko.url, folder / "files", 0), "sample_patients": patients}
                    sample, _ = run_tap(plugins.TAP, tap, cliniko, folder, f"sample-{patients}")
                    samples[patients] = folder / f"sample-{patients}.singer", sample.records
                rounds[tier].append(one_tier(s, tier, cliniko, samples[patients], folder / f"{tier}-{n}", map_path))
    out: dict[str, Any] = {"latency_ms": s.latency_ms, "rounds": count}
    for tier, rows in rounds.items():
        lowest = min(rows, key=lambda row: row["allowed_ratio"] or 0)
        out[tier] = {**lowest, "responses_429": sum(row["responses_429"] for row in rows),
                     "max_requests_in_2s": max(row["max_requests_in_2s"] for row in rows),
                     "failed": sum(row["failed"] or 0 for row in rows),
                     "rounds": [{key: row[key] for key in ROUND_KEYS} for row in rows]}
    return out


ROUND_KEYS = ("allowed_ratio", "rate_per_s", "window_s", "responses_429", "max_requests_in_2s", "failed")


def one_tier(s: Scenario, tier: str, cliniko: sandboxes.Sandbox, sample: tuple[Path, int], account: Path,
             map_path: Path) -> dict[str, Any]:
    """One whole-mix run of `sample` (its Singer file, its records) into a fresh account of `tier`."""
    singer, records = sample
    with sandboxes.pipedrive(None, "--plan", tier, "--seats", str(s.seats)) as pipedrive:
        sandboxes.staff_as_users(cliniko, pipedrive)
        pipedrive.latency(s.latency_ms)
        account.mkdir()
        config = plugins.target_config(pipedrive.url, account, map_path, tier, s.seats)
        counts = OperationCounts(pipedrive)
        run, window = run_target(config, pipedrive, singer, account, tier, timeout_s=3600,
                                 skip=s.pipedrive_warmup_requests, counter=counts)
        usage = pipedrive.admin("/_admin/usage")
    assert window is not None
    sent, seconds = until_last_request(window)
    searches = sum(v["count"] for op, v in usage["by_operation"].items() if "search" in op)
    return {"sample_patients": s.tier_patients(tier), "source_records": records, "burst_limit": PLAN_BURST[tier],
            "requests": usage["requests"], "window_requests": sent, "window_s": round(seconds, 1),
            "rate_per_s": round(sent / seconds, 2) if seconds else None,
            "allowed_ratio": _round(pipedrive_ratio(sent, searches, seconds, PLAN_BURST[tier], SEARCH_BURST)),
            "responses_429": usage["responses_429"], "max_requests_in_2s": usage["max_requests_in_2s"],
            "tokens": usage["tokens_today"], "failed": run.extra.get("failed"),
            "returncode": run.returncode, "by_phase": by_phase(counts.samples, PLAN_BURST[tier])}


class OperationCounts:
    """The window's request counter, keeping the sandbox's requests per operation at each poll: which part
    of the mix falls short of the limit shows in the spans each operation led (`by_phase`)."""

    def __init__(self, pipedrive: sandboxes.Sandbox) -> None:
        self.pipedrive = pipedrive
        self.samples: list[tuple[float, dict[str, int]]] = []

    def __call__(self) -> int:
        usage = self.pipedrive.admin("/_admin/usage")
        self.samples.append((time.monotonic(), {op: int(v["count"]) for op, v in usage["by_operation"].items()}))
        return int(usage["requests"])


def by_phase(samples: list[tuple[float, dict[str, int]]], burst: int, span_s: float = 2.0) -> dict[str, Any]:
    """Per operation, the spans of about `span_s` in which it sent most of the requests: the requests sent
    in them (by any operation), their seconds and achieved / allowed. Spans that sent nothing are left out
    (the start, the end); the schema's operations lead the first spans."""
    out: dict[str, dict[str, Any]] = {}
    if not samples:
        return out
    last_t, last = samples[0]
    for t, counts in samples[1:]:
        if t - last_t < span_s:
            continue
        sent = {op: n - last.get(op, 0) for op, n in counts.items() if n > last.get(op, 0)}
        if sent:
            row = out.setdefault(max(sent, key=lambda op: sent[op]), {"requests": 0, "seconds": 0.0})
            row["requests"] += sum(sent.values())
            row["seconds"] += t - last_t
        last_t, last = t, counts
    for row in out.values():
        row["seconds"] = round(row["seconds"], 1)
        row["allowed_ratio"] = _round(row["requests"] / (burst / 2.0 * row["seconds"]))
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
