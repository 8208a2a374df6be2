"""Products, billable items and appointment-type prices as Pipedrive products."""

from __future__ import annotations

from decimal import Decimal
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


def type_billable_items(rows: list[dict[str, Any]] | None, billable_item_id: Any = None) -> list[dict[str, Any]]:
    """What an appointment type charges, one line per billable item: its rows in Cliniko's
    `appointment_type_billable_items` (the current relation, with quantity and discount) or,
    when it has none, once the billable item of its deprecated `billable_item` link."""
    lines = [{"billable_item_id": str(row["billable_item_id"]), "quantity": row.get("quantity"),
              "discount_percentage": row.get("discount_percentage"),
              "discounted_amount": row.get("discounted_amount"),
              "is_monetary_discount": row.get("is_monetary_discount")}
             for row in rows or [] if row.get("billable_item_id") not in (None, "")]
    if lines or billable_item_id in (None, ""):
        return lines
    return [{"billable_item_id": str(billable_item_id), "quantity": "1"}]


def billable_item_ids(lines: list[dict[str, Any]] | None) -> list[str]:
    """The billable items an appointment type's lines use (each once): what its price waits for."""
    return list(dict.fromkeys(line["billable_item_id"] for line in lines or []))


def line_amount(price: Any, quantity: Any = None, discount_percentage: Any = None, discounted_amount: Any = None,
                is_monetary_discount: Any = None) -> Decimal | None:
    """price x quantity (1 when absent) less the line's discount: `discounted_amount` when the
    discount is monetary (or no percentage is given), else `discount_percentage` of it. None
    when the billable item has no price."""
    unit = money(price)
    if unit is None:
        return None
    count = money(quantity)
    gross = unit * (Decimal(1) if count is None else count)
    percentage = money(discount_percentage)
    if is_monetary_discount or (is_monetary_discount is None and percentage is None):
        return gross - (money(discounted_amount) or Decimal(0))
    return gross - gross * (percentage or Decimal(0)) / 100


def type_prices(lines: list[dict[str, Any]] | None, billable_items: list[dict[str, Any]] | None,
                currency: str | None) -> list[dict[str, Any]] | None:
    """An appointment type's price: the sum of its lines (`type_billable_items`) at their
    billable items' prices ([] when none is priced; None without currency)."""
    by_id = {str(item.get("id")): item for item in billable_items or []}
    amounts = [line_amount((by_id.get(line["billable_item_id"]) or {}).get("price"), line.get("quantity"),
                           line.get("discount_percentage"), line.get("discounted_amount"),
                           line.get("is_monetary_discount"))
               for line in lines or []]
    priced = [amount for amount in amounts if amount is not None]
    return prices(sum(priced, Decimal(0)) if priced else None, currency)


def type_billable_items_text(lines: list[dict[str, Any]] | None,
                             billable_items: list[dict[str, Any]] | None) -> str | None:
    """'Billable items: Initial Consultation, Dry needling add-on x 2 (10% off)' for the description."""
    by_id = {str(item.get("id")): item for item in billable_items or []}
    parts = []
    for line in lines or []:
        item_id = line["billable_item_id"]
        text = str(clean((by_id.get(item_id) or {}).get("name")) or f"billable item {item_id}")
        count = money(line.get("quantity"))
        if count is not None and count != 1:
            text += f" x {count.normalize():f}"
        percentage, amount = money(line.get("discount_percentage")), money(line.get("discounted_amount"))
        monetary = line.get("is_monetary_discount") or (line.get("is_monetary_discount") is None and percentage is None)
        if monetary and amount:
            text += f" (less {amount.quantize(CENT)})"
        elif not monetary and percentage:
            text += f" ({percentage.normalize():f}% off)"
        parts.append(text)
    if not parts:
        return None
    return f"Billable item{'s' if len(parts) > 1 else ''}: {', '.join(parts)}"


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
