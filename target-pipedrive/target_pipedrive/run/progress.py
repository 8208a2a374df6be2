"""Progress on stderr: records per stream and outcome, requests, tokens, rate and an ETA.

A Singer stream has no known length, so the ETA covers what the target can know: the
records waiting in the crosswalk (held back or deferred) and how long the remaining
daily token budget lasts at the current cost per record. Only counts are printed —
never record contents.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TextIO

OUTCOMES = ("created", "updated", "matched", "unchanged", "failed", "held", "deferred", "skipped", "rolled_up",
            "manual")


class Progress:
    def __init__(self, interval_s: float = 10.0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.out = stream or sys.stderr
        self._clock = clock
        self.started = clock()
        self._last_print = self.started
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
        self.requests = 0
        self.tokens = 0
        self.tokens_left: int | None = None
        # set by the owner: where the current usage and the number of waiting records come from
        self.usage: Callable[[], tuple[int, int, int | None]] | None = None
        self.waiting: Callable[[], int] = lambda: 0
        self._lock = threading.RLock()  # concurrent writers count here

    def count(self, stream: str, outcome: str, n: int = 1) -> None:
        with self._lock:
            self.counts[stream][outcome] += n
            self.maybe_print()

    @property
    def records(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    @property
    def written(self) -> int:
        return sum(c["created"] + c["updated"] + c["matched"] for c in self.counts.values())

    def line(self) -> str:
        if self.usage is not None:
            self.requests, self.tokens, self.tokens_left = self.usage()
        waiting = self.waiting()
        elapsed = max(self._clock() - self.started, 1e-6)
        rate = self.records / elapsed
        streams = "; ".join(
            f"{name} " + " ".join(f"{k}={v}" for k, v in c.items() if v) for name, c in sorted(self.counts.items()))
        parts = [f"[target-pipedrive] {self.records} records ({streams or 'none yet'})",
                 f"{self.requests} requests, {self.tokens} tokens", f"{rate:.1f} rec/s"]
        if waiting and rate > 0:
            parts.append(f"ETA {waiting / rate:.0f}s for {waiting} waiting")
        if self.tokens_left is not None and self.written:
            per_record = self.tokens / max(self.written, 1)
            if per_record > 0:
                parts.append(f"budget left ~{int(self.tokens_left / per_record)} writes")
        return " | ".join(parts)

    def maybe_print(self, force: bool = False) -> None:
        with self._lock:
            now = self._clock()
            if force or (self.interval_s > 0 and now - self._last_print >= self.interval_s):
                self._last_print = now
                print(self.line(), file=self.out, flush=True)
