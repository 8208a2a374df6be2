"""Time formats: v2 speaks RFC 3339 (`2024-01-01T10:00:00Z`), v1 `YYYY-MM-DD HH:MM:SS` (UTC).

Stored timestamps use each object's own API format at second precision so that string
comparison in SQL orders them correctly.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_V1 = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")


class Clock:
    """Server clock; `offset_days` lets an admin start a new server day (budget reset)."""

    def __init__(self) -> None:
        self.offset_days = 0

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + timedelta(days=self.offset_days)

    def v2(self) -> str:
        return fmt_v2(self.now())

    def v1(self) -> str:
        return fmt_v1(self.now())

    def day(self) -> str:
        return self.now().date().isoformat()

    def seconds_to_midnight(self) -> int:
        now = datetime.now(UTC) + timedelta(days=self.offset_days)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        return max(1, int((midnight - now).total_seconds()) + 1)


def fmt_v2(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_v1(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(text: str, allow_fraction: bool = True) -> datetime | None:
    """Parse RFC 3339; None when malformed (or fractional seconds when not allowed)."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if not match or (match.group(3) and not allow_fraction):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(microsecond=0)
    except ValueError:
        return None


def parse_v1(text: str) -> datetime | None:
    if not isinstance(text, str) or not _V1.match(text):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def valid_date(text: object) -> bool:
    if not isinstance(text, str) or not _DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def normalize_time(text: object, max_hours: int = 23) -> str | None:
    """`HH:MM` or `HH:MM:SS` -> `HH:MM:SS`; None when invalid."""
    match = _TIME.match(text) if isinstance(text, str) else None
    if not match:
        return None
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hours > max_hours or minutes > 59 or seconds > 59:
        return None
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"
