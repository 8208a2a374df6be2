"""The plan's finish time: budget days reset at the Pipedrive server's midnight, in its timezone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from target_pipedrive.pipedrive.pacing import seconds_to_reset
from target_pipedrive.settings import Settings, start_time
from target_pipedrive.workflow.estimate import finish, of_plan, per_tier

UTC = ZoneInfo("UTC")


def at(text: str, tz: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def test_a_run_the_first_days_budget_covers_finishes_at_the_rate_limits_pace() -> None:
    done = finish(tokens=1000, seconds=600, start=at("2026-12-07T08:00"), daily_budget=5000)
    assert (done.at, done.budget_days, done.top_up_tokens) == (at("2026-12-07T08:10"), 1, 0)


def test_a_run_waits_for_each_reset_and_spends_a_whole_budget_a_day() -> None:
    # 25,000 tokens, 10,000 a day, fast enough to spend each day's budget in an hour
    done = finish(tokens=25_000, seconds=2.5 * 3600, start=at("2026-12-07T09:00"), daily_budget=10_000)
    assert done.budget_days == 3
    assert done.at == at("2026-12-09T00:30")  # day 3: 5,000 tokens at 10,000 an hour after midnight
    assert done.top_up_tokens == 15_000


def test_the_start_days_earlier_spend_and_a_late_start_cost_a_day() -> None:
    spent = finish(tokens=8000, seconds=800, start=at("2026-12-07T09:00"), daily_budget=10_000, spent_today=5000)
    assert (spent.budget_days, spent.at, spent.top_up_tokens) == (2, at("2026-12-08T00:05"), 3000)
    # the rate allows 3,600 tokens before midnight when started at 23:00: the rest waits for the reset
    late = finish(tokens=7200, seconds=7200, start=at("2026-12-07T23:00"), daily_budget=100_000)
    assert (late.budget_days, late.at) == (2, at("2026-12-08T01:00"))


def test_the_reset_follows_the_servers_timezone_and_its_daylight_saving_days() -> None:
    start = at("2026-12-07T09:00")  # 22:00 in Auckland (UTC+13 in December): two hours before its reset
    utc = finish(tokens=20_000, seconds=4 * 3600, start=start, daily_budget=10_000)
    auckland = finish(tokens=20_000, seconds=4 * 3600, start=start.astimezone(ZoneInfo("Pacific/Auckland")),
                      daily_budget=10_000)
    assert utc.budget_days == 2 and utc.at == at("2026-12-08T02:00")
    assert auckland.budget_days == 2 and auckland.at == at("2026-12-08T02:00", "Pacific/Auckland")
    # Dublin springs forward on 2026-03-29: 23 hours between its two midnights
    dublin = "Europe/Dublin"
    assert seconds_to_reset(dublin, at("2026-03-29T00:00", dublin)) == 23 * 3600
    done = finish(tokens=23 * 3600 + 1800, seconds=23 * 3600 + 1800, start=at("2026-03-29T00:00", dublin),
                  daily_budget=10**9)
    assert (done.budget_days, done.at) == (2, at("2026-03-30T00:30", dublin))


def test_days_per_tier_shrink_with_the_tier_and_seats() -> None:
    rows = per_tier(tokens=250_000, requests=40_000, other_seconds=600, start=at("2026-12-07T00:00"), seats=3)
    assert [r["tier"] for r in rows] == ["lite", "growth", "premium", "ultimate"]
    assert [r["daily_token_budget"] for r in rows] == [90_000, 180_000, 450_000, 630_000]
    assert [r["budget_days"] for r in rows] == [3, 2, 1, 1]
    assert [r["top_up_tokens"] for r in rows] == [160_000, 70_000, 0, 0]


def test_of_plan_reads_the_start_and_timezone_settings() -> None:
    settings = Settings.from_config({"api_token": "t", "plan_tier": "growth", "seats": 3,
                                     "budget_timezone": "America/New_York", "plan_start": "2026-12-07T08:00"})
    summary = {"planned_writes": 40_000, "planned_write_tokens": 249_000, "requests": 100, "tokens": 1000}
    est = of_plan(summary, settings, lambda day: pytest.fail("a future start day has spent nothing yet"))
    plan = est["schedule"]
    assert plan["start"] == "2026-12-07T08:00:00-05:00" and plan["budget_timezone"] == "America/New_York"
    assert est["tokens"] == 250_000 and est["days"] == plan["budget_days"] == 2
    assert plan["top_up_tokens_for_one_day"] == 70_000
    assert [r["budget_days"] for r in plan["per_tier"]] == [3, 2, 1, 1]


@pytest.mark.parametrize(("config", "message"), [
    ({"budget_timezone": "Mars/Olympus"}, "budget_timezone 'Mars/Olympus' is not a known timezone name"),
    ({"budget_timezone": "../etc/passwd"}, "is not a known timezone name"),
    ({"plan_start": "next tuesday"}, "plan_start 'next tuesday' is not an ISO 8601 date and time"),
])
def test_a_bad_timezone_or_start_is_one_sentence(config: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_config({"api_token": "t", **config})


def test_a_start_without_an_offset_is_read_in_the_servers_timezone() -> None:
    assert start_time("2026-12-07T08:00", "Europe/Dublin") == at("2026-12-07T08:00", "Europe/Dublin")
    assert start_time("2026-12-07T08:00+02:00", "UTC") == at("2026-12-07T06:00")
