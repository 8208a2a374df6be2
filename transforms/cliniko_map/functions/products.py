"""Products, billable items and appointment-type prices as Pipedrive products."""

from __future__ import annotations

from typing import Any

from cliniko_map.functions.billing import CENT, money
from cliniko_map.functions.text import clean


def clinic_currency(account: dict[str, Any] | None, by_country: dict[str, str],
                    override: str | None = None) -> str | None:
    """ISO 4217 code of the clinic's prices.

    Cliniko's settings give the account's country and a currency symbol, not a code, so
    the code comes from the country (`by_country`, editable in the map); `override`
    (policy `currency`, anything but "auto") wins.
    """
    if override and override != "auto":
        return override.upper()
    country = str((account or {}).get("country_code") or "").upper()
    return by_country.get(country)


def prices(price: Any, currency: str | None, cost: Any = None) -> list[dict[str, Any]] | None:
    """One price in the clinic's currency ([] when Cliniko has no price; None without currency)."""
    if not currency:
        return None
    value = money(price)
    if value is None:
        return []
    out: dict[str, Any] = {"currency": currency, "price": float(value.quantize(CENT))}
    cost_value = money(cost)
    if cost_value is not None:
        out["cost"] = float(cost_value.quantize(CENT))
    return [out]


def product_description(*parts: Any) -> str | None:
    """Description lines (supplier, notes, archived...), empty ones left out."""
    lines = [str(clean(p)) for p in parts if clean(p)]
    return "\n".join(lines) or None


def labelled(label: str, value: Any) -> str | None:
    """'Label: value' when value is present (for description lines)."""
    text = clean(value)
    return f"{label}: {text}" if text else None


def not_archived(archived_at: Any) -> bool:
    """Archived items stay visible in Pipedrive but are not offered for new deals."""
    return not archived_at


def hex_color(color: str | None) -> str | None:
    """'#9ca9a3' -> '9ca9a3' (Pipedrive's activity-type colour), None when not a hex colour."""
    text = (clean(color) or "").lstrip("#")
    return text.lower() if len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text) else None


def activity_icon(telehealth_enabled: Any = None, max_attendees: Any = None) -> str:
    """An icon for the activity type: camera for telehealth, presentation for classes."""
    if telehealth_enabled:
        return "camera"
    if isinstance(max_attendees, int) and max_attendees > 1:
        return "presentation"
    return "calendar"


def duration_unit(minutes: Any) -> str | None:
    """'30 min appointment' as the product unit of an appointment type."""
    return f"{minutes} min appointment" if isinstance(minutes, int) and minutes > 0 else None
