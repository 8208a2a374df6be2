"""Burst windows, the daily token budget and usage accounting, as Pipedrive applies them.

Per request: refuse with the daily-limit 429 when today's remaining tokens cannot pay the
operation's cost; else refuse with the burst 429 when the token's rolling 2-second window
(or the 10-per-2-s search window) is full; else charge the cost. Refused requests are not
charged. Every answer carries the documented headers (`x-ratelimit-*`,
`x-daily-requests-left` on writes) plus the observed `x-daily-ratelimit-token-*`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.common.http import Response
from sandbox.common.ratelimit import Decision, RollingWindow
from sandbox.common.store import DocStore
from sandbox.pipedrive.clock import Clock
from sandbox.pipedrive.config import BURST_WINDOW_S, FAIR_USE_WRITES_PER_DAY, UNLIMITED, Config
from sandbox.pipedrive.costs import Operation

BURST_BODY = {"success": False, "error": "Request over limit", "errorCode": 429,
              "error_info": "Please check developers.pipedrive.com"}
DAILY_BODY = {"success": False, "error": "daily request budget exceeded", "errorCode": 429}
WRITE_METHODS = {"POST", "PUT", "PATCH"}


@dataclass
class Verdict:
    """The limiter's answer for one request: headers to send and, if refused, the 429."""

    headers: dict[str, str]
    refusal: Response | None = None


@dataclass
class Usage:
    requests: int = 0
    refused: dict[str, int] = field(default_factory=lambda: {"burst": 0, "search": 0, "daily": 0, "forced": 0})
    max_in_window: int = 0
    max_accepted_in_window: int = 0
    by_operation: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: {"count": 0,
                                                                                                 "tokens": 0}))
    writes_by_user_day: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Limiter:
    def __init__(self, config: Config, clock: Clock, store: DocStore) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self._lock = threading.Lock()
        self.reset_windows()
        self.usage = Usage()

    def reset_windows(self) -> None:
        self.burst = RollingWindow(self.config.burst_limit or UNLIMITED, BURST_WINDOW_S)
        self.search = RollingWindow(self.config.search_burst_limit or UNLIMITED, BURST_WINDOW_S)
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._accepted: dict[str, deque[float]] = defaultdict(deque)

    def reset_usage(self) -> None:
        with self._lock:
            self.usage = Usage()
            self.store.set_value("tokens_by_day", {})
            self.reset_windows()

    def apply_config(self) -> None:
        """Re-read limits after a config change (the windows restart empty)."""
        with self._lock:
            self.reset_windows()

    # -- budget ---------------------------------------------------------------
    @property
    def daily_limit(self) -> int:
        return self.config.daily_budget or UNLIMITED

    def tokens_by_day(self) -> dict[str, int]:
        return dict(self.store.get_value("tokens_by_day", {}))

    def tokens_today(self) -> int:
        return self.tokens_by_day().get(self.clock.day(), 0)

    def _charge(self, tokens: int) -> int:
        spent = self.tokens_by_day()
        day = self.clock.day()
        spent[day] = spent.get(day, 0) + tokens
        self.store.set_value("tokens_by_day", spent)
        return spent[day]

    # -- per request ----------------------------------------------------------
    def check(self, token: str, user_id: int, method: str, op: Operation | None) -> Verdict:
        cost = op.cost if op else 0
        now = time.time()
        with self._lock:
            self.usage.requests += 1
            self._note(self._seen[token], now, accepted=False)
            used = self.tokens_today()
            if used + cost > self.daily_limit:
                self.usage.refused["daily"] += 1
                headers = self._headers(self.burst.hit(token, 0), used, method, user_id)
                headers["retry-after"] = str(self.clock.seconds_to_midnight())
                return Verdict(headers, Response.json(DAILY_BODY, 429, headers))
            decision = self.search.hit(token) if op is not None and op.is_search else None
            if decision is not None and not decision.allowed:
                return self._burst_refusal("search", decision, token, used, method, user_id)
            general = self.burst.hit(token)
            if not general.allowed:
                return self._burst_refusal("burst", general, token, used, method, user_id)
            shown = decision if decision is not None and decision.remaining < general.remaining else general
            used = self._charge(cost) if cost else used
            self._note(self._accepted[token], now, accepted=True)
            if op is not None:
                stats = self.usage.by_operation[op.label]
                stats["count"] += 1
                stats["tokens"] += cost
            if method in WRITE_METHODS:
                self.usage.writes_by_user_day[f"{user_id}:{self.clock.day()}"] += 1
            return Verdict(self._headers(shown, used, method, user_id))

    def forced(self, token: str, user_id: int, method: str) -> Response:
        """A 429 forced by the fault switches, shaped like a burst refusal."""
        with self._lock:
            self.usage.refused["forced"] += 1
            headers = self._headers(self.burst.hit(token, 0), self.tokens_today(), method, user_id)
            headers["retry-after"] = "2"
            headers["x-ratelimit-remaining"] = "0"
            return Response.json(BURST_BODY, 429, headers)

    def _burst_refusal(self, kind: str, decision: Decision, token: str, used: int, method: str,
                       user_id: int) -> Verdict:
        self.usage.refused[kind] += 1
        headers = self._headers(decision, used, method, user_id)
        headers["retry-after"] = headers["x-ratelimit-reset"]
        return Verdict(headers, Response.json(BURST_BODY, 429, headers))

    def _note(self, seen: deque[float], now: float, accepted: bool) -> None:
        seen.append(now)
        while seen and seen[0] <= now - BURST_WINDOW_S:
            seen.popleft()
        if accepted:
            self.usage.max_accepted_in_window = max(self.usage.max_accepted_in_window, len(seen))
        else:
            self.usage.max_in_window = max(self.usage.max_in_window, len(seen))

    def _headers(self, decision: Decision, used: int, method: str, user_id: int) -> dict[str, str]:
        reset = max(1, math.ceil(decision.reset_at - time.time()))
        headers = {
            "x-ratelimit-limit": str(decision.limit),
            "x-ratelimit-remaining": str(decision.remaining),
            "x-ratelimit-reset": str(reset),
            "x-daily-ratelimit-token-limit": str(self.daily_limit),
            "x-daily-ratelimit-token-remaining": str(max(0, self.daily_limit - used)),
        }
        if method in WRITE_METHODS:
            writes = self.usage.writes_by_user_day[f"{user_id}:{self.clock.day()}"]
            headers["x-daily-requests-left"] = str(max(0, FAIR_USE_WRITES_PER_DAY - writes))
        return headers

    # -- reporting ------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        with self._lock:
            refused = dict(self.usage.refused)
            return {
                "day": self.clock.day(),
                "requests": self.usage.requests,
                "tokens_today": self.tokens_today(),
                "tokens_by_day": self.tokens_by_day(),
                "daily_budget": self.daily_limit,
                "burst_limit": self.config.burst_limit or UNLIMITED,
                "search_burst_limit": self.config.search_burst_limit or UNLIMITED,
                "plan": self.config.plan,
                "rate_limited": refused,
                "responses_429": sum(refused.values()),
                "max_requests_in_2s": self.usage.max_in_window,
                "max_accepted_requests_in_2s": self.usage.max_accepted_in_window,
                "by_operation": {k: dict(v) for k, v in sorted(self.usage.by_operation.items())},
            }
