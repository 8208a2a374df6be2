"""A run's summary: the dict kept in its `runs` row, and the lines printed at its end.

Counts, codes and source keys only: never a record's values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from target_pipedrive.errors import StopRun
from target_pipedrive.input.sources import reconcile_line
from target_pipedrive.pipedrive.client import PipedriveClient
from target_pipedrive.write.kinds import Api


@dataclass
class CheckpointTimes:
    """Seconds per checkpoint of the map (drain, memory saved, sources settled), as the few figures the summary
    shows rather than one per checkpoint (a run of two weeks makes 40,000): the bench shows that they stay flat
    as the clinic grows. The last one also writes the rollups."""

    count: int = 0
    slowest_before_last: float = 0.0
    before_last: float | None = None
    last: float | None = None

    def add(self, seconds: float) -> None:
        if self.last is not None:
            self.before_last = self.last
            self.slowest_before_last = max(self.slowest_before_last, self.last)
        self.last = seconds
        self.count += 1

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "max_periodic_s": round(self.slowest_before_last, 3),
                "last_periodic_s": round(self.before_last, 3) if self.before_last is not None else None,
                "final_s": round(self.last, 3) if self.last is not None else None}


@dataclass
class Tally:
    """What a run did beyond its per-stream counts (progress.py)."""

    failures: Counter[str] = field(default_factory=Counter)
    manual: Counter[str] = field(default_factory=Counter)  # skipped, for a person to do by hand
    warnings: Counter[str] = field(default_factory=Counter)
    sources: dict[str, dict[str, int]] | None = None  # per source (Cliniko) stream: what became of its records
    recovered: dict[str, int] = field(default_factory=dict)
    stopped: StopRun | None = None
    checkpoints: CheckpointTimes = field(default_factory=CheckpointTimes)


def build(tally: Tally, streams: dict[str, dict[str, int]], client: PipedriveClient, api: Api, dry_run: bool,
          held: int, deferred: int) -> dict[str, Any]:
    budget = client.budget
    summary: dict[str, Any] = {
        "mode": "plan" if dry_run else "apply",
        "streams": {name: {k: v for k, v in c.items() if v} for name, c in streams.items()},
        "failed": dict(tally.failures), "manual": dict(tally.manual), "warnings": dict(tally.warnings),
        "held": held, "deferred": deferred, "sources": tally.sources,
        "requests": client.stats.requests, "tokens": budget.spent_this_run,
        "rate_limited": client.stats.rate_limited, "retries": client.stats.retries,
        "recovered": tally.recovered, "checkpoints": tally.checkpoints.as_dict(),
    }
    if dry_run:
        summary["planned_writes"] = api.planned_writes
        summary["planned_write_tokens"] = api.planned_tokens
        per_second = max(1, client.pacer.limit) / 2.0
        summary["estimated_seconds"] = round(api.planned_writes / per_second, 1)
        summary["daily_budget"] = budget.daily_limit
    if tally.stopped is not None:
        summary["stopped"] = str(tally.stopped)
        retry = getattr(tally.stopped, "retry_after_s", None)
        if retry:
            summary["resume_after_s"] = int(retry)
    return summary


def print_summary(out: TextIO, run_id: str, summary: dict[str, Any], tally: Tally, dry_run: bool, held: int,
                  deferred: int) -> None:
    head = "PLAN (nothing was written to Pipedrive)" if dry_run else "Run"
    print(f"[target-pipedrive] {head} {run_id}:", file=out)
    for name, counts in sorted(summary["streams"].items()):
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=out)
    if dry_run:
        print(f"  would send {summary['planned_writes']} write requests costing ~{summary['planned_write_tokens']}"
              f" tokens (reads for this plan: {summary['tokens']} tokens); ~{summary['estimated_seconds']} s at "
              f"the burst limit; daily budget {summary['daily_budget']} tokens", file=out)
    if tally.failures:
        print(f"  FAILED {sum(tally.failures.values())} record(s): "
              + ", ".join(f"{code} {n}" for code, n in tally.failures.most_common())
              + " (details: target-pipedrive-admin report)", file=out)
    if tally.sources is not None:
        print(f"  {reconcile_line(tally.sources)}", file=out)
    if tally.manual:
        print(f"  NEEDS MANUAL HANDLING {sum(tally.manual.values())} record(s): "
              + ", ".join(f"{code} {n}" for code, n in tally.manual.most_common())
              + " (skipped, listed in target-pipedrive-admin report)", file=out)
    if held:
        print(f"  HELD {held} record(s) whose parent person has not been written; they are kept and sent "
              "when it arrives", file=out)
    if tally.stopped is not None:
        when = ""
        retry = getattr(tally.stopped, "retry_after_s", None)
        if retry:
            when = f"; resume in about {int(retry // 60)} min ({int(retry)} s)"
        print(f"  STOPPED EARLY: {tally.stopped}. {deferred} record(s) are saved in the crosswalk and will be "
              f"sent by the next run{when}.", file=out)
    out.flush()
