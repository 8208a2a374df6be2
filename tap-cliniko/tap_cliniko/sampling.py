"""`sample_patients`: the first N patients (lowest ids) and only the records that belong to them.

The patient ids are chosen once per run with a request sorted by id, so a sample is the
same patients every time; a chosen patient that was merged into another brings the survivor
along (the map moves a merged patient's records to it). Ids that belong to them through
another resource (their invoices, the bookings they attend) are looked up on first use, so the result does not
depend on the order streams are synced in. Streams narrow the request server-side where
Cliniko filters by `patient_id` and drop non-members client-side everywhere. Reference
data (practitioners, businesses, products, ...) is kept whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tap_cliniko.rows import add_link_ids

if TYPE_CHECKING:
    from tap_cliniko.client import ClinikoStream

IDS_PER_FILTER = 100  # ids per `field:=a,b,c` filter, to keep URLs short

#: (resource, query filters, field to collect) -> values; the tap's paced, retried lister
IdLister = Callable[[str, list[str], str], list[str]]


def merged_into(rows: Iterable[dict[str, Any]], links: tuple[tuple[str, str], ...]) -> set[str]:
    """The patients these patient rows were merged into."""
    found = set()
    for row in rows:
        add_link_ids(row, links)
        if row.get("merged_with_patient_id"):
            found.add(str(row["merged_with_patient_id"]))
    return found


def id_filters(field: str, ids: Iterable[str]) -> list[list[str]]:
    ordered = sorted(ids, key=int)
    return [[f"{field}:={','.join(ordered[i:i + IDS_PER_FILTER])}"] for i in range(0, len(ordered), IDS_PER_FILTER)]


class SampleScope:
    def __init__(self, size: int | None, first_patients: Callable[[int], list[str]], lister: IdLister) -> None:
        self.size = size
        self._first_patients = first_patients
        self._list = lister
        self._patients: set[str] | None = None
        self._invoices: set[str] | None = None
        self._bookings: set[str] | None = None

    @property
    def active(self) -> bool:
        return bool(self.size)

    @property
    def patients(self) -> set[str]:
        if self._patients is None:
            self._patients = set(self._first_patients(int(self.size or 0)))
        return self._patients

    def _related(self, resource: str, field: str) -> set[str]:
        found: set[str] = set()
        for filters in id_filters("patient_id", self.patients):
            found.update(v for v in self._list(resource, filters, field) if v)
        return found

    @property
    def invoices(self) -> set[str]:
        if self._invoices is None:
            self._invoices = self._related("invoices", "id")
        return self._invoices

    @property
    def bookings(self) -> set[str]:
        if self._bookings is None:
            self._bookings = self._related("attendees", "booking_id")
        return self._bookings

    def server_filters(self, stream: ClinikoStream) -> list[str]:
        """A narrowing filter when the whole sample fits in one request."""
        if not self.active or not self.patients or len(self.patients) > IDS_PER_FILTER:
            return []
        if stream.name == "patients":
            return id_filters("id", self.patients)[0]
        if stream.sample_by == "patient":
            return id_filters("patient_id", self.patients)[0]
        return []

    def keep(self, stream: ClinikoStream, row: dict[str, Any]) -> bool:
        if not self.active:
            return True
        if stream.name == "patients":
            return str(row.get("id")) in self.patients
        rule = stream.sample_by
        if rule is None:
            return True
        if rule == "patient":
            return str(row.get("patient_id")) in self.patients
        if rule == "invoice":
            return str(row.get("invoice_id")) in self.invoices
        if rule == "booking":
            return str(row.get("id")) in self.bookings
        raise ValueError(f"unknown sample rule {rule!r}")
