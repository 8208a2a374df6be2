"""Rate limits: the rolling 2-second burst window per token, the search window, the daily token
budget charged by each operation's cost, the headers on every response, and forced 429s."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from sandbox.pipedrive.config import PLANS


def test_burst_window_refuses_then_recovers(pipedrive_sandbox_factory):
    sb = pipedrive_sandbox_factory(burst_limit=5)
    statuses, remaining = [], []
    for _ in range(7):
        resp = sb.request("GET", "/api/v2/persons")
        statuses.append(resp.status_code)
        remaining.append(resp.headers["x-ratelimit-remaining"])
        assert resp.headers["x-ratelimit-limit"] == "5"
    assert statuses == [200] * 5 + [429] * 2
    assert remaining == ["4", "3", "2", "1", "0", "0", "0"]
    refused = sb.request("GET", "/api/v2/persons")
    assert refused.json() == {"success": False, "error": "Request over limit", "errorCode": 429,
                              "error_info": "Please check developers.pipedrive.com"}
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert refused.headers["x-ratelimit-reset"] == refused.headers["retry-after"]
    time.sleep(2.05)
    assert sb.request("GET", "/api/v2/persons").status_code == 200
    usage = sb.admin("GET", "usage")
    assert usage["rate_limited"]["burst"] == 3 and usage["responses_429"] == 3
    assert usage["max_accepted_requests_in_2s"] == 5 and usage["max_requests_in_2s"] == 8
    assert usage["tokens_today"] == 60  # refused requests are not charged


def test_plan_sets_burst_and_budget(pipedrive_sandbox_factory):
    for plan in ("lite", "ultimate"):
        sb = pipedrive_sandbox_factory(plan=plan, seats=2)
        resp = sb.request("GET", "/api/v1/users/me")
        assert resp.headers["x-ratelimit-limit"] == str(PLANS[plan].burst)
        assert resp.headers["x-daily-ratelimit-token-limit"] == str(30_000 * PLANS[plan].multiplier * 2)
    assert {p: (v.burst, v.multiplier) for p, v in PLANS.items()} == {
        "lite": (20, 1), "growth": (40, 2), "premium": (100, 5), "ultimate": (120, 7)}


def test_concurrent_burst_accepts_exactly_the_limit(pipedrive_sandbox_factory):
    sb = pipedrive_sandbox_factory(plan="growth")
    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(lambda _: sb.request("GET", "/api/v1/users/me").status_code, range(60)))
    usage = sb.admin("GET", "usage")
    if usage["max_requests_in_2s"] == 60:  # all 60 landed inside one window (always, on a sane machine)
        assert codes.count(200) == 40 and codes.count(429) == 20
    assert usage["max_accepted_requests_in_2s"] <= 40


def test_search_window_is_ten_per_two_seconds(pipedrive_sandbox_factory):
    sb = pipedrive_sandbox_factory(plan="premium")
    codes = [sb.request("GET", "/api/v2/persons/search", params={"term": "ab"}).status_code for _ in range(12)]
    assert codes == [200] * 10 + [429] * 2
    assert sb.request("GET", "/api/v2/persons").status_code == 200  # other endpoints are not affected
    assert sb.admin("GET", "usage")["rate_limited"]["search"] == 2


def test_daily_budget_exhaustion_and_new_day(pipedrive_sandbox_factory):
    sb = pipedrive_sandbox_factory(daily_budget=32)
    for i in range(6):
        resp = sb.request("POST", "/api/v2/persons", json={"name": f"P {i}"})
        assert resp.status_code == 200
        assert resp.headers["x-daily-ratelimit-token-remaining"] == str(32 - 5 * (i + 1))
    resp = sb.request("POST", "/api/v2/persons", json={"name": "too much"})  # costs 5, only 2 left
    assert resp.status_code == 429
    assert resp.json() == {"success": False, "error": "daily request budget exceeded", "errorCode": 429}
    assert int(resp.headers["retry-after"]) > 0
    assert sb.request("GET", "/api/v2/persons/1").status_code == 200  # a 1-token read still fits
    assert sb.request("GET", "/api/v2/persons/1").status_code == 200
    for _ in range(3):
        assert sb.request("GET", "/api/v2/persons/1").status_code == 429
    assert sb.admin("GET", "objects/persons")["count"] == 6
    usage = sb.admin("GET", "usage")
    assert usage["tokens_today"] == 32 and usage["rate_limited"]["daily"] == 4
    after = sb.admin("POST", "reset-day")
    assert after["tokens_today"] == 0 and len(after["tokens_by_day"]) == 1
    resp = sb.request("POST", "/api/v2/persons", json={"name": "next day"})
    assert resp.status_code == 200 and resp.headers["x-daily-ratelimit-token-remaining"] == "27"
    assert len(sb.admin("GET", "usage")["tokens_by_day"]) == 2


def test_each_operation_is_charged_its_cost(pipedrive_sandbox):
    sb = pipedrive_sandbox
    calls = [
        ("POST", "/api/v2/persons", {"json": {"name": "A B"}}, 5, "POST /v2/persons"),
        ("GET", "/api/v2/persons", {}, 10, "GET /v2/persons"),
        ("GET", "/api/v2/persons/1", {}, 1, "GET /v2/persons/{id}"),
        ("PATCH", "/api/v2/persons/1", {"json": {"name": "A C"}}, 5, "PATCH /v2/persons/{id}"),
        ("GET", "/api/v2/persons/search", {"params": {"term": "ac"}}, 20, "GET /v2/persons/search"),
        ("POST", "/api/v1/notes", {"json": {"content": "x", "person_id": 1}}, 10, "POST /v1/notes"),
        ("GET", "/v1/notes", {}, 20, "GET /v1/notes"),
        ("GET", "/api/v1/users/find", {"params": {"term": "a"}}, 40, "GET /v1/users/find"),
        ("GET", "/api/v1/users/me", {}, 2, "GET /v1/users/me"),
        ("GET", "/api/v1/personFields", {}, 20, "GET /v1/personFields"),
        ("GET", "/api/v2/personFields", {}, 10, "GET /v2/personFields"),
        ("DELETE", "/api/v2/persons/1", {}, 3, "DELETE /v2/persons/{id}"),
        ("GET", "/api/v2/persons/999", {}, 1, "GET /v2/persons/{id}"),  # failed requests still cost
    ]
    remaining = None
    for method, path, kwargs, cost, label in calls:
        resp = sb.request(method, path, **kwargs)
        assert resp.status_code in (200, 404), (path, resp.text)
        now = int(resp.headers["x-daily-ratelimit-token-remaining"])
        if remaining is not None:
            assert remaining - now == cost, label
        remaining = now
    usage = sb.admin("GET", "usage")["by_operation"]
    assert usage["GET /v2/persons/{id}"] == {"count": 2, "tokens": 2}
    assert usage["GET /v1/users/find"] == {"count": 1, "tokens": 40}
    assert sum(op["tokens"] for op in usage.values()) == sum(c[3] for c in calls)


def test_headers_on_every_api_response(pipedrive_sandbox):
    sb = pipedrive_sandbox
    for method, path, kwargs in (("GET", "/api/v2/persons", {}), ("GET", "/api/v2/persons/77", {}),
                                 ("POST", "/api/v2/persons", {"json": {}}), ("GET", "/v1/no-such", {}),
                                 ("PUT", "/api/v1/notes/5", {"json": {"content": "x"}})):
        resp = sb.request(method, path, **kwargs)
        for header in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                       "x-daily-ratelimit-token-limit", "x-daily-ratelimit-token-remaining"):
            assert header in resp.headers, (path, header)
        assert ("x-daily-requests-left" in resp.headers) == (method in ("POST", "PUT", "PATCH")), path


def test_forced_429_fault_has_pipedrive_shape(pipedrive_sandbox):
    sb = pipedrive_sandbox
    sb.admin("POST", "faults", {"force_429": 2})
    first = sb.request("GET", "/api/v2/persons")
    assert first.status_code == 429 and first.json()["error"] == "Request over limit"
    assert first.headers["retry-after"] and first.headers["x-ratelimit-remaining"] == "0"
    assert sb.request("GET", "/api/v2/persons").status_code == 429
    assert sb.request("GET", "/api/v2/persons").status_code == 200
    assert sb.admin("GET", "usage")["rate_limited"]["forced"] == 2


def test_unauthenticated_requests_do_not_spend_budget(pipedrive_sandbox_factory):
    sb = pipedrive_sandbox_factory(daily_budget=5)
    for _ in range(5):
        assert requests.get(sb.url + "/api/v2/persons", timeout=10).status_code == 401
    assert sb.admin("GET", "usage")["tokens_today"] == 0
