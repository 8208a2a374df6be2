"""Products, prices, currency, activity types, insurance fields, file names, CSV, workflow file."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cliniko_map.functions.comms import COLUMNS, communications_csv
from cliniko_map.functions.files import safe_file_name
from cliniko_map.functions.patient_fields import cf_choice, cf_choices, cf_options, cf_other_text, cf_value
from cliniko_map.functions.products import (
    activity_icon,
    clinic_currency,
    duration_unit,
    hex_color,
    prices,
    product_description,
)
from cliniko_map.functions.workflow import workflow_reference

BY_COUNTRY = {"AU": "AUD", "NZ": "NZD", "US": "USD"}


def test_currency_from_settings_or_override() -> None:
    assert clinic_currency({"country_code": "AU", "currency_symbol": "$"}, BY_COUNTRY) == "AUD"
    assert clinic_currency({"country_code": "nz"}, BY_COUNTRY) == "NZD"
    assert clinic_currency({"country_code": "AU"}, BY_COUNTRY, override="gbp") == "GBP"
    assert clinic_currency({"country_code": "FR"}, BY_COUNTRY) is None
    assert clinic_currency(None, BY_COUNTRY, override="auto") is None


def test_prices() -> None:
    assert prices("49.95", "AUD", "22.48") == [{"currency": "AUD", "price": 49.95, "cost": 22.48}]
    assert prices("25.00", "NZD") == [{"currency": "NZD", "price": 25.0}]
    assert prices(None, "AUD") == []
    assert prices("25.00", None) is None


def test_small_product_helpers() -> None:
    assert product_description("Cliniko product", None, " ", "Supplier: Allied") == "Cliniko product\nSupplier: Allied"
    assert product_description(None) is None
    assert hex_color("#9CA9A3") == "9ca9a3" and hex_color("red") is None and hex_color(None) is None
    assert activity_icon(True, 1) == "camera" and activity_icon(False, 8) == "presentation"
    assert activity_icon(None, None) == "calendar"
    assert duration_unit(30) == "30 min appointment" and duration_unit(None) is None


PATIENT_FIELDS = {"sections": [
    {"name": "Insurance coverage", "fields": [
        {"name": "Provider", "type": "radiobuttons", "options": [{"name": "Medibank", "selected": True},
                                                                 {"name": "Bupa"}],
         "other": {"enabled": True, "selected": False}},
        {"name": "Policy number", "type": "text", "value": "POL-577461"},
        {"name": "Group", "type": "text", "value": "GRP 11"},
        {"name": "Coverage details", "type": "paragraph", "value": "Extras cover: physio 80%.\nWaiting period served."},
        {"name": "Insurance type", "type": "radiobuttons", "options": [{"name": "Private health", "selected": True},
                                                                       {"name": "DVA"}]}]},
    {"name": "Intake", "fields": [
        {"name": "Referral date", "type": "date", "value": "2023-11-07"},
        {"name": "How did you hear about us?", "type": "checkboxes",
         "options": [{"name": "Google", "selected": True}, {"name": "Friend"},
                     {"name": "Social media", "selected": True}],
         "other": {"enabled": True, "selected": True, "value": "Radio ad"}},
        {"name": "Empty one", "type": "text"}]},
]}


def test_insurance_and_other_custom_fields() -> None:
    assert cf_value(PATIENT_FIELDS, "Provider", "Insurance coverage") == "Medibank"
    assert cf_value(PATIENT_FIELDS, "policy NUMBER") == "POL-577461"            # by name, any case, any section
    assert cf_value(PATIENT_FIELDS, "Group", "Insurance coverage") == "GRP 11"
    assert cf_value(PATIENT_FIELDS, "Coverage details") == "Extras cover: physio 80%.\nWaiting period served."
    assert cf_choice(PATIENT_FIELDS, "Insurance type", "Insurance coverage") == "Private health"
    assert cf_choices(PATIENT_FIELDS, "How did you hear about us?") == ["Google", "Social media", "Radio ad"]
    assert cf_value(PATIENT_FIELDS, "Group", "Intake") is None                  # wrong section
    assert cf_value(None, "Provider") is None and cf_choice({"sections": None}, "Provider") is None
    assert cf_other_text(PATIENT_FIELDS, exclude_sections=["insurance coverage"]) == (
        "Intake / Referral date: 2023-11-07\nIntake / How did you hear about us?: Google, Social media, Radio ad")


def test_options_come_from_the_settings_definition_including_archived() -> None:
    definition = {"sections": [{"name": "Insurance coverage", "fields": [
        {"name": "Provider", "options": [{"name": "Medibank"}, {"name": "Old Fund", "archived": True}]}]}]}
    assert cf_options(definition, "Provider") == ["Medibank", "Old Fund"]
    assert cf_options(None, "Provider") == []


@pytest.mark.parametrize(("raw", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("..\\x.txt", "x.txt"),
    ("CON.txt", "_CON.txt"),
    (".htaccess", "htaccess"),
    ('report "draft"; v2,final.txt', "report _draft_; v2,final.txt"),
    ("Überweisung Müller – Röntgen 日本語.pdf", "Überweisung Müller – Röntgen 日本語.pdf"),  # noqa: RUF001
    ("progress photo 😀.png", "progress photo 😀.png"),
    ("100% progress%20photo.jpg", "100% progress%20photo.jpg"),
    ("README", "README"),
    ("", "attachment"),
    (None, "attachment"),
    ("a:b|c?.pdf", "a_b_c_.pdf"),
])
def test_safe_file_names(raw: str | None, expected: str) -> None:
    assert safe_file_name(raw) == expected


def test_long_file_names_keep_their_extension() -> None:
    name = safe_file_name("very long name " + "x" * 300 + ".pdf")
    assert len(name) == 200 and name.endswith(".pdf")


COMMS = [
    {"id": "2", "date": "2020-11-16T02:15:00Z", "direction": "Sent", "type": "SMS", "category": "Appointment Reminder",
     "subject": None, "content": "Hi محمد, reminder: Tue 17 Nov at 01:15 PM.\nReply Y"},
    {"id": "1", "date": "2020-11-16T02:15:00Z", "direction": "Received", "type": "SMS",
     "category": "Reply from Patient", "subject": None, "content": "=HYPERLINK(\"http://evil\")"},
    {"id": "3", "date": "2019-01-01T00:00:00Z", "direction": None, "type": "Phone call", "category": "Memo",
     "subject": "Call, \"quoted\"", "content": "-5 pain"},
]


def test_communications_csv() -> None:
    data = communications_csv(COMMS)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == list(COLUMNS)
    assert rows[1:] == [
        ["2019-01-01T00:00:00Z", "", "Phone call", "Memo", "Call, \"quoted\"", "'-5 pain"],
        ["2020-11-16T02:15:00Z", "Received", "SMS", "Reply from Patient", "", "'=HYPERLINK(\"http://evil\")"],
        ["2020-11-16T02:15:00Z", "Sent", "SMS", "Appointment Reminder", "",
         "Hi محمد, reminder: Tue 17 Nov at 01:15 PM.\nReply Y"],
    ]
    assert communications_csv(list(reversed(COMMS))) == data            # same input, same bytes
    assert not communications_csv([], bom=False).startswith(b"\xef")


def test_workflow_reference_lists_automations() -> None:
    settings = [{"id": "settings", "account": {"name": "Harbour Physio Group", "country_code": "AU"},
                 "reminders": {"default_reminder_type": "SMS & Email"},
                 "sms": {"default_alphanumeric_source_number": "HarbourPhys"}, "online_bookings": {"enabled": True}}]
    types = [{"id": "2", "name": "Pilates Class", "appointment_reminder_template_ids": ["9"]},
             {"id": "1", "name": "Standard Consultation", "archived_at": "2024-01-01T00:00:00Z"}]
    locations = [{"id": "5", "business_name": "Harbour Physio Sydney", "time_zone_identifier": "Australia/Sydney",
                  "appointment_reminders_enabled": True}]
    doc = workflow_reference(settings, types, locations)
    json.dumps(doc)  # plain JSON
    assert doc["reminders"]["default_reminder_type"] == "SMS & Email"
    assert doc["reminders"]["sms"]["default_alphanumeric_source_number"] == "HarbourPhys"
    assert [t["name"] for t in doc["appointment_types"]] == ["Standard Consultation", "Pilates Class"]
    assert doc["appointment_types"][1]["reminder_template_ids"] == ["9"]
    assert doc["appointment_types"][0]["archived"] is True
    assert doc["locations"] == [{"id": "5", "name": "Harbour Physio Sydney", "time_zone": "Australia/Sydney",
                                 "appointment_reminders_enabled": True, "archived": False, "deleted": False}]
    assert workflow_reference([], [], [])["account"]["name"] is None
