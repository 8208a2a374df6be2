"""Full field sets of every served resource, with Cliniko's empty values.

Each resource's plain (non-link) properties as the official schema lists them. The
generator and the admin "create record" route both start from these, so every row has
exactly the schema's fields: nothing invented, nothing missing. Link objects are not
here; they are rendered from relation ids (see sandbox.cliniko.render).
"""

from __future__ import annotations

from typing import Any

_TS = ("created_at", "updated_at", "id")

_FIELDS: dict[str, tuple[str, ...]] = {
    "patients": (
        "accepted_email_marketing", "accepted_privacy_policy", "accepted_sms_marketing", "address_1", "address_2",
        "address_3", "appointment_notes", "archived_at", "city", "country", "country_code", "custom_fields",
        "date_of_birth", "deleted_at", "dva_card_number", "email", "emergency_contact", "first_name", "gender",
        "gender_identity", "invoice_default_to", "invoice_email", "invoice_extra_information", "label", "last_name",
        "medicare", "medicare_reference_number", "merged_at", "notes", "occupation", "old_reference_id",
        "patient_phone_numbers", "post_code", "preferred_first_name", "pronouns", "receives_cancellation_emails",
        "receives_confirmation_emails", "referral_source", "reminder_type", "sex", "state", "time_zone", "title",
    ),
    "practitioners": (
        "active", "description", "designation", "display_name", "first_name", "label", "last_name",
        "show_in_online_bookings", "title",
    ),
    "users": (
        "active", "email", "first_name", "last_name", "phone_numbers", "role", "time_zone", "time_zone_identifier",
        "title", "user_active",
    ),
    "businesses": (
        "additional_information", "additional_invoice_information", "address_1", "address_2",
        "appointment_reminders_enabled", "appointment_type_ids", "archived_at", "business_name",
        "business_registration_name", "business_registration_value", "city", "contact_information", "country",
        "country_code", "deleted_at", "display_name", "email_reply_to", "label", "post_code",
        "show_in_online_bookings", "state", "time_zone", "time_zone_identifier", "website_address",
    ),
    "appointment_types": (
        "add_deposit_to_account_credit", "appointment_confirmation_template_ids", "appointment_follow_up_template_ids",
        "appointment_reminder_template_ids", "archived_at", "category", "color", "deposit_price", "description",
        "duration_in_minutes", "max_attendees", "name", "online_bookings_lead_time_hours", "online_payments_enabled",
        "online_payments_mode", "show_in_online_bookings", "telehealth_enabled",
    ),
    "individual_appointments": (
        "archived_at", "booking_ip_address", "cancellation_note", "cancellation_reason",
        "cancellation_reason_description", "cancelled_at", "deleted_at", "did_not_arrive", "email_reminder_sent",
        "ends_at", "has_patient_appointment_notes", "invoice_status", "notes", "online_booking_policy_accepted",
        "patient_arrived", "patient_name", "repeat_rule", "sms_reminder_sent", "starts_at", "telehealth_url",
        "treatment_note_status",
    ),
    "group_appointments": (
        "archived_at", "deleted_at", "ends_at", "max_attendees", "notes", "patient_ids", "repeat_rule", "starts_at",
        "telehealth_url",
    ),
    "attendees": (
        "archived_at", "arrived", "booking_ip_address", "cancellation_note", "cancellation_reason",
        "cancellation_reason_description", "cancellation_url", "cancelled_at", "deleted_at", "email_reminder_sent",
        "invoice_status", "notes", "online_booking_policy_accepted", "sent_email_follow_ups_count",
        "sent_email_reminders_count", "sent_sms_follow_ups_count", "sent_sms_reminders_count", "sms_reminder_sent",
        "telehealth_url", "treatment_note_status",
    ),
    "treatment_notes": (
        "archived_at", "author_name", "content", "deleted_at", "draft", "finalized_at", "pinned_at", "title",
    ),
    "invoices": (
        "archived_at", "calculation_method", "calculation_method_description", "closed_at", "deleted_at",
        "discounted_amount", "invoice_to", "issue_date", "net_amount", "notes", "number", "online_payment_url",
        "patient_extra_information", "status", "status_description", "tax_amount", "total_amount",
    ),
    "invoice_items": (
        "archived_at", "code", "concession_type_name", "deleted_at", "discount_percentage", "discounted_amount",
        "is_monetary_discount", "name", "net_price", "quantity", "tax_amount", "tax_name", "tax_rate",
        "total_including_tax", "unit_price",
    ),
    "products": (
        "archived_at", "cost_price", "item_code", "name", "notes", "price_ex_tax", "price_including_tax",
        "product_supplier_id", "product_supplier_name", "serial_number", "stock_level",
    ),
    "billable_items": ("archived_at", "item_code", "item_type", "name", "price"),
    "patient_attachments": (
        "archived_at", "content_type", "description", "filename", "pinned_at", "processed_at",
        "processing_completed", "size",
    ),
    # Union of the Email/SMS/Memo branches; a memo simply leaves the email-only ones null.
    "communications": (
        "archived_at", "category", "category_code", "confidential", "content", "content_subject", "direction_code",
        "direction_description", "from", "to", "type", "type_code",
    ),
    "contacts": (
        "address_1", "address_2", "address_3", "archived_at", "city", "company_name", "country", "country_code",
        "deleted_at", "doctor_type", "email", "first_name", "last_name", "notes", "occupation", "phone_numbers",
        "post_code", "preferred_name", "provider_number", "state", "title", "type", "type_code",
    ),
    "medical_alerts": ("archived_at", "deleted_at", "name"),
    "patient_cases": (
        "archived_at", "attendee_ids", "closed", "closed_at", "expiry_date", "include_cancelled_attendees",
        "include_dna_attendees", "issue_date", "max_invoiceable_amount", "max_sessions", "name", "notes", "referral",
        "referral_type",
    ),
    # Last: a resource's position here is part of its generated ids (context.make_id).
    "appointment_type_billable_items": (
        "discount_percentage", "discounted_amount", "is_monetary_discount", "quantity",
    ),
}

# Values a blank record starts with where null would break the schema or Cliniko never sends null.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "patients": {"first_name": "", "last_name": ""},
    "users": {"email": "user@example.com", "first_name": "", "last_name": "", "time_zone": "Sydney"},
    "appointment_types": {"color": "#3f8fd2", "duration_in_minutes": 30, "max_attendees": 1, "name": ""},
    "individual_appointments": {"repeat_rule": None},
    "group_appointments": {"max_attendees": 8},
    "treatment_notes": {"title": "Treatment note"},
    "invoices": {"number": 0},
    "invoice_items": {"quantity": "1.0", "unit_price": "0.0"},
    "products": {"name": ""},
    "billable_items": {"item_type": "Service", "name": "", "price": "0.0"},
    "patient_cases": {"name": ""},
    "medical_alerts": {"name": "Alert"},
    "appointment_type_billable_items": {"quantity": "1.0"},
}

# The spec's Communication is anyOf Email | SMS | Memo; each kind drops the others' fields.
_COMMUNICATION_DROP = {"email": ("confidential",), "sms": ("confidential", "content_subject"),
                       "memo": ("content_subject",)}

RESOURCES = tuple(_FIELDS)


def fields(resource: str) -> tuple[str, ...]:
    """Every plain field of `resource`, timestamps and id included."""
    return (*_FIELDS[resource], *_TS)


def make(resource: str, **values: Any) -> dict[str, Any]:
    """A record body of `resource`: the schema's fields, `values` over the blank defaults.

    Unknown field names raise, so a typo in the generator cannot invent a field.
    """
    known = _FIELDS[resource]
    unknown = set(values) - set(known) - set(_TS)
    if unknown:
        raise KeyError(f"{resource} has no field(s) {', '.join(sorted(unknown))}")
    body: dict[str, Any] = dict.fromkeys(known)
    body.update(_DEFAULTS.get(resource, {}))
    body.update(values)
    return body


def communication(kind: str, **values: Any) -> dict[str, Any]:
    """A communication body with exactly the fields of its kind (email, sms or memo)."""
    body = make("communications", **values)
    for name in _COMMUNICATION_DROP[kind]:
        body.pop(name)
    return body


# Fields the schema types as non-null strings that a blank record cannot know: set to "now".
_NOW_DEFAULTS = {"individual_appointments": ("starts_at", "ends_at"), "group_appointments": ("starts_at", "ends_at")}
_TODAY_DEFAULTS = {"invoices": ("issue_date",)}
_OMIT_WHEN_NULL = {"products": ("product_supplier_id",)}


def blank(resource: str, stamp: str, **values: Any) -> dict[str, Any]:
    """A record made through the admin API: like `make`, with the gaps a schema forbids filled.

    Communications take the fields of their kind from `type_code` (1 SMS, 2 email, else memo).
    """
    if resource == "communications":
        kind = {1: "sms", 2: "email"}.get(values.get("type_code"), "memo")
        body = communication(kind, **values)
    else:
        body = make(resource, **values)
    for name in _NOW_DEFAULTS.get(resource, ()):
        body[name] = body[name] or stamp
    for name in _TODAY_DEFAULTS.get(resource, ()):
        body[name] = body[name] or stamp[:10]
    for name in _OMIT_WHEN_NULL.get(resource, ()):
        if body.get(name) is None:
            body.pop(name, None)
    return body
