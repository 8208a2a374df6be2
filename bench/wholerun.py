"""The target over whole runs, limits off, on each clinic size: memory and checkpoints as the clinic grows.

On a real account the large clinic runs for two weeks against Pipedrive's token budget, so what must not
grow with the clinic is the target's memory and the time of a checkpoint, not its speed. Each size: the tap
reads the whole clinic once (records only, cached next to the clinic), then the target writes all of it
into a fresh no-limits Pipedrive sandbox, RSS sampled every 0.5 s.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench import plugins, sandboxes
from bench.pipeline import Run, run_tap, run_target
from bench.scenarios import Scenario


def whole_target(s: Scenario, work: Path, size: str, clinic_db: Path, singer: Path | None = None) -> dict[str, Any]:
    map_path = plugins.confirmed_map(work)
    with sandboxes.cliniko(size, clinic_db) as cliniko:
        if singer is None or not singer.exists():
            config = plugins.tap_config(cliniko.url, work / f"{size}-files", 0)
            config.pop("attachments_dir")  # records only: the target's memory is the question here
            run_tap(plugins.TAP, config, cliniko, work, f"{size}-whole-tap")
            singer = work / f"{size}-whole-tap.singer"
        with sandboxes.pipedrive(None, "--no-limits") as pipedrive:
            sandboxes.staff_as_users(cliniko, pipedrive)
            folder = work / f"{size}-whole-target"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            cfg = plugins.target_config(pipedrive.url, folder, map_path, s.plan, s.seats, limits=False)
            run, _ = run_target(cfg, pipedrive, singer, folder, "whole")
    return summarize(run, folder / "crosswalk.sqlite")


def summarize(run: Run, crosswalk: Path) -> dict[str, Any]:
    timeline = run.rss_timeline_mb
    middle = min(timeline, key=lambda sample: abs(sample[0] - run.seconds / 2))[1] if timeline else None
    summary = run.extra.get("summary") or {}
    size_mb = sum(p.stat().st_size for p in crosswalk.parent.glob(crosswalk.name + "*")) / 1e6
    return {"records": run.records, "objects_written": run.extra.get("objects_written"),
            "failed": run.extra.get("failed"), "seconds": round(run.seconds, 1), "cpu_s": round(run.cpu_s, 1),
            "peak_rss_mb": round(run.peak_rss_mb, 1), "middle_rss_mb": middle,
            "end_rss_mb": timeline[-1][1] if timeline else None, "checkpoints": summary.get("checkpoints"),
            "crosswalk_mb": round(size_mb, 1), "returncode": run.returncode}


def markdown(whole: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["", "| Target, whole run, limits off | Cliniko records | objects written | peak RSS MB | RSS MB at the "
                 "middle / end | checkpoints: count, slowest periodic s, final s (rollups) | crosswalk MB |",
             "|---|---|---|---|---|---|---|"]
    for size, w in whole.items():
        c = w.get("checkpoints") or {}
        lines.append(f"| {size} clinic | {w['records']:,} | {w['objects_written']:,} | {w['peak_rss_mb']:.0f} | "
                     f"{w['middle_rss_mb']:.0f} / {w['end_rss_mb']:.0f} | {c.get('count')}, "
                     f"{c.get('max_periodic_s')}, {c.get('final_s')} | {w['crosswalk_mb']:.0f} |")
    return lines
