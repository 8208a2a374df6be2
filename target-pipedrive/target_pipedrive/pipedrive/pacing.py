"""Proactive pacing: Pipedrive's rolling 2-second burst window and the daily token budget.

Pacing before sending is cheaper than being refused: a 429 still costs a round trip and
Pipedrive escalates API-token traffic that ignores 429s to a Cloudflare block. The
response headers (`x-ratelimit-*`, `x-daily-ratelimit-token-remaining`) correct the local
view whenever the server knows better (other clients on the same token or company).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from target_pipedrive.errors import BudgetExhausted


def seconds_to_utc_midnight(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((midnight - now).total_seconds()))


def utc_day() -> str:
    return datetime.now(UTC).date().isoformat()


class BurstPacer:
    """At most `limit - 1` sends per `window_s` (+ margin) as seen from this process.

    One slot of headroom and a small margin absorb the difference between when we send
    and when the server counts the request.
    """

    def __init__(self, limit: int, window_s: float = 2.0, margin_s: float = 0.08,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.configured = max(1, limit)
        self.server_limit: int | None = None
        self.window_s = window_s
        self.margin_s = margin_s
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()  # concurrent writers share one window

    @property
    def limit(self) -> int:
        limit = min(self.configured, self.server_limit or self.configured)
        return max(1, limit - 1) if limit > 2 else 1

    def acquire(self) -> float:
        """Wait for a free slot, claim it, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                span = self.window_s + self.margin_s
                while self._sent and self._sent[0] <= now - span:
                    self._sent.popleft()
                delay = max(self._blocked_until - now, 0.0)
                if len(self._sent) >= self.limit:
                    delay = max(delay, self._sent[0] + span - now)
                if delay <= 0:
                    self._sent.append(now)
                    return waited
            self._sleep(delay)  # outside the lock: the others wait on the same window, not on us
            waited += delay

    def observe(self, limit: str | None, remaining: str | None, reset: str | None) -> None:
        """Adopt the server's limit; when it says 0 left, hold off until its window resets."""
        if limit and limit.isdigit() and int(limit) > 0:
            self.server_limit = int(limit)
        if remaining is not None and remaining.strip() == "0":
            self.block_for(_seconds(reset, default=self.window_s))

    def block_for(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))


class TokenBudget:
    """Tokens this target may still spend today: the configured cap and Pipedrive's own count.

    `spent` is persisted per UTC day through `save` so that separate runs on one day share
    the configured cap.
    """

    def __init__(self, daily_limit: int, reserve: int = 0, spent: int = 0,
                 save: Callable[[str, int], None] | None = None) -> None:
        self.daily_limit = daily_limit
        self.reserve = reserve
        self.spent = spent
        self.spent_this_run = 0
        self.server_remaining: int | None = None
        self._save = save
        self._saved_at = 0.0
        self._day = utc_day()
        self._lock = threading.RLock()

    def check(self, cost: int) -> None:
        """Raise BudgetExhausted when sending an operation of `cost` tokens would overspend."""
        with self._lock:
            self._check(cost)

    def _check(self, cost: int) -> None:
        day = utc_day()
        if day != self._day:  # a new UTC day: our own cap starts again
            self._day, self.spent = day, 0
        if self.spent + cost > self.daily_limit:
            raise BudgetExhausted(
                f"the configured daily_token_budget ({self.daily_limit} tokens) is spent for {self._day} (UTC)",
                retry_after_s=seconds_to_utc_midnight())
        if self.server_remaining is not None and self.server_remaining - cost < self.reserve:
            raise BudgetExhausted(
                f"Pipedrive reports {self.server_remaining} daily tokens left (reserve {self.reserve})",
                retry_after_s=seconds_to_utc_midnight())

    def charge(self, cost: int) -> None:
        if cost <= 0:
            return
        with self._lock:
            self.spent += cost
            self.spent_this_run += cost
            if self.server_remaining is not None:
                self.server_remaining = max(0, self.server_remaining - cost)
            due = time.monotonic() - self._saved_at >= 1.0  # a commit per request would slow every write
            if due:
                self._saved_at = time.monotonic()
        if due:
            self.flush()

    def flush(self) -> None:
        """Persist today's spend (at most once a second during a run, and at the end)."""
        if self._save is not None:
            with self._lock:
                day, spent = self._day, self.spent
                self._saved_at = time.monotonic()
            self._save(day, spent)

    def observe(self, remaining: str | None) -> None:
        if remaining is not None and remaining.strip().isdigit():
            self.server_remaining = int(remaining)


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
