"""Proactive pacing: Pipedrive's rolling 2-second burst window and the daily token budget.

Pacing before sending is cheaper than being refused: a 429 still costs a round trip and
Pipedrive escalates API-token traffic that ignores 429s to a Cloudflare block. The
response headers (`x-ratelimit-*`, `x-daily-ratelimit-token-remaining`) correct the local
view whenever the server knows better (other clients on the same token or company).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from target_pipedrive.errors import BudgetExhausted


def seconds_to_reset(timezone: str = "UTC", now: datetime | None = None) -> int:
    """Seconds until the server's next midnight, when Pipedrive resets the daily token budget."""
    now = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    day = now.date() + timedelta(days=1)
    midnight = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
    return max(1, int((midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds()))


def server_day(timezone: str = "UTC") -> str:
    """Today on the Pipedrive server's calendar: the key of a day's token spend."""
    return datetime.now(ZoneInfo(timezone)).date().isoformat()


@dataclass(frozen=True)
class Slot:
    """One request's place in the burst window, from before it is sent until after its answer."""

    number: int
    waited_s: float


class BurstPacer:
    """At most `limit` requests in any `window_s` as the server counts them.

    The server counts a request when it handles it: after we claim a slot, before its answer
    comes back, with our queues, the network and the server's own queue in between. So a request
    holds its slot while it is out and for `window_s` (+ a small margin) after its answer: however
    late the server counted it, it counted it inside the span the slot was held. (Held only from
    the send, a burst that queued on the way reached the server inside one window: 124 requests
    in 2 s against Ultimate's 120.)
    """

    POLL_S = 0.05  # every slot is out: look again this often

    def __init__(self, limit: int, window_s: float = 2.0, margin_s: float = 0.02,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.configured = max(1, limit)
        self.server_limit: int | None = None
        self.window_s = window_s
        self.margin_s = margin_s
        self._clock = clock
        self._sleep = sleep
        self._frees_at: dict[int, float] = {}  # slot -> when it frees (inf while its request is out)
        self._numbers = itertools.count()
        self._blocked_until = 0.0
        self._lock = threading.Lock()  # concurrent writers share one window

    @property
    def limit(self) -> int:
        return min(self.configured, self.server_limit or self.configured)

    def acquire(self) -> Slot:
        """Wait for a free slot and claim it; `release` it when the answer has come."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                for number in [n for n, at in self._frees_at.items() if at <= now]:
                    del self._frees_at[number]
                delay = max(self._blocked_until - now, 0.0)
                if len(self._frees_at) >= self.limit:  # the first to free is the earliest answered one
                    first = min(self._frees_at.values())
                    delay = max(delay, first - now if first < math.inf else self.POLL_S)
                if delay <= 0:
                    slot = Slot(next(self._numbers), waited)
                    self._frees_at[slot.number] = math.inf
                    return slot
            self._sleep(delay)  # outside the lock: the others wait on the same window, not on us
            waited += delay

    def release(self, slot: Slot) -> None:
        """The request's answer came (or it failed): its slot frees one window later."""
        with self._lock:
            self._frees_at[slot.number] = self._clock() + self.window_s + self.margin_s

    def observe(self, limit: str | None, remaining: str | None, reset: str | None) -> None:
        """Adopt the server's limit; when it says 0 left and our own slots do not explain it, hold off
        until its window resets.

        A full window is what pacing at the limit looks like, and while every slot is held the slots
        already wait exactly until the oldest request leaves the server's window. The reset header is
        whole seconds, at least 1, so obeying it then would idle for up to a second each time. Fewer
        slots held than the limit means someone else spends this token's window: then it is the only
        guide.
        """
        if limit and limit.isdigit() and int(limit) > 0:
            self.server_limit = int(limit)
        if remaining is not None and remaining.strip() == "0":
            with self._lock:
                now = self._clock()
                ours_fill_it = sum(at > now for at in self._frees_at.values()) >= self.limit
            if not ours_fill_it:
                self.block_for(_seconds(reset, default=self.window_s))

    def block_for(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))


class TokenBudget:
    """Tokens this target may still spend today: the configured cap and Pipedrive's own count.

    `spent` is persisted per server day (`timezone`: where Pipedrive's midnight is) through `save`,
    so that separate runs on one day share the configured cap.
    """

    def __init__(self, daily_limit: int, reserve: int = 0, spent: int = 0,
                 save: Callable[[str, int], None] | None = None, timezone: str = "UTC") -> None:
        self.timezone = timezone
        self.daily_limit = daily_limit
        self.reserve = reserve
        self.spent = spent
        self.spent_this_run = 0
        self.server_remaining: int | None = None
        self._save = save
        self._saved_at = 0.0
        self._day = server_day(timezone)
        self._lock = threading.RLock()

    def check(self, cost: int) -> None:
        """Raise BudgetExhausted when sending an operation of `cost` tokens would overspend."""
        with self._lock:
            self._check(cost)

    def _check(self, cost: int) -> None:
        day = server_day(self.timezone)
        if day != self._day:  # a new server day: our own cap starts again
            self._day, self.spent = day, 0
        if self.spent + cost > self.daily_limit:
            raise BudgetExhausted(
                f"the configured daily_token_budget ({self.daily_limit} tokens) is spent for {self._day} "
                f"({self.timezone})", retry_after_s=seconds_to_reset(self.timezone))
        if self.server_remaining is not None and self.server_remaining - cost < self.reserve:
            raise BudgetExhausted(
                f"Pipedrive reports {self.server_remaining} daily tokens left (reserve {self.reserve})",
                retry_after_s=seconds_to_reset(self.timezone))

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
