"""E-mail addresses, phone numbers and postal addresses in Pipedrive's shapes."""

from __future__ import annotations

import re
from typing import Any

from cliniko_map.functions.text import clean

# RFC 5321-ish: dot-atom local part (no leading, trailing or doubled dots), a domain of
# letter/digit/hyphen labels that neither start nor end with a hyphen, a TLD of 2+ letters.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
INVALID_EMAIL_POLICIES = ("keep", "drop")

DEFAULT_PHONE_LABELS = {"Mobile": "mobile", "Home": "home", "Work": "work", "Fax": "other", "Other": "other"}


def is_valid_email(value: str | None) -> bool:
    """Syntax check only (no DNS): catches the legacy addresses Cliniko accepted."""
    return bool(value) and len(value) <= 254 and bool(_EMAIL.match(value))


def emails(*addresses: str | None, labels: list[str] | None = None, invalid: str = "keep") -> list[dict[str, Any]]:
    """Every address once (case-insensitive), the first one primary.

    `labels[i]` labels `addresses[i]` (default "home": a patient's own address).
    `invalid`: keep (default: Pipedrive stores any text, and the clinic's data stays as it
    was; staff can fix it there) or drop. Empty values are left out; [] clears the list.
    """
    if invalid not in INVALID_EMAIL_POLICIES:
        raise ValueError(f"unknown invalid-email policy {invalid!r}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(addresses):
        value = clean(raw)
        if not value or value.casefold() in seen:
            continue
        if invalid == "drop" and not is_valid_email(value):
            continue
        seen.add(value.casefold())
        label = (labels[index] if labels and index < len(labels) else None) or "home"
        out.append({"value": value, "label": label, "primary": not out})
    return out


def phones(numbers: list[dict[str, Any]] | None, labels: dict[str, str] | None = None,
           prefer: str = "number") -> list[dict[str, Any]]:
    """Cliniko phone numbers -> Pipedrive phones with typed labels, first one primary.

    `labels` maps Cliniko's phone_type to Pipedrive's label (Mobile->mobile, Home->home,
    Work->work, Fax/Other->other by default). `prefer`: "number" keeps the number as
    the clinic typed it; "normalized" uses Cliniko's E.164 form when it has one.
    Duplicates (same digits) are kept once.
    """
    table = labels or DEFAULT_PHONE_LABELS
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in numbers or []:
        typed, normal = clean(item.get("number")), clean(item.get("normalized_number"))
        value = (normal or typed) if prefer == "normalized" else (typed or normal)
        digits = re.sub(r"\D", "", normal or typed or "")
        if not value or digits in seen:
            continue
        seen.add(digits)
        label = table.get(str(item.get("phone_type") or ""), "other")
        out.append({"value": value, "label": label, "primary": not out})
    return out


def postal_address(address_1: str | None = None, address_2: str | None = None, address_3: str | None = None,
                   city: str | None = None, state: str | None = None, post_code: str | None = None,
                   country: str | None = None, country_code: str | None = None) -> dict[str, str] | None:
    """Cliniko's address lines -> a Pipedrive address value with its parts.

    `value` is the one-line form Pipedrive shows and geocodes ("12 Pitt St, Unit 3,
    Sydney NSW 2000, Australia"); the parts fill the address sub-fields. None when empty.
    """
    lines = [clean(x) for x in (address_1, address_2, address_3)]
    city_, state_, post_code_, country_ = clean(city), clean(state), clean(post_code), clean(country)
    town = " ".join(p for p in (city_, state_, post_code_) if p)
    value = ", ".join(p for p in (*lines, town, country_) if p)
    if not value:
        return None
    out = {"value": value}
    parts = {"route": ", ".join(p for p in lines if p), "locality": city_, "admin_area_level_1": state_,
             "postal_code": post_code_, "country": country_ or clean(country_code)}
    out.update({k: v for k, v in parts.items() if v})
    return out


def address_text(address: dict[str, Any] | None) -> str | None:
    """The one-line form of an address value (for text fields and activity locations)."""
    return (address or {}).get("value")
