"""Rate limits, server errors, dropped connections and bad settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from tap_helpers import run_tap, select_streams, tap_config

SELECT_FEW = ("patients", "individual_appointments", "invoices")


def expected_ids(sandbox: Any, stream: str) -> set[str]:
    return {r["id"] for r in sandbox.admin("GET", f"/_admin/records/{stream}")[stream]}


def test_429_5xx_and_dropped_connections_still_deliver_every_record(tmp_path: Path, cliniko_sandbox: Any) -> None:
    cliniko_sandbox.admin("POST", "/_admin/faults", {"error_rate": 0.08, "drop_rate": 0.05, "rate_429": 0.08,
                                                      "seed": 7})
    config = tap_config(cliniko_sandbox, page_size=10, max_retries=15)
    run = run_tap(tmp_path, config, catalog=select_streams(tmp_path, config, SELECT_FEW))
    assert run.returncode == 0, run.stderr[-2000:]
    log = cliniko_sandbox.admin("GET", "/_admin/requests")
    statuses = [r["status"] for r in log["requests"]]
    assert statuses.count(503) > 0 and statuses.count(429) > 0 and statuses.count(None) > 0, "no fault was injected"
    assert set(run.records) == set(SELECT_FEW)
    for stream in SELECT_FEW:
        assert set(run.ids(stream)) == expected_ids(cliniko_sandbox, stream), stream
    assert "Retrying" in run.stderr


def test_429_waits_for_x_ratelimit_reset(tmp_path: Path, cliniko_sandbox: Any) -> None:
    """A real 429 from the per-minute window: the tap sleeps until the announced reset."""
    cliniko_sandbox.admin("POST", "/_admin/config", {"rate_limit_per_minute": 10})
    config = tap_config(cliniko_sandbox, page_size=4)  # no proactive pacing: the server must push back
    started = time.monotonic()
    run = run_tap(tmp_path, config, catalog=select_streams(tmp_path, config, ["patients"]), timeout=400)
    assert run.returncode == 0, run.stderr[-2000:]
    log = cliniko_sandbox.admin("GET", "/_admin/requests")["requests"]
    refused = [r for r in log if r["status"] == 429]
    answered = [r for r in log if r["status"] == 200]
    assert refused, "the window was never hit: the test proves nothing"
    assert len(refused) <= 2 * (len(answered) // 10 + 1), "the tap hammered instead of waiting for the reset"
    assert time.monotonic() - started >= 55, "finished faster than the window allows"
    assert set(run.ids("patients")) == expected_ids(cliniko_sandbox, "patients")


def test_pacing_stays_under_the_limit_without_any_429(tmp_path: Path, cliniko_sandbox: Any) -> None:
    cliniko_sandbox.admin("POST", "/_admin/config", {"rate_limit_per_minute": 10})
    config = tap_config(cliniko_sandbox, max_requests_per_minute=10, page_size=4)
    run = run_tap(tmp_path, config, catalog=select_streams(tmp_path, config, ["patients"]), timeout=400)
    assert run.returncode == 0, run.stderr[-2000:]
    log = cliniko_sandbox.admin("GET", "/_admin/requests")["requests"]
    assert len(log) > 10, "too few requests to reach the limit: the test proves nothing"
    assert not [r for r in log if r["status"] == 429]
    assert set(run.ids("patients")) == expected_ids(cliniko_sandbox, "patients")


def test_bad_key_fails_fast_with_one_sentence_and_no_secret(tmp_path: Path, cliniko_sandbox: Any) -> None:
    secret = "sk-WRONG-9f8e7d6c5b4a-au1"
    started = time.monotonic()
    run = run_tap(tmp_path, tap_config(cliniko_sandbox, api_key=secret))
    assert run.returncode == 2
    assert time.monotonic() - started < 20, "a bad key must not be retried"
    assert "api_key" in run.stderr and "401" in run.stderr
    assert "Traceback" not in run.stderr
    assert secret not in run.stderr and secret not in run.stdout
    assert "9f8e7d6c5b4a" not in run.stderr


def test_missing_user_agent_contact_is_refused_clearly(tmp_path: Path, cliniko_sandbox: Any) -> None:
    run = run_tap(tmp_path, tap_config(cliniko_sandbox, user_agent="NoEmailHere"))
    assert run.returncode == 2
    assert "user_agent" in run.stderr and "403" in run.stderr
    assert "Traceback" not in run.stderr


def test_unreachable_host_is_one_sentence(tmp_path: Path, cliniko_sandbox: Any) -> None:
    run = run_tap(tmp_path, tap_config(cliniko_sandbox, base_url="http://127.0.0.1:9/v1", max_retries=2))
    assert run.returncode == 2
    assert "Cannot reach Cliniko" in run.stderr and "base_url" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("url", ["http://cliniko.example.com/v1", "ftp://127.0.0.1/v1"])
def test_plain_http_off_loopback_is_refused(tmp_path: Path, cliniko_sandbox: Any, url: str) -> None:
    run = run_tap(tmp_path, tap_config(cliniko_sandbox, base_url=url))
    assert run.returncode == 2
    assert "https" in run.stderr
    assert cliniko_sandbox.admin("GET", "/_admin/requests")["count"] == 0


def test_missing_required_setting_is_reported(tmp_path: Path, cliniko_sandbox: Any) -> None:
    config = tap_config(cliniko_sandbox)
    del config["api_key"]
    run = run_tap(tmp_path, config)
    assert run.returncode != 0
    assert "api_key" in run.stderr
