"""Appointment times: UTC due date/time and elapsed duration, correct across zones and DST.

Expected values are worked out by hand from the offsets in force (AEDT +11 -> AEST +10 on
2024-04-07 03:00 local; NZDT +13 -> NZST +12 on 2024-04-07 03:00; EST -5 -> EDT -4 on
2024-03-10 02:00; and the spring changes of 2023), not with the functions under test.
"""

from __future__ import annotations

import pytest

from cliniko_map.functions.appointments import (
    appointment_note,
    appointment_status,
    appointment_subject,
    is_busy,
    status_done,
    status_text,
)
from cliniko_map.functions.dates import (
    duration_hhmm,
    iso_date,
    local_date,
    local_time_text,
    utc_due_date,
    utc_due_time,
    utc_timestamp,
)
from cliniko_map.policies import POLICIES

STATUSES = POLICIES["appointment_statuses"].default


@pytest.mark.parametrize(("starts", "ends", "zone", "due", "duration", "local"), [
    # Sydney, DST ends: 01:00 AEDT .. 02:30 AEST is 2.5 h elapsed (the 02:00-03:00 hour happens twice)
    ("2024-04-06T14:00:00Z", "2024-04-06T16:30:00Z", "Australia/Sydney", ("2024-04-06", "14:00"), "02:30",
     "Sun 07 Apr 2024 01:00 AEDT (Australia/Sydney)"),
    # Sydney, DST starts: 02:00 AEST jumps to 03:00 AEDT
    ("2023-09-30T15:00:00Z", "2023-09-30T17:30:00Z", "Australia/Sydney", ("2023-09-30", "15:00"), "02:30",
     "Sun 01 Oct 2023 01:00 AEST (Australia/Sydney)"),
    # Auckland, DST ends
    ("2024-04-06T12:00:00Z", "2024-04-06T14:30:00Z", "Pacific/Auckland", ("2024-04-06", "12:00"), "02:30",
     "Sun 07 Apr 2024 01:00 NZDT (Pacific/Auckland)"),
    # Auckland, DST starts
    ("2023-09-23T13:00:00Z", "2023-09-23T15:30:00Z", "Pacific/Auckland", ("2023-09-23", "13:00"), "02:30",
     "Sun 24 Sep 2023 01:00 NZST (Pacific/Auckland)"),
    # New York, DST starts (01:00 EST; 02:00 does not exist)
    ("2024-03-10T06:00:00Z", "2024-03-10T08:30:00Z", "America/New_York", ("2024-03-10", "06:00"), "02:30",
     "Sun 10 Mar 2024 01:00 EST (America/New_York)"),
    # New York, DST ends
    ("2023-11-05T05:00:00Z", "2023-11-05T07:30:00Z", "America/New_York", ("2023-11-05", "05:00"), "02:30",
     "Sun 05 Nov 2023 01:00 EDT (America/New_York)"),
    # an evening appointment in Sydney is the previous day in UTC
    ("2020-08-27T21:00:00Z", "2020-08-27T22:00:00Z", "Australia/Sydney", ("2020-08-27", "21:00"), "01:00",
     "Fri 28 Aug 2020 07:00 AEST (Australia/Sydney)"),
])
def test_due_time_duration_and_local_time(starts: str, ends: str, zone: str, due: tuple[str, str], duration: str,
                                          local: str) -> None:
    assert (utc_due_date(starts), utc_due_time(starts)) == due
    assert duration_hhmm(starts, ends) == duration
    assert local_time_text(starts, zone) == local


def test_offsets_are_converted_to_utc() -> None:
    assert utc_due_date("2024-04-07T01:00:00+11:00") == "2024-04-06"
    assert utc_due_time("2024-04-07T01:00:00+11:00") == "14:00"
    assert utc_due_time("2024-03-09T20:00:00-05:00") == "01:00"
    assert utc_due_date("2024-03-09T20:00:00-05:00") == "2024-03-10"
    assert utc_timestamp("2024-04-07T01:00:00.250+11:00") == "2024-04-06T14:00:00Z"
    assert utc_due_time("2024-01-01 09:30:00") == "09:30"  # naive text is UTC


@pytest.mark.parametrize(("starts", "ends", "expected"), [
    ("2024-01-01T09:00:00Z", "2024-01-01T09:44:59Z", "00:44"),  # whole minutes, rounded down
    ("2024-01-01T09:00:00Z", "2024-01-02T10:15:00Z", "25:15"),
    ("2024-01-01T09:00:00Z", "2024-01-01T09:00:00Z", None),
    ("2024-01-01T09:00:00Z", "2024-01-01T08:00:00Z", None),
    ("2024-01-01T09:00:00Z", None, None),
    ("2024-01-01T00:00:00Z", "2024-01-06T00:00:00Z", None),  # 120 h does not fit 99:59
    ("not a time", "2024-01-01T00:00:00Z", None),
])
def test_duration_edges(starts: str, ends: str | None, expected: str | None) -> None:
    assert duration_hhmm(starts, ends) == expected


def test_dates() -> None:
    assert iso_date("2000-02-29") == "2000-02-29"
    assert iso_date("2001-02-29") is None
    assert iso_date("14/03/1980") is None
    assert iso_date(None) is None
    assert local_date("2024-04-06T14:00:00Z", "Australia/Sydney") == "2024-04-07"
    assert local_date("2024-04-06T14:00:00Z", "Nowhere/Unknown") == "2024-04-06"
    assert local_time_text("2024-04-06T14:00:00Z", None) == "Sat 06 Apr 2024 14:00 UTC"


NOW = "2024-08-12T00:00:00Z"


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"cancelled_at": "2024-04-07T11:03:37Z", "did_not_arrive": True, "ends_at": "2024-04-10T04:15:00Z"}, "cancelled"),
    ({"did_not_arrive": True, "ends_at": "2021-07-20T00:45:00Z"}, "did_not_arrive"),
    ({"arrived": True, "ends_at": "2024-02-10T20:30:00Z"}, "attended"),
    ({"arrived": False, "ends_at": "2024-02-10T20:30:00Z"}, "attended"),  # past and not marked: it happened
    ({"arrived": False, "ends_at": "2024-09-01T10:00:00Z"}, "future"),
    ({"arrived": False, "ends_at": NOW}, "attended"),
])
def test_appointment_status(kwargs: dict[str, object], status: str) -> None:
    assert appointment_status(**kwargs, now=NOW) == status


@pytest.mark.parametrize(("status", "subject", "done", "busy", "text"), [
    ("attended", "Standard Consultation", True, True, "Status: Attended"),
    ("future", "Standard Consultation", False, True, "Status: Booked"),
    ("did_not_arrive", "Standard Consultation (Did not arrive)", True, True, "Status: Did not arrive"),
    ("cancelled", "Standard Consultation (Cancelled)", True, False, "Status: Cancelled - Sick: feeling unwell"),
])
def test_status_shows_on_the_activity(status: str, subject: str, done: bool, busy: bool, text: str) -> None:
    assert appointment_subject("Standard Consultation", status, STATUSES) == subject
    assert status_done(status, STATUSES) is done
    assert is_busy(status) is busy
    assert status_text(status, STATUSES, "Sick", "feeling unwell") == text


def test_subject_without_type_and_note_html() -> None:
    assert appointment_subject(None, "future", STATUSES) == "Appointment"
    note = appointment_note("Status: Cancelled", "Sun 07 Apr 2024 01:00 AEDT (Australia/Sydney)", "Noah <Taylor>",
                            "Harbour & Co", "Bring <shoes>\nand towel", None, None)
    assert note == ("<p><b>Status:</b> Cancelled<br><b>Clinic time:</b> Sun 07 Apr 2024 01:00 AEDT "
                    "(Australia/Sydney)<br><b>Practitioner:</b> Noah &lt;Taylor&gt;<br><b>Location:</b> Harbour &amp; "
                    "Co</p><p><b>Appointment notes:</b><br>Bring &lt;shoes&gt;<br>and towel</p>")
    assert appointment_note() == "<p>Appointment</p>"


def test_an_unreadable_appointment_time_fails_the_record_instead_of_an_undated_activity() -> None:
    for garbage in ("soon", "31/02/2024 09:00", "2024-02-31T09:00:00Z"):
        with pytest.raises(ValueError):
            utc_due_date(garbage)
        with pytest.raises(ValueError):
            utc_due_time(garbage)
    assert utc_due_date(None) is None and utc_due_time("") is None  # absent is not unreadable
