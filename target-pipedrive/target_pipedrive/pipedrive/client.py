"""The one Pipedrive HTTP client: auth, pacing, budget, retries and clean errors.

Every request goes through `PipedriveClient.request`, which
- sends the token in the `x-api-token` header (never in the URL, so it cannot leak into logs),
- waits for a slot in the burst window and checks the daily budget before sending,
- retries 429s (after Retry-After / x-ratelimit-reset), 5xx, timeouts and dropped
  connections with capped exponential backoff,
- never blindly re-sends a non-idempotent POST whose fate is unknown: it raises
  `MaybeWritten` so the caller can look the object up first (see recovery.py),
- turns the daily-budget 429 into `BudgetExhausted` and persistent failure into
  `ServiceUnavailable`, both of which stop the run cleanly.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from target_pipedrive.errors import (
    ApiError,
    AuthError,
    BudgetExhausted,
    MaybeWritten,
    RunInterrupted,
    ServiceUnavailable,
    Unreachable,
)
from target_pipedrive.pipedrive.http import ConnectionLost, ConnectTimedOut, Http
from target_pipedrive.pipedrive.http import Reply as Response
from target_pipedrive.pipedrive.pacing import BurstPacer, TokenBudget, server_day

if TYPE_CHECKING:
    from target_pipedrive.settings import Settings

PREFIX = {"v2": "/api/v2", "v1": "/api/v1"}
MAX_RATE_LIMIT_RETRIES = 40
USER_AGENT = "target-pipedrive/0.1 (+singer-sdk)"

# (method, version, path template) -> x-token-cost from the official specs
TOKEN_COSTS: dict[tuple[str, str, str], int] = {
    ("GET", "v2", "/persons"): 10, ("POST", "v2", "/persons"): 5, ("GET", "v2", "/persons/{id}"): 1,
    ("PATCH", "v2", "/persons/{id}"): 5, ("DELETE", "v2", "/persons/{id}"): 3,
    ("GET", "v2", "/persons/search"): 20,
    ("GET", "v2", "/activities"): 10, ("POST", "v2", "/activities"): 5, ("GET", "v2", "/activities/{id}"): 1,
    ("PATCH", "v2", "/activities/{id}"): 5, ("DELETE", "v2", "/activities/{id}"): 3,
    ("GET", "v2", "/products"): 10, ("POST", "v2", "/products"): 5, ("GET", "v2", "/products/{id}"): 1,
    ("PATCH", "v2", "/products/{id}"): 5, ("DELETE", "v2", "/products/{id}"): 3,
    ("GET", "v1", "/notes"): 20, ("POST", "v1", "/notes"): 10, ("GET", "v1", "/notes/{id}"): 2,
    ("PUT", "v1", "/notes/{id}"): 10, ("DELETE", "v1", "/notes/{id}"): 6,
    ("POST", "v1", "/files"): 10, ("GET", "v1", "/files/{id}"): 2, ("PUT", "v1", "/files/{id}"): 10,
    ("DELETE", "v1", "/files/{id}"): 6, ("GET", "v1", "/persons/{id}/files"): 20,
    ("GET", "v1", "/files/{id}/download"): 20,
    ("GET", "v1", "/users"): 20, ("GET", "v1", "/users/me"): 2,
    ("GET", "v1", "/activityTypes"): 20, ("POST", "v1", "/activityTypes"): 10,
    ("PUT", "v1", "/activityTypes/{id}"): 10, ("DELETE", "v1", "/activityTypes/{id}"): 6,
}
for _entity in ("personFields", "productFields"):
    TOKEN_COSTS.update({("GET", "v1", f"/{_entity}"): 20, ("POST", "v1", f"/{_entity}"): 10,
                   ("PUT", "v1", f"/{_entity}/{{id}}"): 10, ("DELETE", "v1", f"/{_entity}/{{id}}"): 6,
                   ("GET", "v1", f"/{_entity}/{{id}}"): 2})
DEFAULT_COST = 20  # unknown operation: assume the expensive end


def token_cost(method: str, version: str, path: str) -> int:
    """What Pipedrive charges for one request. An id is any integer segment: a plan's stand-in ids for objects
    it would create are negative (`/persons/-5`), and are priced as the real request would be."""
    template = re.sub(r"/-?\d+(?=/|$)", "/{id}", path)
    return TOKEN_COSTS.get((method, version, template), DEFAULT_COST)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def sanitize(message: str, allowed: Iterable[str] = ()) -> str:
    """Strip anything that could be a payload value from an API error message.

    Quoted text survives only when it names a parameter we sent (`allowed`); e-mail
    addresses and long digit runs (phones, ids in free text) are masked anyway.
    """
    allowed_set = set(allowed)

    def quoted(match: re.Match[str]) -> str:
        text = match.group(1) if match.group(1) is not None else match.group(2)
        return f"'{text}'" if text in allowed_set else "'…'"

    text = _QUOTED.sub(quoted, message or "")
    text = _EMAIL.sub("<email>", text)
    text = _LONG_NUMBER.sub("<number>", text)
    return text[:500]


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    by_method: dict[str, int] = field(default_factory=dict)

    @property
    def writes(self) -> int:
        return sum(n for m, n in self.by_method.items() if m != "GET")


class PipedriveClient:
    @classmethod
    def from_settings(cls, settings: Settings, tokens_spent: Callable[[str], int],
                      save_tokens: Callable[[str, int], None] | None) -> PipedriveClient:
        """The client a run uses: limits from the settings, the server day's spend so far from the crosswalk."""
        spent_today = tokens_spent(server_day(settings.budget_timezone))
        budget = TokenBudget(settings.daily_token_budget, settings.budget_reserve_tokens, spent=spent_today,
                             save=save_tokens, timezone=settings.budget_timezone)
        return cls(settings.base_url, settings.api_token, budget=budget, burst_limit=settings.rate_limit_burst,
                   timeout_s=settings.request_timeout_s, max_retries=settings.max_retries,
                   read_only=settings.dry_run)

    def __init__(self, base_url: str, api_token: str, *, budget: TokenBudget, burst_limit: int,
                 timeout_s: float = 60.0, max_retries: int = 8, read_only: bool = False,
                 sleep: Callable[[float], None] = time.sleep,
                 backoff_base_s: float = 0.5, backoff_cap_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.read_only = read_only
        self.stats = ClientStats()
        self._sleep = sleep
        self._backoff_base = backoff_base_s
        self._backoff_cap = backoff_cap_s
        self._http = Http(self.base_url, {"x-api-token": api_token, "Accept": "application/json",
                                          "User-Agent": USER_AGENT})
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self.pacer = BurstPacer(burst_limit, sleep=self.pause)
        self._answered = False  # Pipedrive has answered a request of this run (retries start only then)

    def stop(self) -> None:
        """The run is interrupted: no request starts any more, and waits (pacing, backoff) end now."""
        self._stopping.set()

    def pause(self, seconds: float) -> None:
        """Sleep (pacing, backoff), unless the run is interrupted meanwhile."""
        if self._sleep is time.sleep:
            stopped = self._stopping.wait(seconds)
        else:  # tests drive time themselves
            self._sleep(seconds)
            stopped = self._stopping.is_set()
        if stopped:
            raise RunInterrupted("the run was interrupted before this request was sent")

    # -- public helpers ----------------------------------------------------------------
    def get(self, version: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", version, path, params=params)

    def list_all(self, version: str, path: str, params: dict[str, Any] | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following v2 cursors or v1 start/limit pages."""
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        query["limit"] = limit
        while True:
            body = self.get(version, path, query)
            data = body.get("data") or []
            items.extend(data)
            extra = body.get("additional_data") or {}
            if version == "v2":
                cursor = extra.get("next_cursor")
                if not cursor:
                    return items
                query["cursor"] = cursor
            else:
                page = extra.get("pagination") or extra
                if not page.get("more_items_in_collection"):
                    return items
                query["start"] = page.get("next_start", int(query.get("start", 0)) + len(data))

    # -- the request loop ---------------------------------------------------------------
    def request(self, method: str, version: str, path: str, *, params: dict[str, Any] | None = None,
                json_body: Any = None, files: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                raw: bool = False) -> Any:
        """Send one API request and return its decoded JSON (or bytes when `raw`)."""
        if self.read_only and method != "GET":
            raise RuntimeError(f"refusing {method} {path}: the target is in plan mode")  # programming error guard
        cost = token_cost(method, version, path)
        url = f"{self.base_url}{PREFIX[version]}{path}"
        idempotent = method in ("GET", "PUT", "PATCH", "DELETE")
        failures = 0
        rate_limited = 0
        while True:
            if self._stopping.is_set():
                raise RunInterrupted("the run was interrupted before this request was sent")
            self.budget.check(cost)
            try:
                response = self._exchange(method, url, params, json_body, files, data)
            except ConnectTimedOut:
                failures = self._backoff(failures, "connect timeout")
                continue
            except ConnectionLost as exc:
                with self._stats_lock:
                    self.stats.requests += 1
                if exc.unreachable and not self._answered:  # never reached this run: a setting, not a glitch
                    raise Unreachable(f"Cannot reach Pipedrive at {self.base_url}: {exc.unreachable}; check the "
                                      "`base_url` setting (your company domain, https://<company>.pipedrive.com) "
                                      "and the network.") from None
                if not idempotent:
                    raise MaybeWritten(f"{method} {path}: {exc}") from None
                failures = self._backoff(failures, str(exc))
                continue
            with self._stats_lock:
                self.stats.requests += 1
                self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
            self._answered = True
            self._observe(response)
            status = response.status_code
            if status == 429:
                rate_limited += 1
                with self._stats_lock:
                    self.stats.rate_limited += 1
                self._handle_429(response, rate_limited)
                continue
            if status >= 500:
                if not idempotent:
                    raise MaybeWritten(f"{method} {path}: HTTP {status}")
                failures = self._backoff(failures, f"HTTP {status}")
                continue
            if status != 401:
                self.budget.charge(cost)
                self.budget.observe(response.headers.get("x-daily-ratelimit-token-remaining"))
            if status < 300:
                return response.content if raw else _json(response)
            raise self._error(response, method, path, json_body)

    # -- internals ------------------------------------------------------------------------
    def _exchange(self, method: str, url: str, params: dict[str, Any] | None, json_body: Any,
                  files: dict[str, Any] | None, data: dict[str, Any] | None) -> Response:
        """One request inside the burst window: its slot is held until the answer (or the failure) is in."""
        slot = self.pacer.acquire()
        with self._stats_lock:
            self.stats.waited_s += slot.waited_s
        try:
            return self._http.send(method, url, params=_query(params), json_body=json_body, files=files, data=data,
                                   timeout_s=self.timeout_s)
        finally:
            self.pacer.release(slot)

    def _observe(self, response: Response) -> None:
        h = response.headers
        self.pacer.observe(h.get("x-ratelimit-limit"), h.get("x-ratelimit-remaining"), h.get("x-ratelimit-reset"))

    def _backoff(self, failures: int, what: str) -> int:
        failures += 1
        if failures > self.max_retries:
            raise ServiceUnavailable(f"Pipedrive kept failing ({what}) after {self.max_retries} retries")
        delay = min(self._backoff_cap, self._backoff_base * 2 ** (failures - 1))
        delay *= 0.5 + random.random() / 2  # jitter: 50-100 % of the step
        with self._stats_lock:
            self.stats.retries += 1
            self.stats.waited_s += delay
        self.pause(delay)
        return failures

    def _handle_429(self, response: Response, attempt: int) -> None:
        h = response.headers
        body = _json_or_none(response) or {}
        text = str(body.get("error") or "").lower()
        retry_after = _float(h.get("retry-after"))
        daily_left = h.get("x-daily-ratelimit-token-remaining")
        if "daily" in text or "budget" in text or (daily_left is not None and daily_left.strip() == "0"):
            self.budget.observe("0")
            raise BudgetExhausted("Pipedrive's daily token budget for the company is spent", retry_after)
        if attempt > MAX_RATE_LIMIT_RETRIES:
            raise ServiceUnavailable(f"Pipedrive kept answering 429 after {MAX_RATE_LIMIT_RETRIES} waits")
        wait = max(retry_after or 0.0, _float(h.get("x-ratelimit-reset")) or 0.0, 1.0)
        wait += random.random() * 0.25
        self.pacer.block_for(wait)

    def _error(self, response: Response, method: str, path: str, json_body: Any) -> Exception:
        status = response.status_code
        body = _json_or_none(response)
        if status == 401:
            return AuthError("Pipedrive rejected the API token (HTTP 401); check api_token and base_url.")
        if status == 402:
            return AuthError("Pipedrive says the company account is not open (HTTP 402: trial ended or unpaid).")
        if status == 403 and body is None:
            return ServiceUnavailable("Pipedrive's gateway blocked the requests (HTTP 403 without a JSON body)")
        body = body or {}
        code = str(body.get("code") or body.get("errorCode") or f"http_{status}")
        message = sanitize(str(body.get("error") or response.reason or ""), _param_names(json_body))
        return ApiError(status, code if not code.isdigit() else f"http_{status}", f"{method} {path}: {message}")


def _query(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: ("true" if v is True else "false" if v is False else v) for k, v in params.items() if v is not None}


def _json(response: Response) -> dict[str, Any]:
    body = _json_or_none(response)
    if body is None:
        raise ServiceUnavailable(f"Pipedrive answered HTTP {response.status_code} without a JSON body")
    return body


def _json_or_none(response: Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _param_names(body: Any, prefix: str = "") -> set[str]:
    """Every key path of a request body (`emails[0].value`), the only quoted text kept in errors."""
    names: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            names.add(str(key))
            names.add(path)
            names |= _param_names(value, path)
    elif isinstance(body, list):
        for i, value in enumerate(body):
            names |= _param_names(value, f"{prefix}[{i}]")
    return names
