"""`make bench`: every measurement in one run, then bench/results.json and bench/results.md.

1. machinery, small clinic (latency and limits off): tap and baseline tap; target in plan
   mode, then apply (objects/s, failures).
2. machinery, standard clinic: the tap reads it all (records/s, RSS over time, the exact
   Cliniko request count the projection uses), interleaved with the baseline tap (A B A B ...).
3. machinery, large clinic: the tap for a fixed window (RSS as the clinic grows); then the target
   over whole runs of the small, standard and large clinics (wholerun.py: memory and checkpoints).
4. costs.py, standard clinic (limits off): the plan's estimate against the migration, a delta and
   a rollback; tokens by Pipedrive object; then the migration again with each of the map's history
   choices (Scenario.choices), estimate and actual.
5. Cliniko at its real limit (200/min, latency on): the tap alone for k minutes (achieved /
   allowed), then tap and baseline tap side by side for one (own API key each: own 200/min).
6. Pipedrive at a plan's limits (latency on): target and baseline target side by side (own
   account each), fed with the standard clinic's Singer stream from step 2.
7. tiers.py: the whole mix of a sample of the standard clinic at each plan's limits, the sample sized
   so each tier runs about as long (429s, achieved / allowed over the whole run); every tier twice,
   interleaved (BENCH_TIER_ROUNDS), the lower round its figure.
8. Projection of the standard and large clinics on each plan: budget days and wall time, with and
   without the history choices.

`python -m bench choices` measures step 4's choices again on the files a full run left in output/bench
(after a change to the map), `python -m bench tiers` step 7 (after a change to the pacing), and rewrites
the results with them; everything else is kept as measured.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import costs, plugins, report, sandboxes, tiers
from bench.pipeline import run_tap, run_target
from bench.scenarios import Scenario
from bench.wholerun import whole_target
from bench.windows import cliniko_ratio, pipedrive_ratio

BASELINE_KEY = "sandbox-cliniko-key-baseline-au1"


LOADS: list[tuple[str, float]] = []  # (phase, 1-minute load average when it started): the machine is shared


def log(message: str) -> None:
    LOADS.append((message, round(os.getloadavg()[0], 2)))
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def clinic_db(s: Scenario, size: str) -> Path:
    return s.work / "clinics" / f"cliniko-{size}.sqlite"


def machinery_small(s: Scenario, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with sandboxes.cliniko("small", clinic_db(s, "small")) as cliniko:
        counts = cliniko.admin("/_admin/counts")
        for name, command in (("tap", plugins.TAP), ("baseline_tap", plugins.BASELINE_TAP)):
            log(f"small clinic, limits off: {name}")
            run, _ = run_tap(command, plugins.tap_config(cliniko.url, work / f"{name}-files", 0), cliniko, work,
                             f"small-{name}")
            out[name] = run.as_dict()
        map_path = plugins.confirmed_map(work)
        for name, sequential in (("target", False), ("baseline_target", True)):
            if sequential and "max_writes_in_flight" not in plugins.target_settings():
                out[name] = {"skipped": "target-pipedrive has no max_writes_in_flight setting yet: it writes "
                                        "sequentially, so the baseline is the target run above"}
                continue
            with sandboxes.pipedrive(None, "--no-limits") as pipedrive:
                sandboxes.staff_as_users(cliniko, pipedrive)
                folder = work / f"small-{name}"
                folder.mkdir(parents=True, exist_ok=True)
                log(f"small clinic, limits off: {name} plan mode (the token estimate)")
                plan_cfg = plugins.target_config(pipedrive.url, folder, map_path, s.plan, s.seats, mode="plan",
                                                 limits=False, sequential=sequential)
                planned, _ = run_target(plan_cfg, pipedrive, work / "small-tap.singer", folder, "plan")
                plan_usage = pipedrive.admin("/_admin/usage")
                pipedrive.admin("/_admin/usage/reset", {})
                log(f"small clinic, limits off: {name} apply")
                cfg = plugins.target_config(pipedrive.url, folder, map_path, s.plan, s.seats, limits=False,
                                            sequential=sequential)
                run, _ = run_target(cfg, pipedrive, work / "small-tap.singer", folder, "apply")
                usage = pipedrive.admin("/_admin/usage")
                summary = planned.extra.get("summary") or {}
                run.requests = usage["requests"]
                run.extra.update({
                    "tokens_used": usage["tokens_today"], "responses_429": usage["responses_429"],
                    "planned_tokens": (summary.get("planned_write_tokens") or 0) + (summary.get("tokens") or 0),
                    "planned_write_tokens": summary.get("planned_write_tokens"),
                    "planned_writes": summary.get("planned_writes"), "plan_run_tokens": plan_usage["tokens_today"],
                    "searches": searches(usage),
                })
                run.extra.pop("summary", None)
                out[name] = {**run.as_dict(), "plan_run": {k: v for k, v in planned.as_dict().items()
                                                           if k in ("seconds", "cpu_s", "peak_rss_mb")}}
        out["clinic_counts"] = {k: v["total"] for k, v in counts.items()}
    return out


def searches(usage: dict[str, Any]) -> int:
    return sum(v["count"] for op, v in usage.get("by_operation", {}).items() if "search" in op)


def machinery_read(s: Scenario, work: Path, size: str, window_s: float | None) -> dict[str, Any]:
    """The tap alone over a whole clinic (window_s None) or for a window; RSS sampled as it goes."""
    log(f"{size} clinic, limits off: tap" + (f" for {window_s:.0f} s" if window_s else "")
        + ("" if clinic_db(s, size).with_suffix(".ready").exists() else " (generating the clinic first)"))
    started = time.monotonic()
    with sandboxes.cliniko(size, clinic_db(s, size)) as cliniko:
        ready_s = time.monotonic() - started
        counts = {k: v["total"] for k, v in cliniko.admin("/_admin/counts").items()}
        config = plugins.tap_config(cliniko.url, work / f"{size}-files", 0)
        config.pop("attachments_dir")  # records only: attachment bytes are counted as requests below
        run, _ = run_tap(plugins.TAP, config, cliniko, work, f"{size}-tap", timeout_s=window_s)
        baseline, ratios = None, []
        if window_s is None:  # the whole clinic again with the SDK's plain `links.next` pager, A B A B ...
            log(f"{size} clinic, limits off: baseline tap, then {s.read_rounds - 1} more rounds of both")
            for n in range(s.read_rounds):
                ours = run if n == 0 else run_tap(plugins.TAP, config, cliniko, work, f"{size}-tap")[0]
                theirs, _ = run_tap(plugins.BASELINE_TAP, config, cliniko, work, f"{size}-baseline_tap")
                baseline = baseline or theirs
                ratios.append(round((ours.records / ours.seconds) / (theirs.records / theirs.seconds), 3))
    return {**run.as_dict(), "complete": window_s is None, "sandbox_start_s": round(ready_s, 1),
            "clinic_counts": counts, "baseline_tap": baseline.as_dict() if baseline else None,
            "interleaved_ratios": ratios}


def both(first: Callable[[], dict[str, Any]], second: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Ours and the baseline at the same time: the shared machine's noise falls on both alike."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(first), pool.submit(second)]
        return tuple(f.result() for f in futures)


def cliniko_limited(s: Scenario, work: Path) -> dict[str, Any]:
    """Ours alone (achieved / allowed over k minutes), then ours and the baseline side by side for one
    minute (the speed-up): each with its own API key (its own 200/min) and User-Agent (its count)."""
    with sandboxes.cliniko("standard", clinic_db(s, "standard"), s.cliniko_per_minute,
                           api_keys=(sandboxes.CLINIKO_KEY, BASELINE_KEY)) as cliniko:
        cliniko.latency(s.latency_ms)

        def client(name: str, command: list[str], key: str, agent: str, stop_at: int,
                   timeout_s: float) -> dict[str, Any]:
            config = {**plugins.tap_config(cliniko.url, work / f"limited-{name}-files", s.cliniko_per_minute),
                      "api_key": key, "user_agent": agent}
            run, window = run_tap(command, config, cliniko, work, f"limited-{name}", stop_at=stop_at,
                                  timeout_s=timeout_s, counter=lambda: sum(cliniko.statuses(agent).values()))
            assert window is not None
            statuses = cliniko.statuses(agent)
            return {"window_requests": window.requests + 1, "window_s": round(window.seconds, 2),
                    "rate_per_min": round(window.rate() * 60, 1),
                    "allowed_ratio": _round(cliniko_ratio(window, s.cliniko_per_minute)),
                    "responses_429": statuses.get(429, 0),
                    "mean_request_s": round(window.seconds / window.requests, 3) if window.requests else None,
                    "records": run.records, "peak_rss_mb": round(run.peak_rss_mb, 1),
                    "tap_cpu_s": round(run.cpu_s, 2), "sandbox_cpu_s_both_clients": round(run.sandbox_cpu_s, 2)}

        stop_at = 1 + s.cliniko_minutes * s.cliniko_per_minute
        log(f"Cliniko at {s.cliniko_per_minute}/min, {s.latency_ms:.0f} ms latency: tap until its request {stop_at} "
            f"or {s.cliniko_timeout_s:.0f} s")
        cliniko.admin("/_admin/requests", method="DELETE")
        alone = client("tap", plugins.TAP, sandboxes.CLINIKO_KEY, sandboxes.USER_AGENT, stop_at, s.cliniko_timeout_s)
        pair_stop, pair_timeout = 1 + s.cliniko_per_minute, s.cliniko_timeout_s / s.cliniko_minutes
        log(f"Cliniko: tap and baseline tap side by side, each until its request {pair_stop} or {pair_timeout:.0f} s")
        cliniko.admin("/_admin/config", {"rate_limit_per_minute": s.cliniko_per_minute})  # fresh windows
        cliniko.admin("/_admin/requests", method="DELETE")
        ours, baseline = both(
            lambda: client("pair-tap", plugins.TAP, sandboxes.CLINIKO_KEY, sandboxes.USER_AGENT, pair_stop,
                           pair_timeout),
            lambda: client("pair-baseline_tap", plugins.BASELINE_TAP, BASELINE_KEY, sandboxes.BASELINE_USER_AGENT,
                           pair_stop, pair_timeout))
    return {"tap": alone, "side_by_side": {"tap": ours, "baseline_tap": baseline}}


def pipedrive_limited(s: Scenario, work: Path, singer: Path) -> dict[str, Any]:
    """Ours and the baseline (one write in flight) side by side, each into its own Pipedrive account."""
    map_path = plugins.confirmed_map(work)
    has_baseline = "max_writes_in_flight" in plugins.target_settings()
    log(f"Pipedrive {s.plan_name}, {s.latency_ms:.0f} ms latency: target"
        + (" and baseline target side by side" if has_baseline else "") + f" for {s.pipedrive_window_s:.0f} s")
    with sandboxes.cliniko("standard", clinic_db(s, "standard")) as cliniko:

        def client(name: str, sequential: bool) -> dict[str, Any]:
            folder = work / f"limited-{name}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            with sandboxes.pipedrive(None, "--plan", s.plan, "--seats", str(s.seats)) as pipedrive:
                sandboxes.staff_as_users(cliniko, pipedrive)
                pipedrive.latency(s.latency_ms)
                cfg = plugins.target_config(pipedrive.url, folder, map_path, s.plan, s.seats, sequential=sequential)
                run, window = run_target(cfg, pipedrive, singer, folder, "apply", timeout_s=s.pipedrive_window_s,
                                         skip=s.pipedrive_warmup_requests)
                assert window is not None
                usage = pipedrive.admin("/_admin/usage")
            n_search = searches(usage)
            return {"window_requests": window.requests, "window_s": round(window.seconds, 2),
                    "warmup_requests": s.pipedrive_warmup_requests,
                    "rate_per_s": round(window.rate(), 2), "searches": n_search,
                    "allowed_ratio": _round(pipedrive_ratio(window.requests, n_search, window.seconds, s.burst,
                                                            s_search(usage))),
                    "responses_429": usage["responses_429"], "max_requests_in_2s": usage["max_requests_in_2s"],
                    "burst_limit": usage["burst_limit"], "tokens_used": usage["tokens_today"],
                    "tokens_per_request": round(usage["tokens_today"] / max(1, usage["requests"]), 2),
                    "peak_rss_mb": round(run.peak_rss_mb, 1), "target_cpu_s": round(run.cpu_s, 2),
                    "sandbox_cpu_s": round(run.sandbox_cpu_s, 2)}

        if not has_baseline:
            return {"target": client("target", False), "side_by_side": False,
                    "baseline_target": {"skipped": "target-pipedrive has no max_writes_in_flight setting yet "
                                                   "(it writes sequentially)"}}
        ours, baseline = both(lambda: client("target", False), lambda: client("baseline_target", True))
    return {"target": ours, "baseline_target": baseline, "side_by_side": True}


def machinery_target(s: Scenario, work: Path, singer: Path) -> dict[str, Any]:
    """The target alone, limits and latency off, on the standard clinic for a window: its steady rate
    (the small clinic's run is mostly start-up: imports, the map, Pipedrive's field lists)."""
    map_path = plugins.confirmed_map(work)
    log(f"standard clinic, limits off: target for {s.target_window_s:.0f} s")
    with sandboxes.cliniko("standard", clinic_db(s, "standard")) as cliniko, \
            sandboxes.pipedrive(None, "--no-limits") as pipedrive:
        sandboxes.staff_as_users(cliniko, pipedrive)
        folder = work / "standard-target"
        folder.mkdir(parents=True, exist_ok=True)
        cfg = plugins.target_config(pipedrive.url, folder, map_path, s.plan, s.seats, limits=False)
        run, window = run_target(cfg, pipedrive, singer, folder, "apply", timeout_s=s.target_window_s,
                                 skip=s.pipedrive_warmup_requests)
        assert window is not None
        usage = pipedrive.admin("/_admin/usage")
    writes = sum(v["count"] for op, v in usage.get("by_operation", {}).items()
                 if op.split(" ", 1)[0] in ("POST", "PATCH", "PUT"))
    # the window's requests are nearly all writes; scale by the run's share of writes to count objects only
    in_window = round(window.requests * writes / max(1, usage["requests"]))
    return {"window_s": round(window.seconds, 2), "requests": window.requests, "objects_written": in_window,
            "objects_per_s": round(in_window / window.seconds, 1) if window.seconds > 0 else None,
            "objects_written_whole_run": writes,
            "objects_per_cpu_s": round(writes / max(run.cpu_s, 0.01), 1), "target_cpu_s": round(run.cpu_s, 2),
            "sandbox_cpu_s": round(run.sandbox_cpu_s, 2), "peak_rss_mb": round(run.peak_rss_mb, 1)}


def s_search(usage: dict[str, Any]) -> int:
    return int(usage.get("search_burst_limit") or 10)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main() -> int:
    s = Scenario()
    started = time.monotonic()
    work = s.work / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (s.work / "clinics").mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"scenario": {"pipedrive_plan": s.plan, "seats": s.seats, "latency_ms": s.latency_ms,
                                            "cliniko_per_minute": s.cliniko_per_minute,
                                            "pipedrive_burst_per_2s": s.burst, "daily_token_budget": s.daily_budget,
                                            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    results["machinery"] = {"small": machinery_small(s, work),
                            "standard": machinery_read(s, work, "standard", None),
                            "large": machinery_read(s, work, "large", s.large_window_s)}
    results["machinery"]["standard_target"] = machinery_target(s, work, work / "standard-tap.singer")
    results["whole_target"] = {}
    for size in s.whole_sizes:
        log(f"{size} clinic, limits off: the target over the whole clinic")
        results["whole_target"][size] = whole_target(s, work, size, clinic_db(s, size),
                                                     work / "standard-tap.singer" if size == "standard" else None)
    log("standard clinic, limits off: plan and migration, a delta, a rollback (estimates against actuals)")
    results["costs"] = costs.standard_costs(s, work, clinic_db(s, "standard"), work / "standard-tap.singer")
    results["choices"] = measure_choices(s, work)
    results["cliniko_limited"] = cliniko_limited(s, work)
    results["pipedrive_limited"] = pipedrive_limited(s, work, work / "standard-tap.singer")
    results["tiers"] = measure_tiers(s, work)
    results["projection"] = report.projection(s, results)
    results["targets"] = report.targets(results)
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    results["machine"] = {"cpus": os.cpu_count(), "load_average_per_phase": LOADS}
    write(s, results)
    log(f"done in {results['bench_seconds']:.0f} s: bench/results.json, bench/results.md")
    return 0


def measure_choices(s: Scenario, work: Path) -> dict[str, Any]:
    """Step 4: a whole standard migration for each of the map's choices, on the full run's Singer file."""
    log(f"standard clinic, limits off: the migration with the map's history choices ({', '.join(s.choices)})")
    return costs.choice_costs(s, work, clinic_db(s, "standard"), work / "standard-tap.singer")


def measure_tiers(s: Scenario, work: Path) -> dict[str, Any]:
    """Step 7: the whole mix at each plan's limits."""
    log(f"the whole mix at each plan's limits, {s.tier_rounds} rounds interleaved: "
        + ", ".join(f"{t} ({s.tier_patients(t)} patients)" for t in s.tiers))
    return tiers.whole_mix(s, work, clinic_db(s, "standard"))


def write(s: Scenario, results: dict[str, Any]) -> None:
    (s.results / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    table = report.markdown(s, results)
    (s.results / "results.md").write_text(table)
    print(table)


def again(part: str) -> int:
    """One part of the bench measured again (`choices`: the map's choices, on the standard clinic's Singer
    files the last full run left; `tiers`: the whole mix at each plan's limits); the rest of the last full
    run's results is kept, and the projection and targets are worked out again from both."""
    s = Scenario()
    work = s.work / "run"
    needed = [work / "standard-tap.singer", work / "costs" / "tap.singer"] if part == "choices" else []
    if not (s.results / "results.json").exists() or not all(path.exists() for path in needed):
        print(f"bench {part} needs the files of a full `make bench` in output/bench/run: run that first.",
              file=sys.stderr)
        return 2
    results = json.loads((s.results / "results.json").read_text())
    started = time.monotonic()
    results[part] = measure_choices(s, work) if part == "choices" else measure_tiers(s, work)
    results[f"{part}_measured_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results.setdefault("machine", {})[f"{part}_load_average"] = LOADS
    results["projection"] = report.projection(s, results)
    results["targets"] = report.targets(results)
    write(s, results)
    log(f"done in {time.monotonic() - started:.0f} s: bench/results.json, bench/results.md")
    return 0
