"""Cliniko sandbox rate limiting (429 + X-RateLimit-Reset) and injected faults."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.cliniko.auth import DEFAULT_API_KEY


def test_limit_per_key_answers_429_with_reset_header(cliniko_sandbox_factory):
    sandbox = cliniko_sandbox_factory(size="none", rate_limit_per_minute=5)
    statuses = [sandbox.get("user").status_code for _ in range(5)]
    assert statuses == [200] * 5
    before = time.time()
    refused = sandbox.get("user")
    assert refused.status_code == 429
    reset = refused.headers["X-RateLimit-Reset"]
    assert reset.isdigit()
    assert before < int(reset) <= before + 61
    assert "limit" in refused.json()["message"]
    # the same key without its shard suffix shares the budget
    other = requests.get(sandbox.base_url + "/user", auth=(DEFAULT_API_KEY.rsplit("-", 1)[0], ""),
                         headers={"User-Agent": sandbox.user_agent}, timeout=10)
    assert other.status_code == 429


def test_each_key_has_its_own_window_and_admin_is_never_limited(cliniko_sandbox_factory):
    sandbox = cliniko_sandbox_factory(size="none", rate_limit_per_minute=2, api_keys=["one-au1", "two-au1"])

    def call(key):
        return requests.get(sandbox.base_url + "/user", auth=(key, ""), headers={"User-Agent": sandbox.user_agent},
                            timeout=10).status_code

    assert [call("one-au1") for _ in range(3)] == [200, 200, 429]
    assert [call("two-au1") for _ in range(2)] == [200, 200]
    for _ in range(5):
        sandbox.admin("GET", "counts")
    refused_requests_do_not_count = [call("one-au1") for _ in range(3)]
    assert refused_requests_do_not_count == [429, 429, 429]


def test_rate_limit_is_changeable_and_can_be_switched_off(cliniko_sandbox_factory):
    sandbox = cliniko_sandbox_factory(size="none", rate_limit_per_minute=1)
    assert sandbox.get("user").status_code == 200
    assert sandbox.get("user").status_code == 429
    assert sandbox.admin("POST", "config", {"rate_limit_per_minute": 0})["rate_limit_per_minute"] == 0
    assert all(sandbox.get("user").status_code == 200 for _ in range(20))
    sandbox.admin("POST", "config", {"rate_limit_per_minute": 3})
    assert [sandbox.get("user").status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.parametrize("body", [{"rate_limit_per_minute": -1}, {"rate_limit_per_minute": "fast"},
                                  {"require_user_agent": "yes"}, {"burst": 3}])
def test_bad_config_is_refused(cliniko_sandbox, body):
    response = requests.post(cliniko_sandbox.url + "/_admin/config", json=body, timeout=10)
    assert response.status_code == 400
    assert cliniko_sandbox.admin("GET", "config") == {"rate_limit_per_minute": 0, "require_user_agent": True}


def test_forced_errors_drops_and_429s(cliniko_sandbox):
    cliniko_sandbox.admin("POST", "faults", {"force_errors": 1, "force_drops": 1, "force_429": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        cliniko_sandbox.session().get(cliniko_sandbox.base_url + "/user", timeout=10)
    error = cliniko_sandbox.get("user")
    assert error.status_code == 503
    limited = cliniko_sandbox.get("user")
    assert limited.status_code == 429 and int(limited.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert cliniko_sandbox.get("user").status_code == 200


def test_error_rate_and_latency(cliniko_sandbox):
    cliniko_sandbox.admin("POST", "faults", {"error_rate": 1.0})
    assert {cliniko_sandbox.get("patients").status_code for _ in range(3)} == {503}
    cliniko_sandbox.admin("POST", "faults", {"error_rate": 0.0, "latency_ms": 150})
    started = time.monotonic()
    assert cliniko_sandbox.get("user").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_request_log_records_api_calls_without_secrets(cliniko_sandbox):
    cliniko_sandbox.get("patients", q=["last_name:~smith"])
    log = cliniko_sandbox.admin("GET", "requests")
    entry = log["requests"][-1]
    assert entry["path"] == "/v1/patients" and entry["status"] == 200 and entry["has_authorization"] is True
    assert DEFAULT_API_KEY not in str(log)
