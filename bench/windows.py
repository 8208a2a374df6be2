"""Achieved vs allowed request rate, measured by watching a sandbox's own request counter.

The ratio is the time the limit requires for the requests we made, divided by the time
they took: 1.0 means no request could have been sent sooner.

- Cliniko (200 per rolling minute): a client may burst, so a short window flatters or
  punishes depending on where it ends. The window therefore ends when the sandbox has
  seen 1 + k x 200 requests (the first request of the (k+1)-th minute): the limit
  requires exactly k x 60 s for that. If the client is slower than that (timeout), the
  ratio is its sustained rate over the limit's, (N - 1) / (rate x elapsed).
- Pipedrive (burst per rolling 2 s, searches at most 10 per 2 s): the window is long
  next to 2 s, so the sustained-rate form holds; the time the limit requires is the
  larger of what the general window and the search window need.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

POLL_S = 0.25


@dataclass
class Window:
    requests: int = 0  # N - 1: requests after the first one
    seconds: float = 0.0  # from the first request to the Nth
    samples: list[tuple[float, int]] = field(default_factory=list)

    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def watch(count: Callable[[], int], alive: Callable[[], bool], stop_at: int | None, timeout_s: float,
          on_sample: Callable[[float], Any] | None = None, skip: int = 0) -> Window:
    """Poll `count` until it reaches `stop_at`, `timeout_s` after the window opened, or the client exits.

    The window opens at the first request, or once `skip` requests are done (a target's schema
    writes, made one at a time, which a real migration makes beforehand in `setup`).
    """
    start_count = count()
    first: float | None = None
    opened_at = 1
    window = Window()
    while True:
        now, seen = time.monotonic(), count() - start_count
        window.samples.append((now, seen))
        if on_sample is not None:
            on_sample(now)
        if first is None and seen >= skip + 1:
            # from the first request (k x limit + 1 ends a window exactly), or from where setup's writes ended
            first, opened_at = now, (seen if skip else 1)
        if first is not None:
            window.requests, window.seconds = seen - opened_at, now - first
            if (stop_at is not None and seen >= stop_at) or now - first >= timeout_s:
                return window
        if not alive():
            return window
        time.sleep(POLL_S)


def cliniko_ratio(window: Window, per_minute: int) -> float | None:
    if window.seconds <= 0 or window.requests <= 0:
        return None
    full_minutes, rest = divmod(window.requests, per_minute)
    if rest == 0:  # ended on the first request of a new minute: the limit needs exactly this long
        return full_minutes * 60.0 / window.seconds
    return window.requests / (per_minute / 60.0 * window.seconds)


def pipedrive_ratio(requests: int, searches: int, seconds: float, burst: int, search_burst: int,
                    burst_window_s: float = 2.0) -> float | None:
    if seconds <= 0 or requests <= 0:
        return None
    needed = max(requests / (burst / burst_window_s), searches / (search_burst / burst_window_s))
    return needed / seconds
