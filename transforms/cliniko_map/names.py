"""The two vocabularies the map sits between: tap-cliniko's streams (its resources.py, the one list
of Cliniko resources) and target-pipedrive's input contract (its streams and their fields, which a
test checks against the target's package)."""

from __future__ import annotations

from tap_cliniko.resources import RESOURCES

# Cliniko stream -> the singular used in source keys (cliniko:<singular>:<id>).
CLINIKO_STREAMS: dict[str, str] = {resource.name: resource.singular for resource in RESOURCES}

# target-pipedrive contract stream -> its record properties (source_key included).
CONTRACT: dict[str, frozenset[str]] = {
    "custom_fields": frozenset({"source_key", "entity", "label", "field_type", "options"}),
    "activity_types": frozenset({"source_key", "name", "icon_key", "color"}),
    "persons": frozenset({"source_key", "name", "emails", "phones", "owner_email", "visible_to", "add_time", "birthday",
                          "job_title", "postal_address", "marketing_status", "custom_fields"}),
    "products": frozenset({"source_key", "name", "code", "description", "unit", "tax", "is_linkable", "visible_to",
                           "billing_frequency", "prices", "owner_email", "custom_fields"}),
    "activities": frozenset({"source_key", "subject", "type", "due_date", "due_time", "duration", "done", "busy",
                             "location", "public_description", "note", "owner_email", "person_source_key",
                             "participant_source_keys"}),
    "notes": frozenset({"source_key", "content", "person_source_key", "add_time", "owner_email", "pinned"}),
    "files": frozenset({"source_key", "person_source_key", "local_path", "sha256", "size", "file_name"}),
}

# Streams whose records take custom fields, and the entity of those fields.
CUSTOM_FIELD_ENTITY = {"persons": "person", "products": "product"}
FIELD_TYPES = ("varchar", "varchar_auto", "text", "double", "monetary", "date", "set", "enum", "user", "phone",
               "time", "timerange", "daterange", "address")
