"""Clinic size profiles: how many of each thing a generated clinic holds (approximately)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    patients: int
    practitioners: int  # active ones; one inactive practitioner is always added
    contacts: int
    appointments_per_patient: float  # individual appointments, mean
    group_appointments: int
    note_ratio: float  # treatment notes per individual appointment
    invoice_ratio: float  # invoices per individual appointment
    attachment_ratio: float  # attachments per patient (edge-case files come on top)


SIZES: dict[str, Size] = {
    s.name: s for s in (
        Size("small", patients=50, practitioners=4, contacts=10, appointments_per_patient=6.0,
             group_appointments=10, note_ratio=0.4, invoice_ratio=0.3, attachment_ratio=0.1),
        Size("standard", patients=2000, practitioners=12, contacts=60, appointments_per_patient=10.0,
             group_appointments=300, note_ratio=0.4, invoice_ratio=0.3, attachment_ratio=0.14),
        Size("large", patients=20000, practitioners=40, contacts=300, appointments_per_patient=10.0,
             group_appointments=3000, note_ratio=0.4, invoice_ratio=0.3, attachment_ratio=0.148),
    )
}


def get(name: str) -> Size:
    """The profile called `name`; ValueError listing the valid names otherwise."""
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown clinic size {name!r}; choose one of {', '.join(SIZES)}") from None
