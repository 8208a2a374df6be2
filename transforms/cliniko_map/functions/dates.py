"""Instants, dates and durations.

Cliniko serves instants in UTC (`...Z`); Pipedrive activities take a UTC `due_date` +
`due_time` (HH:MM) and a `duration` (HH:MM). Everything here works on aware datetimes,
so offsets and DST never shift a value: durations are elapsed time between instants, and
local times are only used for text people read.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_instant(value: Any) -> datetime | None:
    """ISO 8601 text (or a datetime) -> aware UTC datetime; naive text is read as UTC."""
    if value in (None, ""):
        return None
    if type(value) is str:
        return _parse_text(value)
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@lru_cache(maxsize=256)  # one record reads its start and end several times; bounded, the values are immutable
def _parse_text(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_date(value: Any) -> str | None:
    """A real calendar date as YYYY-MM-DD (2000-02-29 passes, 2001-02-29 does not), else None."""
    if value in (None, ""):
        return None
    text = str(value).strip()[:10]
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def utc_timestamp(value: Any) -> str | None:
    """An instant as `YYYY-MM-DDTHH:MM:SSZ` (what the contract's date_time accepts)."""
    moment = parse_instant(value)
    if not moment:
        return None
    if moment.year < 1000:  # strftime's %Y does not pad these
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"{moment.year}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def _appointment_time(value: Any) -> datetime | None:
    """An appointment's time must be readable when it is given: an activity silently without
    its date would be a wrong record, so unreadable text fails the record instead."""
    moment = parse_instant(value)
    if moment is None and value not in (None, ""):
        raise ValueError("the appointment time is not an ISO 8601 timestamp")
    return moment


def utc_due_date(starts_at: Any) -> str | None:
    """The UTC calendar date of an instant (Pipedrive's `due_date`)."""
    moment = _appointment_time(starts_at)
    return moment.date().isoformat() if moment else None


def utc_due_time(starts_at: Any) -> str | None:
    """The UTC wall time `HH:MM` of an instant (Pipedrive's `due_time`)."""
    moment = _appointment_time(starts_at)
    return f"{moment.hour:02d}:{moment.minute:02d}" if moment else None


def duration_hhmm(starts_at: Any, ends_at: Any) -> str | None:
    """Elapsed time between two instants as `HH:MM` (whole minutes, rounded down).

    Elapsed, not wall-clock: a 01:00-03:30 appointment across a DST change lasts 1:30 or
    3:30. None when either end is missing, the end is not after the start, or it would
    not fit Pipedrive's 99:59.
    """
    start, end = parse_instant(starts_at), parse_instant(ends_at)
    if not start or not end or end <= start:
        return None
    minutes = int((end - start).total_seconds() // 60)
    if minutes > 99 * 60 + 59:
        return None
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def zone(name: str | None) -> ZoneInfo | None:
    """IANA zone by name, None when unknown or missing."""
    if not name:
        return None
    if type(name) is str:
        return _zone(name)
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=64)  # a clinic has a handful of zones; bounded all the same
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_time_text(instant: Any, time_zone: str | None) -> str | None:
    """'Sun 07 Apr 2024 02:00 AEST (Australia/Sydney)': the clinic's wall time, for people.

    Without a known zone the UTC time is shown and labelled UTC.
    """
    moment = parse_instant(instant)
    if not moment:
        return None
    tz = zone(time_zone)
    if tz is None:
        return moment.strftime("%a %d %b %Y %H:%M UTC")
    local = moment.astimezone(tz)
    return f"{local.strftime('%a %d %b %Y %H:%M')} {local.tzname()} ({time_zone})"


def local_date(instant: Any, time_zone: str | None = None) -> str | None:
    """The calendar date of an instant in a zone (UTC when the zone is unknown)."""
    moment = parse_instant(instant)
    if not moment:
        return None
    tz = zone(time_zone)
    return (moment.astimezone(tz) if tz else moment).date().isoformat()


def is_past(instant: Any, now: Any) -> bool:
    """True when `instant` is at or before `now` (both instants)."""
    moment, reference = parse_instant(instant), parse_instant(now)
    return bool(moment and reference and moment <= reference)


def before_cutoff(instant: Any, cutoff: Any, *also: Any) -> bool:
    """True when a cutoff date is set and `instant` falls before its midnight UTC (and every `also` is
    truthy): the record goes into the patient's history file. No cutoff, or no readable instant: False,
    so a record is never moved out of view by a missing date."""
    moment, limit = parse_instant(instant), iso_date(cutoff)
    if moment is None or limit is None or not all(also):
        return False
    return moment < datetime.fromisoformat(limit).replace(tzinfo=UTC)
