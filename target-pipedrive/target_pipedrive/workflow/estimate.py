"""A plan's estimate: the tokens and requests it would spend, and when it would finish.

On a real Pipedrive plan the daily token budget, reset at the server's midnight, binds long before
the burst limit does, so the finish time is a walk over budget days: each day the run spends what
is left of that day's budget, or what the rate allows before midnight, whichever is less.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from target_pipedrive.pipedrive.pacing import server_day
from target_pipedrive.settings import BASE_DAILY_TOKENS, PLAN_TIERS, Settings, start_time

CLINIKO_PAGE = 100  # records per Cliniko list request (its maximum; tap-cliniko's default)
CLINIKO_PER_MINUTE = 200  # Cliniko's per-user limit

MAX_DAYS = 3660  # a walk that would take longer than ten years is reported as such, not walked


@dataclass(frozen=True)
class Finish:
    at: datetime | None  # None: more than MAX_DAYS
    budget_days: int  # server days the run spends tokens on (1: it finishes on the day it starts)
    top_up_tokens: int  # bought on the first day, they let the budget finish it that day


def next_midnight(moment: datetime) -> datetime:
    """The next reset after `moment`, in `moment`'s timezone (a DST day is 23 or 25 hours long)."""
    day = moment.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=moment.tzinfo)


def finish(tokens: int, seconds: float, start: datetime, daily_budget: int, spent_today: int = 0) -> Finish:
    """`tokens` spent evenly over `seconds` of unhindered running, from `start` (aware, in the server's zone)."""
    left_today = max(0, daily_budget - spent_today)
    top_up = max(0, tokens - left_today)
    if tokens <= 0:
        return Finish(start, 1, 0)
    if daily_budget <= 0:
        return Finish(None, MAX_DAYS, top_up)
    per_second = tokens / max(seconds, 1e-9)
    tz = start.tzinfo
    # arithmetic in UTC: between two times of one zone Python subtracts wall clocks, wrong across DST
    remaining, moment, budget_left, days = float(tokens), start.astimezone(UTC), float(left_today), 1
    while days <= MAX_DAYS:
        midnight = next_midnight(moment.astimezone(tz)).astimezone(UTC)
        can_spend = min(budget_left, per_second * (midnight - moment).total_seconds())
        if remaining <= can_spend:
            return Finish((moment + timedelta(seconds=remaining / per_second)).astimezone(tz), days, top_up)
        remaining -= can_spend
        moment, budget_left, days = midnight, float(daily_budget), days + 1
    return Finish(None, MAX_DAYS, top_up)


def per_tier(tokens: int, requests: int, other_seconds: float, start: datetime, seats: int,
             spent_today: int = 0) -> list[dict[str, object]]:
    """The same migration on each Pipedrive plan with these seats: its budget, burst rate and finish."""
    rows: list[dict[str, object]] = []
    for tier, (burst, multiplier) in PLAN_TIERS.items():
        budget = BASE_DAILY_TOKENS * multiplier * seats
        seconds = max(requests / (burst / 2.0), other_seconds)
        done = finish(tokens, seconds, start, budget, spent_today)
        rows.append({"tier": tier, "daily_token_budget": budget, "rate_limit_burst_per_2s": burst,
                     "budget_days": done.budget_days, "finish": done.at.isoformat() if done.at else None,
                     "top_up_tokens": done.top_up_tokens})
    return rows


def of_plan(summary: dict[str, Any], settings: Settings, tokens_spent: Callable[[str], int]) -> dict[str, Any]:
    """Tokens: the priced writes plus the reads the plan made (a real run makes the same reads).
    Time: the slower of Pipedrive's burst limit and Cliniko's 200 requests a minute, then the budget days
    from `plan_start` (or now), with what was already spent on that server day."""
    write_requests, read_requests = int(summary.get("planned_writes") or 0), int(summary.get("requests") or 0)
    write_tokens, read_tokens = int(summary.get("planned_write_tokens") or 0), int(summary.get("tokens") or 0)
    tokens = write_tokens + read_tokens
    per_second = max(1, settings.rate_limit_burst) / 2.0
    pipedrive_seconds = (write_requests + read_requests) / per_second
    sources = summary.get("sources") or {}
    cliniko_requests = sum(max(1, math.ceil(sum(c.values()) / CLINIKO_PAGE)) for c in sources.values())
    cliniko_requests += sum((sources.get("patient_attachments") or {}).values())  # one download each
    cliniko_seconds = cliniko_requests / CLINIKO_PER_MINUTE * 60
    # verify's check against Cliniko: one count per list (practitioners have two), ids only where a count differs
    listed = [stream for stream in sources if stream != "settings"]
    verify_counts = len(listed) + (1 if "practitioners" in listed else 0)
    verify_most = verify_counts + sum(math.ceil(sum(sources[s].values()) / CLINIKO_PAGE) for s in listed)
    budget = int(summary.get("daily_budget") or settings.daily_token_budget)
    start = start_time(settings.plan_start, settings.budget_timezone)
    spent = tokens_spent(start.date().isoformat()) if start.date().isoformat() == server_day(
        settings.budget_timezone) else 0
    expected = max(pipedrive_seconds, cliniko_seconds)
    done = finish(tokens, expected, start, budget, spent)
    return {"pipedrive_write_requests": write_requests, "pipedrive_read_requests": read_requests,
            "pipedrive_requests": write_requests + read_requests,
            "write_tokens": write_tokens, "read_tokens": read_tokens, "tokens": tokens,
            "daily_token_budget": budget, "days": done.budget_days,
            "rate_limit_burst_per_2s": settings.rate_limit_burst, "pipedrive_seconds": round(pipedrive_seconds, 1),
            "cliniko_requests": cliniko_requests, "cliniko_requests_per_minute": CLINIKO_PER_MINUTE,
            "cliniko_seconds": round(cliniko_seconds, 1), "expected_seconds": round(expected, 1),
            "verify_cliniko_requests": verify_counts, "verify_cliniko_requests_at_most": verify_most,
            "schedule": {"start": start.isoformat(), "budget_timezone": settings.budget_timezone,
                         "spent_on_start_day": spent, "finish": done.at.isoformat() if done.at else None,
                         "budget_days": done.budget_days, "top_up_tokens_for_one_day": done.top_up_tokens,
                         "per_tier": per_tier(tokens, write_requests + read_requests, cliniko_seconds, start,
                                              settings.seats, spent)}}
