"""Shared state of one generation run: seeded random streams, the clock and id allocation.

Every random stream is seeded from (seed, purpose) so a change in one part of the
generator does not reshuffle the others, and all timestamps derive from a fixed epoch
picked by the seed, never from the wall clock, so counts and values are stable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sandbox.generator import records
from sandbox.generator.sizes import Size

_KIND_INDEX = {name: i for i, name in enumerate(records.RESOURCES)}
_SPAN = 2**52
_MULT = 0x9E3779B97F4A7C15  # odd, so seq -> (seq * _MULT) mod 2**52 is a bijection


def make_id(kind: str, seq: int, salt: int) -> int:
    """An 18-digit, 64-bit-looking id, unique per (kind, seq), not ordered by creation."""
    return 10**17 + _KIND_INDEX[kind] * _SPAN + ((seq + salt) * _MULT) % _SPAN


def iso(moment: datetime) -> str:
    """Cliniko's timestamp format: UTC, second precision, `Z`."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    m = moment
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"


def epoch_for(seed: int) -> datetime:
    """The generated clinic's "now": a fixed day in the second half of 2024 chosen by the seed."""
    return datetime(2024, 7, 1, 3, 0, 0, tzinfo=UTC) + timedelta(days=seed % 180, seconds=(seed * 7919) % 86400)


@dataclass
class Context:
    seed: int
    size: Size
    epoch: datetime = field(init=False)
    counters: dict[str, int] = field(default_factory=dict)
    edge_cases: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.epoch = epoch_for(self.seed)
        self.salt = (self.seed * 2654435761) % _SPAN

    def rng(self, purpose: str) -> random.Random:
        return random.Random(f"{self.seed}:{purpose}")

    def new_id(self, kind: str) -> int:
        seq = self.counters.get(kind, 0) + 1
        self.counters[kind] = seq
        return make_id(kind, seq, self.salt)

    def mark(self, key: str, kind: str, row_id: int) -> None:
        """Remember where an edge case lives, for tests (`GET /_admin/edge_cases`)."""
        self.edge_cases[key] = {"resource": kind, "id": str(row_id)}

    def ago(self, rng: random.Random, min_days: float, max_days: float) -> datetime:
        """A second-precision moment between max_days and min_days before the epoch."""
        seconds = rng.uniform(min_days * 86400, max_days * 86400)
        return (self.epoch - timedelta(seconds=seconds)).replace(microsecond=0)
