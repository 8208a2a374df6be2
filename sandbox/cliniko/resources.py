"""The resource registry: what each Cliniko list endpoint serves, filters on and links to.

Everything the HTTP layer needs to know about a resource is data here, taken from the
official OpenAPI file (each list operation's `q[]` description and each schema's link
objects), so the routes, the filter parser and the renderer stay generic.

Storage convention: a record's `body` holds its plain fields; relation ids live in `meta`
(integers, e.g. `patient_id`) and link objects are built from them at serve time on the
host the client used. Filter fields named `id` read the row id, fields ending in `_id`
read `meta`, everything else reads `body`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tap_cliniko.resources import RESOURCES as CLINIKO_RESOURCES

DATETIME = "datetime"
DATE = "date"
INT64 = "int64"
INTEGER = "integer"
STRING = "string"
BOOLEAN = "boolean"
ARRAY = "array"

SOFT_FIELDS = ("archived_at", "cancelled_at", "deleted_at")


def _q(field_name: str) -> str:
    """A to-many link as Cliniko writes it: a filtered collection, `q[]` percent-encoded."""
    return f"?q%5B%5D={field_name}%3A%3D{{id}}"


@dataclass(frozen=True)
class Link:
    """A relation rendered as `{"links": {"self": <absolute url>}}`.

    `template` is relative to `/v1` and formatted with the row id and its meta; when a
    placeholder is missing the key is omitted (`nullable=False`) or set to null.
    """

    name: str
    template: str
    nullable: bool = False


@dataclass(frozen=True)
class Resource:
    name: str
    filters: dict[str, str]
    links: tuple[Link, ...] = ()
    soft: tuple[str, ...] = field(default=())
    #: Cliniko really deletes these rows (`DELETE` on a join row); others are archived or soft-deleted
    hard_delete: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "soft", tuple(f for f in SOFT_FIELDS if f in self.filters))

    @property
    def relation_keys(self) -> frozenset[str]:
        """Meta keys a record of this resource may carry (relation ids and link flags)."""
        keys = {f for f in self.filters if f.endswith("_id") and f != "id"}
        for link in self.links:
            keys.update(p for p in _placeholders(link.template) if p != "id")
        return frozenset(keys)


def _placeholders(template: str) -> list[str]:
    out, i = [], 0
    while (start := template.find("{", i)) >= 0:
        end = template.index("}", start)
        out.append(template[start + 1:end])
        i = end + 1
    return out


_TS = {"created_at": DATETIME, "updated_at": DATETIME, "id": INT64}

_DEFINED: dict[str, Resource] = {r.name: r for r in [
    Resource("patients", {
        **_TS, "accepted_privacy_policy": BOOLEAN, "archived_at": DATETIME, "date_of_birth": DATE,
        "email": STRING, "first_name": STRING, "last_name": STRING, "old_reference_id": STRING,
        "preferred_first_name": STRING,
        # Not in the spec's list filters, but patients carry deleted_at; accepted like elsewhere.
        "deleted_at": DATETIME,
    }, (
        Link("appointments", "/patients/{id}/appointments"),
        Link("attendees", "/attendees" + _q("patient_id")),
        Link("concession_type", "/concession_types/{concession_type_id}"),
        Link("invoices", "/patients/{id}/invoices"),
        Link("latest_booking", "/bookings/{latest_booking_id}"),
        Link("medical_alerts", "/patients/{id}/medical_alerts"),
        Link("merged_with_patient", "/patients/{merged_with_patient_id}"),
        Link("patient_attachments", "/patients/{id}/patient_attachments"),
        Link("referring_doctor", "/contacts/{referring_doctor_id}"),
        Link("relationships", "/relationships" + _q("patient_id")),
    )),
    Resource("practitioners", {
        **_TS, "active": BOOLEAN, "show_in_online_bookings": BOOLEAN, "user_id": INT64,
    }, (
        Link("appointment_types", "/practitioners/{id}/appointment_types"),
        Link("appointments", "/practitioners/{id}/appointments"),
        Link("default_appointment_type", "/appointment_types/{default_appointment_type_id}"),
        Link("invoices", "/practitioners/{id}/invoices"),
        Link("practitioner_reference_numbers", "/practitioners/{id}/practitioner_reference_numbers"),
        Link("user", "/users/{user_id}"),
    )),
    Resource("users", dict(_TS)),
    Resource("businesses", {
        **_TS, "appointment_type_ids": ARRAY, "archived_at": DATETIME, "deleted_at": DATETIME,
        "show_in_online_bookings": BOOLEAN,
    }, (
        Link("appointments", "/businesses/{id}/appointments"),
        Link("practitioners", "/businesses/{id}/practitioners"),
    )),
    Resource("appointment_types", {
        **_TS, "appointment_confirmation_template_ids": ARRAY, "appointment_follow_up_template_ids": ARRAY,
        "appointment_reminder_template_ids": ARRAY, "archived_at": DATETIME, "category": STRING,
        "online_payments_mode": STRING, "show_in_online_bookings": BOOLEAN,
    }, (
        Link("appointment_type_billable_items", "/appointment_type_billable_items" + _q("appointment_type_id")),
        Link("appointment_type_products", "/appointment_type_products" + _q("appointment_type_id")),
        Link("billable_item", "/billable_items/{billable_item_id}"),
        Link("practitioners", "/appointment_types/{id}/practitioners"),
        Link("product", "/products/{product_id}"),
        Link("treatment_note_template", "/treatment_note_templates/{treatment_note_template_id}"),
    )),
    # The current relation of an appointment type to its billable items (the type's own `billable_item`
    # link is deprecated in its favour); rows are truly deleted, so they have no soft-delete fields.
    Resource("appointment_type_billable_items", {
        **_TS, "appointment_type_id": INT64, "billable_item_id": INT64,
    }, (
        Link("appointment_type", "/appointment_types/{appointment_type_id}"),
        Link("billable_item", "/billable_items/{billable_item_id}"),
    ), hard_delete=True),
    Resource("individual_appointments", {
        **_TS, "appointment_type_id": INT64, "archived_at": DATETIME, "business_id": INT64,
        "cancelled_at": DATETIME, "deleted_at": DATETIME, "did_not_arrive": BOOLEAN, "ends_at": DATETIME,
        "patient_id": INT64, "practitioner_id": INT64, "repeated_from_id": INT64, "starts_at": DATETIME,
    }, (
        Link("appointment_type", "/appointment_types/{appointment_type_id}"),
        Link("attendees", "/individual_appointments/{id}/attendees"),
        Link("business", "/businesses/{business_id}"),
        Link("conflicts", "/individual_appointments/{id}/conflicts", nullable=True),
        Link("patient", "/patients/{patient_id}"),
        Link("patient_case", "/patient_cases/{patient_case_id}"),
        Link("practitioner", "/practitioners/{practitioner_id}"),
        Link("repeated_from", "/individual_appointments/{repeated_from_id}"),
        Link("repeats", "/individual_appointments?q%5B%5D=repeated_from_id%3A%3D{repeats_of}", nullable=True),
    )),
    Resource("group_appointments", {
        **_TS, "appointment_type_id": INT64, "archived_at": DATETIME, "business_id": INT64,
        "deleted_at": DATETIME, "ends_at": DATETIME, "patient_ids": ARRAY, "practitioner_id": INT64,
        "repeated_from_id": INT64, "starts_at": DATETIME,
    }, (
        Link("appointment_type", "/appointment_types/{appointment_type_id}"),
        Link("attendees", "/group_appointments/{id}/attendees"),
        Link("business", "/businesses/{business_id}"),
        Link("conflicts", "/group_appointments/{id}/conflicts", nullable=True),
        Link("practitioner", "/practitioners/{practitioner_id}"),
        Link("repeated_from", "/group_appointments/{repeated_from_id}"),
        Link("repeats", "/group_appointments?q%5B%5D=repeated_from_id%3A%3D{repeats_of}", nullable=True),
    )),
    Resource("attendees", {
        **_TS, "appointment_id": INT64, "archived_at": DATETIME, "booking_id": INT64, "cancelled_at": DATETIME,
        "deleted_at": DATETIME, "patient_case_id": INT64, "patient_id": INT64,
    }, (
        Link("booking", "/bookings/{booking_id}"),
        Link("invoices", "/attendees/{id}/invoices"),
        Link("patient", "/patients/{patient_id}"),
        Link("patient_case", "/patient_cases/{patient_case_id}"),
        Link("patient_forms", "/attendees/{id}/patient_forms"),
    )),
    Resource("treatment_notes", {
        **_TS, "archived_at": DATETIME, "attendee_id": INT64, "booking_id": INT64, "deleted_at": DATETIME,
        "draft": BOOLEAN, "patient_id": INT64, "practitioner_id": INT64, "treatment_note_template_id": INT64,
    }, (
        Link("attendee", "/attendees/{attendee_id}"),
        Link("booking", "/bookings/{booking_id}"),
        Link("patient", "/patients/{patient_id}"),
        Link("practitioner", "/practitioners/{practitioner_id}"),
        Link("treatment_note_template", "/treatment_note_templates/{treatment_note_template_id}"),
    )),
    Resource("invoices", {
        **_TS, "appointment_id": INT64, "archived_at": DATETIME, "attendee_id": INT64, "business_id": INT64,
        "closed_at": DATETIME, "deleted_at": DATETIME, "issue_date": DATE, "number": INTEGER,
        "original_invoice_id": INT64, "patient_id": INT64, "practitioner_id": INT64, "status": INTEGER,
    }, (
        Link("appointment", "/appointments/{appointment_id}"),
        Link("attendee", "/attendees/{attendee_id}"),
        Link("business", "/businesses/{business_id}"),
        Link("invoice_items", "/invoices/{id}/invoice_items"),
        Link("original_invoice", "/invoices/{original_invoice_id}"),
        Link("patient", "/patients/{patient_id}"),
        Link("practitioner", "/practitioners/{practitioner_id}"),
        Link("reversed_invoices", "/invoices" + _q("original_invoice_id")),
        Link("signature", "/signatures/{signature_id}"),
    )),
    Resource("invoice_items", {
        **_TS, "archived_at": DATETIME, "deleted_at": DATETIME, "invoice_id": INT64, "source_item_id": INT64,
    }, (
        Link("billable_item", "/billable_items/{billable_item_id}"),
        Link("invoice", "/invoices/{invoice_id}"),
        Link("product", "/products/{product_id}"),
    )),
    Resource("products", {
        **_TS, "archived_at": DATETIME, "name": STRING, "tax_id": INT64,
    }, (
        Link("product_supplier", "/product_suppliers/{product_supplier_id}"),
        Link("stock_adjustments", "/stock_adjustments" + _q("product_id")),
        Link("tax", "/taxes/{tax_id}"),
    )),
    Resource("billable_items", {
        **_TS, "archived_at": DATETIME, "tax_id": INT64,
    }, (
        Link("tax", "/taxes/{tax_id}"),
    )),
    Resource("patient_attachments", {
        **_TS, "archived_at": DATETIME, "content_type": STRING, "description": STRING, "filename": STRING,
        "patient_id": INT64, "processed_at": DATETIME, "size": INTEGER, "user_id": INT64,
    }, (
        Link("content", "/patient_attachments/{content_of}/content", nullable=True),
        Link("patient", "/patients/{patient_id}"),
        Link("user", "/users/{user_id}"),
    )),
    Resource("communications", {
        **_TS, "archived_at": DATETIME, "category_code": INTEGER, "letter_id": INT64, "patient_id": INT64,
        "type_code": INTEGER,
    }, (
        Link("attendee", "/attendees/{attendee_id}"),
        Link("booking", "/bookings/{booking_id}"),
        Link("invoice", "/invoices/{invoice_id}"),
        Link("letter", "/letters/{letter_id}"),
        Link("patient", "/patients/{patient_id}"),
        Link("payment", "/payments/{payment_id}"),
    )),
    Resource("contacts", {
        **_TS, "archived_at": DATETIME, "company_name": STRING, "deleted_at": DATETIME, "email": STRING,
        "first_name": STRING, "last_name": STRING, "occupation": STRING, "type_code": INTEGER,
    }),
    Resource("medical_alerts", {
        **_TS, "archived_at": DATETIME, "deleted_at": DATETIME, "patient_id": INT64,
    }, (
        Link("patient", "/patients/{patient_id}"),
    )),
    Resource("patient_cases", {
        **_TS, "archived_at": DATETIME, "closed_at": DATETIME, "expiry_date": DATE, "issue_date": DATE,
        "name": STRING, "patient_id": INT64, "referral_type": STRING,
    }, (
        Link("attendees", "/patient_cases/{id}/attendees"),
        Link("bookings", "/patient_cases/{id}/bookings"),
        Link("contact", "/contacts/{contact_id}"),
        Link("invoices", "/patient_cases/{id}/invoices"),
        Link("patient", "/patients/{patient_id}"),
        Link("patient_attachments", "/patient_cases/{id}/patient_attachments"),
    )),
]}


# The one list of Cliniko resources (tap-cliniko's resources.py) says what the sandbox serves; `settings` is
# one object, not a list (api.py serves it). A resource in that list without a definition here is a mistake.
_MISSING = [r.name for r in CLINIKO_RESOURCES if r.name != "settings" and r.name not in _DEFINED]
_EXTRA = sorted(set(_DEFINED) - {r.name for r in CLINIKO_RESOURCES})
if _MISSING or _EXTRA:
    raise RuntimeError(f"the sandbox's resources differ from tap_cliniko.resources: missing {_MISSING}, "
                       f"not listed there {_EXTRA}")
RESOURCES: dict[str, Resource] = _DEFINED


def column_sql(name: str) -> str:
    """SQL expression reading filter/sort field `name` of a docs row."""
    if name == "id":
        return "id"
    if name.endswith("_id"):
        return f"json_extract(meta, '$.{name}')"
    return f"json_extract(body, '$.{name}')"


def get(name: str) -> Resource:
    """The resource called `name`; KeyError when the sandbox does not serve it."""
    return RESOURCES[name]
