"""What `make bench` measures and how big: one place for the knobs (environment overrides).

Sized so the whole bench takes about 15 minutes on a small machine once the clinics are
cached (the first run also generates the large clinic: ~5 minutes), plus the target's whole
runs (wholerun.py): about 35 minutes more with the large clinic; BENCH_WHOLE_SIZES=small,standard
leaves it out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from target_pipedrive.settings import BASE_DAILY_TOKENS, PLAN_TIERS

ROOT = Path(__file__).resolve().parents[1]
PLAN_MULTIPLIER = {tier: multiplier for tier, (_, multiplier) in PLAN_TIERS.items()}
PLAN_BURST = {tier: burst for tier, (burst, _) in PLAN_TIERS.items()}
SEARCH_BURST = 10
COMMERCIAL_QUOTE_H = (48, 72)


@dataclass(frozen=True)
class Scenario:
    plan: str = os.environ.get("BENCH_PIPEDRIVE_PLAN", "growth")
    seats: int = int(os.environ.get("BENCH_SEATS", "3"))
    latency_ms: float = float(os.environ.get("BENCH_LATENCY_MS", "150"))
    cliniko_per_minute: int = 200
    # limits on: Cliniko's window ends at 1 + k x 200 requests (k minutes), or times out
    cliniko_minutes: int = int(os.environ.get("BENCH_CLINIKO_MINUTES", "2"))
    cliniko_timeout_s: float = float(os.environ.get("BENCH_CLINIKO_TIMEOUT_S", "150"))
    pipedrive_window_s: float = float(os.environ.get("BENCH_PIPEDRIVE_WINDOW_S", "60"))
    # the target's first requests create the schema (25 custom fields, 6 activity types, their reads) one at
    # a time; a real migration makes them beforehand in `setup`, so the rate is measured after them
    pipedrive_warmup_requests: int = int(os.environ.get("BENCH_PIPEDRIVE_WARMUP_REQUESTS", "60"))
    # limits off: the large clinic is read for this long (a full read of it is hours of sandbox time)
    large_window_s: float = float(os.environ.get("BENCH_LARGE_WINDOW_S", "60"))
    target_window_s: float = float(os.environ.get("BENCH_TARGET_WINDOW_S", "45"))
    # the target over whole runs (memory and checkpoints as the clinic grows); the large one takes ~30 minutes
    whole_sizes: tuple[str, ...] = tuple(x for x in os.environ.get("BENCH_WHOLE_SIZES", "small,standard,large")
                                         .split(",") if x)
    # the whole mix at each plan's limits: this many of the standard clinic's patients (with all their records)
    # at the slowest plan, and more at the faster ones in proportion to their burst limit, so that every tier
    # runs about as long (3 minutes) and a run's fixed costs (its start, the drains between streams) weigh the
    # same on each; a whole clinic's run is far longer, where they weigh less still
    tier_sample_patients: int = int(os.environ.get("BENCH_TIER_SAMPLE_PATIENTS", "80"))
    tiers: tuple[str, ...] = tuple(x for x in os.environ.get("BENCH_TIERS", "lite,growth,premium,ultimate")
                                   .split(",") if x)
    # each tier's whole mix this many times, interleaved: one run of a few minutes moves by several points
    # with the shared machine's load, so a tier's figure is the lower of its rounds
    tier_rounds: int = int(os.environ.get("BENCH_TIER_ROUNDS", "2"))
    # tap / baseline tap on the standard clinic, limits off: this many rounds, interleaved A B A B ...
    read_rounds: int = int(os.environ.get("BENCH_READ_ROUNDS", "3"))
    # the map's choices for clinics with a long history, each measured as a whole standard migration; the
    # generated clinics' "now" is in the second half of 2024, so this keeps about 18 months as activities
    history_cutoff: str = os.environ.get("BENCH_HISTORY_CUTOFF", "2023-01-01")
    work: Path = ROOT / "output" / "bench"  # caches and scratch (git-ignored; generated data is never committed)
    results: Path = ROOT / "bench"

    @property
    def choices(self) -> dict[str, dict[str, object]]:
        cutoff, notes = {"history_cutoff": self.history_cutoff}, {"treatment_notes_on_appointments": True}
        return {"history_cutoff": cutoff, "history_cutoff + history_notes": {**cutoff, "history_notes": True},
                "treatment_notes_on_appointments": notes,
                "all three": {**cutoff, "history_notes": True, **notes}}

    def tier_patients(self, tier: str) -> int:
        """The sample of patients the whole-mix run at `tier` migrates."""
        return round(self.tier_sample_patients * PLAN_BURST[tier] / min(PLAN_BURST.values()))

    @property
    def burst(self) -> int:
        return PLAN_BURST[self.plan]

    @property
    def daily_budget(self) -> int:
        return BASE_DAILY_TOKENS * PLAN_MULTIPLIER[self.plan] * self.seats

    @property
    def plan_name(self) -> str:
        return f"{self.plan.title()}, {self.seats} seat{'s' if self.seats != 1 else ''}"
