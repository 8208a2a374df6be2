"""`sample_patients`: the first N patients (lowest ids) and only the records that belong to them.

The patient ids are chosen once per run with a single sorted request, so a sample is the
same patients every time. Streams narrow the request server-side where Cliniko can
filter by `patient_id` and drop non-members client-side everywhere, so membership also
holds for ids derived along the way (invoices → invoice items, attendees → group
appointments). Reference data (practitioners, businesses, products, ...) is kept whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tap_cliniko.client import ClinikoStream

MAX_IDS_IN_FILTER = 100  # longer id lists are filtered client-side only (URL length)


class SampleScope:
    def __init__(self, size: int | None, fetch_patient_ids: Callable[[int], list[str]]) -> None:
        self.size = size
        self._fetch = fetch_patient_ids
        self._patients: set[str] | None = None
        self.invoices: set[str] = set()
        self.bookings: set[str] = set()

    @property
    def active(self) -> bool:
        return bool(self.size)

    @property
    def patients(self) -> set[str]:
        if self._patients is None:
            self._patients = set(self._fetch(int(self.size or 0)))
        return self._patients

    def server_filters(self, stream: ClinikoStream) -> list[str]:
        if not self.active:
            return []
        if stream.name == "patients" and len(self.patients) <= MAX_IDS_IN_FILTER:
            return [f"id:={','.join(sorted(self.patients, key=int))}"] if self.patients else []
        if stream.sample_by == "patient" and len(self.patients) <= MAX_IDS_IN_FILTER and self.patients:
            return [f"patient_id:={','.join(sorted(self.patients, key=int))}"]
        return []

    def keep(self, stream: ClinikoStream, row: dict[str, Any]) -> bool:
        if not self.active:
            return True
        rule = "patient_self" if stream.name == "patients" else stream.sample_by
        if rule is None:
            return True
        if rule == "patient_self":
            return str(row.get("id")) in self.patients
        if rule == "patient":
            member = str(row.get("patient_id")) in self.patients
            if member and stream.name == "invoices":
                self.invoices.add(str(row["id"]))
            if member and stream.name == "attendees" and row.get("booking_id"):
                self.bookings.add(str(row["booking_id"]))
            return member
        if rule == "invoice":
            return str(row.get("invoice_id")) in self.invoices
        if rule == "booking":
            return str(row.get("id")) in self.bookings
        raise ValueError(f"unknown sample rule {rule!r}")
