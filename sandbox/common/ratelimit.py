"""Rolling-window rate limits, as both APIs enforce them per key/token."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass


@dataclass
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the oldest counted unit leaves the window


class RollingWindow:
    """At most `limit` cost units per caller within any `window_s` seconds.

    A refused request is not counted, as with the real APIs.
    """

    def __init__(self, limit: int, window_s: float, clock=time.time) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._used: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def hit(self, key: str, cost: int = 1) -> Decision:
        now = self._clock()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0][0] <= now - self.window_s:
                _, c = hits.popleft()
                self._used[key] -= c
            used = self._used[key]
            reset_at = (hits[0][0] + self.window_s) if hits else now + self.window_s
            if self.limit > 0 and used + cost > self.limit:
                return Decision(False, self.limit, max(0, self.limit - used), reset_at)
            hits.append((now, cost))
            self._used[key] = used + cost
            if len(hits) == 1:
                reset_at = now + self.window_s
            return Decision(True, self.limit, max(0, self.limit - used - cost), reset_at)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._used.clear()
