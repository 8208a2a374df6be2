"""Limits and faults: 429s, 5xx and dropped connections, the burst window, the daily budget."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pd_helpers import (
    assert_exact_clinic,
    base_config,
    clinic,
    messages,
    run_inproc,
    run_target,
    state,
)


def test_injected_429s_errors_and_dropped_connections_still_land_every_record_once(
        pipedrive_sandbox: Any, pipedrive_spec_validator: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    sb.admin("POST", "faults", {"error_rate": 0.08, "drop_rate": 0.1, "rate_429": 0.04, "seed": 11})
    data = clinic(tmp_path / "files")
    run = run_inproc(base_config(sb, tmp_path, max_retries=10), messages(data))
    assert run.returncode == 0, run.stderr
    sb.admin("POST", "faults", {"error_rate": 0, "drop_rate": 0, "rate_429": 0})
    assert_exact_clinic(sb, data)
    usage = sb.admin("GET", "usage")
    assert usage["rate_limited"]["forced"] > 0  # the faults really happened
    log = sb.admin("GET", "requests")["requests"]
    assert any(r["status"] is None and r["method"] == "POST" for r in log)  # a create's connection was dropped
    assert any(r["status"] == 503 for r in log)
    pipedrive_spec_validator.assert_clean()


def test_pacing_stays_inside_the_burst_window(pipedrive_sandbox_factory: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox_factory(plan="lite")  # 20 requests per rolling 2 s
    cfg = base_config(sb, tmp_path, plan_tier="lite")
    cfg.pop("rate_limit_burst")
    data = clinic(tmp_path / "files")
    run = run_inproc(cfg, messages(data))
    assert run.returncode == 0, run.stderr
    usage = sb.admin("GET", "usage")
    assert usage["requests"] > 30  # enough to need pacing
    assert usage["rate_limited"]["burst"] == 0  # paced before sending, not refused after
    assert usage["max_requests_in_2s"] <= 20
    assert_exact_clinic(sb, data)


def test_a_lower_server_limit_from_the_headers_wins_over_the_setting(pipedrive_sandbox_factory: Any,
                                                                     tmp_path: Path) -> None:
    sb = pipedrive_sandbox_factory(burst_limit=12)
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    run = run_inproc(base_config(sb, tmp_path, rate_limit_burst=100), messages(data))
    assert run.returncode == 0
    usage = sb.admin("GET", "usage")
    assert usage["rate_limited"]["burst"] == 0 and usage["max_requests_in_2s"] <= 12


def test_daily_budget_exhaustion_stops_cleanly_and_the_next_days_finish_the_job(pipedrive_sandbox_factory: Any,
                                                                               tmp_path: Path) -> None:
    sb = pipedrive_sandbox_factory(daily_budget=250)
    cfg = base_config(sb, tmp_path)
    data = clinic(tmp_path / "files")
    first = run_target(cfg, messages(data, state_every=4), tmp_path)
    assert first.returncode == 75, first.stderr[-2000:]
    # proactively (the headers' tokens left) or, with writes in flight, by Pipedrive's own 429
    assert re.search(r"STOPPED EARLY: Pipedrive('s daily token budget| reports)", first.stderr), first.stderr[-2000:]
    assert "will be sent by the next run" in first.stderr
    assert "Traceback" not in first.stderr
    assert first.states[-1]["bookmarks"]["done"] is True  # spooled records are durable: STATE moves on
    assert sb.admin("GET", "usage")["tokens_today"] <= 250
    runs = 1
    while True:  # each new server day the remaining work continues; the tap sends nothing new
        sb.admin("POST", "reset-day")
        again = run_inproc(cfg, [state({"bookmarks": {"n": 28, "done": True}})])
        runs += 1
        assert again.returncode in (0, 75), again.stderr
        assert sb.admin("GET", "usage")["tokens_today"] <= 250
        if again.returncode == 0:
            break
        assert runs < 6, "the job never finished"
    assert runs >= 2
    assert_exact_clinic(sb, data)


def test_configured_token_cap_is_honoured_across_runs(pipedrive_sandbox: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    capped = run_inproc(base_config(sb, tmp_path, daily_token_budget=120), messages(data))
    assert capped.returncode == 75 and "daily_token_budget (120 tokens) is spent" in capped.stderr
    assert sb.admin("GET", "usage")["tokens_today"] <= 120
    same_day = run_inproc(base_config(sb, tmp_path, daily_token_budget=120), messages(data))
    assert same_day.returncode == 75 and sb.admin("GET", "usage")["tokens_today"] <= 120
    raised = run_inproc(base_config(sb, tmp_path, daily_token_budget=5000), messages(data))
    assert raised.returncode == 0, raised.stderr
    assert_exact_clinic(sb, data)


def test_pipedrive_down_stops_cleanly_and_a_later_run_resumes(pipedrive_sandbox: Any, tmp_path: Path) -> None:
    sb = pipedrive_sandbox
    data = clinic(tmp_path / "files", n_persons=2, n_files=1)
    cfg = base_config(sb, tmp_path, max_retries=2)
    assert run_inproc(cfg, messages({"custom_fields": data["custom_fields"]})).returncode == 0
    sb.admin("POST", "faults", {"force_errors": 1000})
    down = run_inproc(cfg, messages(data))
    assert down.returncode == 75 and "Pipedrive kept failing (HTTP 503) after 2 retries" in down.stderr
    sb.admin("POST", "faults", {"force_errors": 0})
    up = run_inproc(cfg, [state({"bookmarks": {"resume": True}})])
    assert up.returncode == 0, up.stderr
    assert_exact_clinic(sb, data)
