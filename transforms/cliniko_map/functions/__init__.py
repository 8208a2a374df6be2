"""The pure translation functions the map names (no I/O; every one unit-tested).

`FUNCTIONS` is the registry: the only names a map's `fn:` may use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cliniko_map.functions import (
    appointments,
    billing,
    comms,
    contact,
    dates,
    files,
    history,
    html,
    notes,
    patient_fields,
    people,
    products,
    text,
    workflow,
)

_EXPORTED: dict[Any, tuple[str, ...]] = {
    text: ("clean", "person_name", "join_lines", "is_set", "first_of", "omit_if", "kept_if", "prefixed"),
    contact: ("emails", "phones", "postal_address", "address_text", "is_valid_email"),
    dates: ("iso_date", "utc_timestamp", "utc_due_date", "utc_due_time", "duration_hhmm", "local_time_text",
            "local_date", "is_past", "before_cutoff"),
    appointments: ("appointment_status", "status_done", "status_label", "appointment_subject", "status_text",
                   "is_busy", "appointment_note"),
    people: ("owner_email", "practitioner_label", "record_status", "skip_by_policy", "skip_when", "skip_unless",
             "parent_skipped", "surviving_patient", "lookup_name", "migrated_row"),
    notes: ("treatment_note_html", "patient_notes_html", "medical_alert_html", "patient_case_html", "question_html",
            "booked_notes_html"),
    patient_fields: ("cf_choices", "cf_choice", "cf_value", "cf_other_text", "cf_options"),
    billing: ("invoice_summary",),
    products: ("clinic_currency", "prices", "product_description", "labelled", "not_archived", "hex_color",
               "activity_icon", "duration_unit", "type_billable_items", "billable_item_ids", "type_prices",
               "type_billable_items_text"),
    files: ("safe_file_name",),
    comms: ("communications_csv",),
    history: ("history_csv", "html_plain"),
    workflow: ("workflow_reference",),
    html: ("sanitize_html", "text_html"),
}

FUNCTIONS: dict[str, Callable[..., Any]] = {name: getattr(module, name)
                                            for module, names in _EXPORTED.items() for name in names}
