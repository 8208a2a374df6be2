"""Values out of a patient's Cliniko custom fields (`custom_fields.sections[].fields[]`).

Sections and fields are found by NAME (tokens differ per account), case-insensitively;
archived sections/fields still count, since old patients carry values in them. Insurance
details (Provider, Policy number, Group, Coverage details, Insurance type) live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cliniko_map.functions.dates import iso_date
from cliniko_map.functions.text import clean


def _fields(custom_fields: dict[str, Any] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    for section in (custom_fields or {}).get("sections") or []:
        for field in section.get("fields") or []:
            yield str(section.get("name") or ""), field


def _find(custom_fields: dict[str, Any] | None, field: str, section: str | None) -> dict[str, Any] | None:
    wanted: str | None = None  # field.casefold(), once, at the first field (as before: not for an empty set)
    for section_name, item in _fields(custom_fields):
        name = str(item.get("name") or "").casefold()
        if wanted is None:
            wanted = field.casefold()
        if name != wanted:
            continue
        if section is None or section_name.casefold() == section.casefold():
            return item
    return None


def _selected(item: dict[str, Any]) -> list[str]:
    picked = [str(o["name"]) for o in item.get("options") or [] if o.get("selected") and o.get("name")]
    other = item.get("other") or {}
    if other.get("selected") and clean(other.get("value")):
        picked.append(str(clean(other.get("value"))))
    return picked


def cf_choices(custom_fields: dict[str, Any] | None, field: str, section: str | None = None) -> list[str]:
    """Selected option names (+ the 'other' text) of a checkboxes/radiobuttons field."""
    item = _find(custom_fields, field, section)
    return _selected(item) if item else []


def cf_choice(custom_fields: dict[str, Any] | None, field: str, section: str | None = None) -> str | None:
    """The selected option of a radiobuttons field (an enum value in Pipedrive)."""
    picked = cf_choices(custom_fields, field, section)
    return picked[0] if picked else None


def cf_value(custom_fields: dict[str, Any] | None, field: str, section: str | None = None) -> str | None:
    """A field's value as text: text/paragraph/date as written, choices joined with ', '."""
    item = _find(custom_fields, field, section)
    return None if item is None else _value(item)


def _value(item: dict[str, Any]) -> str | None:
    if item.get("type") in ("checkboxes", "radiobuttons"):
        return ", ".join(_selected(item)) or None
    value = item.get("value")
    if item.get("type") == "date":
        return iso_date(value) or clean(value)
    return str(value).strip() or None if value is not None else None


def cf_other_text(custom_fields: dict[str, Any] | None, exclude_sections: list[str] | None = None,
                  exclude_fields: list[str] | None = None) -> str | None:
    """Every other answered field as 'Section / Field: value' lines, so nothing is dropped
    just because the map has no dedicated Pipedrive field for it."""
    skip_sections = {s.casefold() for s in exclude_sections or []}
    skip_fields = {f.casefold() for f in exclude_fields or []}
    lines = []
    for section_name, item in _fields(custom_fields):
        name = str(item.get("name") or "")
        if section_name.casefold() in skip_sections or name.casefold() in skip_fields:
            continue
        value = _value(item)
        if value:
            lines.append(f"{section_name} / {name}: {value}")
    return "\n".join(lines) or None


def cf_options(definition: dict[str, Any] | None, field: str, section: str | None = None) -> list[str]:
    """Every option name a field defines in Cliniko's settings (archived ones too, so old
    patients' values still have an option in Pipedrive)."""
    item = _find(definition, field, section)
    return [str(o["name"]) for o in (item or {}).get("options") or [] if o.get("name")]
