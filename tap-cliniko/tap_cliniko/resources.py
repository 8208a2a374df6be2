"""Cliniko's resources as this project reads them: the one list the tap, the map and the sandbox share.

Pure data, no singer-sdk import, so the map and the sandbox can read it without the tap's machinery.
The order is the tap's sync order: what a loader needs first comes first (settings and people before
the records that point at them, group appointments before their attendees, invoices before their
items), so a migration target rarely has to hold a child back. One exception on purpose: an
appointment type's billable-item rows (its price) come just before the types, so a type is priced
from all of them when it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClinikoResource:
    name: str  # the stream, its endpoint /v1/<name> and the list envelope's key
    singular: str  # in source keys: cliniko:<singular>:<id>
    component: str  # its schema in Cliniko's OpenAPI file (tap-cliniko/scripts/build_schemas.py)
    parents: tuple[str, ...] = ()  # the resources a row belongs to (it is migrated with them)
    #: how `sample_patients` decides a row belongs to the sample: "patient" (patient_id), "invoice"
    #: (invoice_id), "booking" (its own id, a group appointment), or None = reference data, kept whole
    sample_by: str | None = None


RESOURCES: tuple[ClinikoResource, ...] = (
    ClinikoResource("settings", "settings", "Settings"),
    ClinikoResource("users", "user", "User"),
    ClinikoResource("practitioners", "practitioner", "Practitioner", parents=("users",)),
    ClinikoResource("businesses", "business", "Business"),
    ClinikoResource("appointment_type_billable_items", "appointment_type_billable_item",
                    "AppointmentTypeBillableItem", parents=("appointment_types",)),
    ClinikoResource("appointment_types", "appointment_type", "AppointmentType"),
    ClinikoResource("billable_items", "billable_item", "BillableItem"),
    ClinikoResource("products", "product", "Product"),
    ClinikoResource("contacts", "contact", "Contact"),
    ClinikoResource("patients", "patient", "Patient"),  # sampled by its own id (sampling.py)
    ClinikoResource("patient_cases", "patient_case", "PatientCase", parents=("patients",), sample_by="patient"),
    ClinikoResource("medical_alerts", "medical_alert", "MedicalAlert", parents=("patients",), sample_by="patient"),
    ClinikoResource("group_appointments", "group_appointment", "GroupAppointment", sample_by="booking"),
    ClinikoResource("individual_appointments", "individual_appointment", "IndividualAppointment",
                    parents=("patients",), sample_by="patient"),
    ClinikoResource("attendees", "attendee", "Attendee", parents=("group_appointments", "patients"),
                    sample_by="patient"),
    ClinikoResource("treatment_notes", "treatment_note", "TreatmentNote", parents=("patients",),
                    sample_by="patient"),
    ClinikoResource("invoices", "invoice", "Invoice", parents=("patients",), sample_by="patient"),
    ClinikoResource("invoice_items", "invoice_item", "InvoiceItem", parents=("invoices",), sample_by="invoice"),
    ClinikoResource("patient_attachments", "patient_attachment", "PatientAttachment", parents=("patients",),
                    sample_by="patient"),
    ClinikoResource("communications", "communication", "Communication", parents=("patients",),
                    sample_by="patient"),
)

BY_NAME: dict[str, ClinikoResource] = {r.name: r for r in RESOURCES}
SYNC_ORDER: tuple[str, ...] = tuple(r.name for r in RESOURCES)
