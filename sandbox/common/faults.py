"""Fault switches: latency, server errors, dropped connections and forced 429s.

Set through `POST /_admin/faults` with any of the fields below; rates are
probabilities per API request, drawn from a seeded generator so a test run is
repeatable. `force_429` / `force_errors` / `force_drops` make the next N requests fail.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, fields


@dataclass
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    rate_429: float = 0.0
    force_429: int = 0
    force_errors: int = 0
    force_drops: int = 0
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def as_dict(self) -> dict[str, float | int]:
        # not dataclasses.asdict: it deep-copies every field, and the lock cannot be copied
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def update(self, values: dict[str, object]) -> None:
        known = {f.name: f.type for f in fields(self) if not f.name.startswith("_")}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in values.items():
                current = getattr(self, name)
                setattr(self, name, type(current)(value))  # type: ignore[arg-type]
            if "seed" in values:
                self._rng.seed(self.seed)

    def roll(self) -> str | None:
        """Sleep for the latency, then pick this request's fault: drop, error, 429 or none."""
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
        with self._lock:
            if self.force_drops > 0:
                self.force_drops -= 1
                return "drop"
            if self.force_errors > 0:
                self.force_errors -= 1
                return "error"
            if self.force_429 > 0:
                self.force_429 -= 1
                return "429"
            draw = self._rng.random()
            if draw < self.drop_rate:
                return "drop"
            draw -= self.drop_rate
            if draw < self.error_rate:
                return "error"
            draw -= self.error_rate
            if draw < self.rate_429:
                return "429"
        return None
