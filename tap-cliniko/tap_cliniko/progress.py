"""Progress on stderr for long runs: records per stream, rate and ETA.

Cliniko's `total_entries` on the first page gives the expected count, so the ETA is
real. Lines go through the tap's logger (stderr); stdout carries only Singer messages.
"""

from __future__ import annotations

import logging
import threading
import time


class Progress:
    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self.counts: dict[str, int] = {}
        self.expected: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self._last_log = time.monotonic()
        self._lock = threading.Lock()

    def expect(self, stream: str, total: int) -> None:
        with self._lock:
            self.expected.setdefault(stream, total)
            self.started.setdefault(stream, time.monotonic())

    def advance(self, stream: str, n: int = 1) -> None:
        with self._lock:
            self.counts[stream] = self.counts.get(stream, 0) + n
            self.started.setdefault(stream, time.monotonic())
            due = time.monotonic() - self._last_log >= self.every_s
            if due:
                self._last_log = time.monotonic()
        if due:
            self.logger.info("progress %s", self.line(stream))

    def line(self, stream: str) -> str:
        done = self.counts.get(stream, 0)
        elapsed = max(time.monotonic() - self.started.get(stream, time.monotonic()), 1e-6)
        rate = done / elapsed
        total = self.expected.get(stream)
        text = f"{stream}: {done} records, {rate:.1f}/s"
        if total:
            remaining = max(total - done, 0)
            eta = remaining / rate if rate > 0 else float("inf")
            text += f", {done}/{total}, ETA {eta:.0f}s" if eta != float("inf") else f", {done}/{total}"
        return text

    def finish(self, stream: str) -> None:
        if stream in self.counts or stream in self.expected:
            self.logger.info("done %s", self.line(stream))
