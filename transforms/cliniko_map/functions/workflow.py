"""workflow-reference.json: the clinic's automations, for rebuilding them in Pipedrive.

Pipedrive's automations are created in its UI; this file lists what Cliniko did
(reminder defaults, SMS sender, online-booking rules, per-appointment-type reminder,
confirmation and follow-up templates, per-location reminder switches) so nobody has to
click through Cliniko's settings to find out.
"""

from __future__ import annotations

from typing import Any


def _pick(source: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    return {k: (source or {}).get(k) for k in keys}


def workflow_reference(settings: list[dict[str, Any]], appointment_types: list[dict[str, Any]],
                       businesses: list[dict[str, Any]]) -> dict[str, Any]:
    """The reference document (a plain dict; the mapper writes it as sorted JSON)."""
    conf = settings[0] if settings else {}
    account = conf.get("account") or {}
    return {
        "about": "Automations and templates configured in Cliniko, to rebuild as Pipedrive automations. "
                 "Reference only: nothing here is created in Pipedrive.",
        "account": _pick(account, "name", "country_code", "currency_symbol", "email_from"),
        "reminders": {
            "default_reminder_type": (conf.get("reminders") or {}).get("default_reminder_type"),
            "sms": _pick(conf.get("sms"), "default_alphanumeric_source_number", "max_message_length",
                         "replies_supported"),
        },
        "online_bookings": _pick(conf.get("online_bookings"), "enabled", "min_hours_advance_required_to_book",
                                 "min_hours_notice_for_patient_cancellation", "allow_bookings_days_in_advance",
                                 "notify_practitioner_by_email", "notify_practitioner_by_sms", "policy"),
        "patient_privacy": _pick(conf.get("patient_privacy"), "requires_hipaa_compliance",
                                 "prevent_sending_financial_data_by_email"),
        "locations": [
            {"id": b.get("id"), "name": b.get("business_name") or b.get("display_name"),
             "time_zone": b.get("time_zone_identifier"),
             "appointment_reminders_enabled": b.get("appointment_reminders_enabled"),
             "archived": bool(b.get("archived_at")), "deleted": bool(b.get("deleted_at"))}
            for b in sorted(businesses, key=lambda b: str(b.get("id")))
        ],
        "appointment_types": [
            {"id": t.get("id"), "name": t.get("name"), "archived": bool(t.get("archived_at")),
             "reminder_template_ids": t.get("appointment_reminder_template_ids") or [],
             "confirmation_template_ids": t.get("appointment_confirmation_template_ids") or [],
             "follow_up_template_ids": t.get("appointment_follow_up_template_ids") or [],
             "online_payments_mode": t.get("online_payments_mode"),
             "show_in_online_bookings": t.get("show_in_online_bookings")}
            for t in sorted(appointment_types, key=lambda t: str(t.get("id")))
        ],
    }
