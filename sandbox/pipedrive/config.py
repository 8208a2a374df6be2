"""Plan tiers and the emulator's runtime settings.

Numbers come from the research notes (§12): burst limits per API token in a rolling
2-second window, search endpoints capped at 10 per 2 s on every plan, daily token budget
= 30,000 x plan multiplier x seats. `UNLIMITED` stands in for "limits off" so headers stay
present and numeric either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_TOKEN = "sandbox-pipedrive-token"  # noqa: S105 - documented sandbox token, not a secret
BASE_DAILY_TOKENS = 30_000
SEARCH_BURST = 10
BURST_WINDOW_S = 2.0
UNLIMITED = 1_000_000_000
FAIR_USE_WRITES_PER_DAY = 10_000  # the 2019 POST/PUT fair-use counter behind x-daily-requests-left


@dataclass(frozen=True)
class Plan:
    name: str
    burst: int  # requests per 2 s per API token
    multiplier: int  # daily budget multiplier


PLANS: dict[str, Plan] = {
    "lite": Plan("lite", 20, 1),
    "growth": Plan("growth", 40, 2),
    "premium": Plan("premium", 100, 5),
    "ultimate": Plan("ultimate", 120, 7),
}


@dataclass
class Config:
    """Mutable settings; `POST /_admin/config` changes them at run time."""

    plan: str = "growth"
    seats: int = 1
    burst_limit: int = PLANS["growth"].burst
    search_burst_limit: int = SEARCH_BURST
    daily_budget: int = BASE_DAILY_TOKENS * PLANS["growth"].multiplier
    max_upload_bytes: int = 50 * 1024 * 1024
    deleted_get_status: int = 200  # GET of a soft-deleted v2 item: 200 with is_deleted, or 404

    @classmethod
    def for_plan(cls, plan: str, seats: int = 1, **overrides: Any) -> Config:
        tier = plan_named(plan)
        cfg = cls(plan=tier.name, seats=seats, burst_limit=tier.burst,
                  daily_budget=BASE_DAILY_TOKENS * tier.multiplier * seats)
        cfg.update({k: v for k, v in overrides.items() if v is not None})
        return cfg

    @classmethod
    def unlimited(cls) -> Config:
        return cls(plan="unlimited", burst_limit=UNLIMITED, search_burst_limit=UNLIMITED, daily_budget=UNLIMITED)

    def update(self, values: dict[str, Any]) -> None:
        """Apply changes (all or nothing); a new `plan` resets burst and budget to the tier unless also given."""
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(sorted(unknown))}")
        tier = plan_named(str(values["plan"])) if "plan" in values else None
        for key, value in values.items():
            if key != "plan" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{key} must be a non-negative integer")
        if values.get("deleted_get_status", 200) not in (200, 404):
            raise ValueError("deleted_get_status must be 200 or 404")
        if tier is not None:
            self.plan = tier.name
            self.burst_limit = tier.burst
            self.search_burst_limit = SEARCH_BURST
            self.daily_budget = BASE_DAILY_TOKENS * tier.multiplier * int(values.get("seats", self.seats))
        for key, value in values.items():
            if key != "plan":
                setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_named(name: str) -> Plan:
    try:
        return PLANS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}; choose one of {', '.join(PLANS)}") from None
