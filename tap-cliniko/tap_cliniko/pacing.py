"""Proactive pacing under Cliniko's per-user request limit (200 requests/minute).

A rolling window, not a token bucket: Cliniko counts requests in any 60-second window,
so waiting for the oldest request to leave the window is exactly as fast as allowed.
Shared by every stream of one tap run (the limit is per user, not per endpoint) and safe
to use from several threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter

WINDOW_S = 60.0
# Cliniko timestamps a request when it arrives, later than we send it by a varying
# latency; a request sent exactly 60 s after the first of a window can land inside it.
SAFETY_S = 1.0


class RequestPacer:
    def __init__(self, max_per_minute: int, window_s: float = WINDOW_S + SAFETY_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.max_per_window = max(0, int(max_per_minute))
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0
        self.requests = 0

    def acquire(self) -> None:
        """Block until one more request fits in the window, then count it (any thread)."""
        while True:
            with self._lock:
                if self.max_per_window == 0:
                    self.requests += 1
                    return
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window_s:
                    self._sent.popleft()
                if len(self._sent) < self.max_per_window:
                    self._sent.append(now)
                    self.requests += 1
                    return
                wait = self._sent[0] + self.window_s - now
                self.waited_s += wait  # per waiting thread: time spent waiting, not wall time
            self._sleep(wait)

    def pause_until(self, epoch_s: float) -> None:
        """After a 429: hold every caller until Cliniko's announced reset time.

        The lock is held while sleeping on purpose: other threads' `acquire` waits behind it.
        """
        with self._lock:
            wait = epoch_s - time.time()  # measured under the lock: a second 429 does not add its wait on top
            if wait > 0:
                self.waited_s += wait
                self._sleep(wait)


class PacedAdapter(HTTPAdapter):
    """requests' transport with the pacer in front: a session it is mounted on cannot send past the limit."""

    def __init__(self, pacer: RequestPacer) -> None:
        super().__init__()
        self.pacer = pacer

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.pacer.acquire()
        return super().send(request, *args, **kwargs)
