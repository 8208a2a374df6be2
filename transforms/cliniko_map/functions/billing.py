"""Per-patient invoice figures, recomputed from ALL of a patient's invoices every time.

Rules (Cliniko's API has invoices but no payments, so a balance is derived from status):
- Deleted and archived invoices are left out of every figure (Cliniko hides them too).
- count: invoices left; total invoiced: sum of their `total_amount`.
- outstanding: sum of `total_amount` of Open (10) invoices - an Open invoice counts in
  full, as no part-payment is exposed. Paid (20), Closed (30, settled or written off) and
  Open credit (40, paid with credit left on the account) add nothing.
- last invoice date: latest `issue_date`.
- last paid date: latest payment day of a Paid or Open-credit invoice - its `closed_at`
  when set, else its `updated_at` (a paid invoice's last change is its payment), as the
  clinic's local date.
- history: the newest invoices first, one line each, e.g.
  "2024-05-01 #1042 Paid 95.00 AUD - Standard Consultation".
Because the figures are a function of the full set, a delta run that adds or changes one
invoice gives the same result as a full run.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from cliniko_map.functions.dates import local_date

STATUS_NAMES = {10: "Open", 20: "Paid", 30: "Closed", 40: "Open credit"}
OUTSTANDING_STATUSES = frozenset({10})
PAID_STATUSES = frozenset({20, 40})
CENT = Decimal("0.01")


def money(value: Any) -> Decimal | None:
    """Cliniko's decimal strings ("95.00", "18.1818") -> Decimal; None when absent/garbled."""
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def amount(value: Decimal | None, currency: str | None = None) -> float | dict[str, Any] | None:
    """A Decimal as a Pipedrive monetary value: {value, currency} (or a bare number)."""
    if value is None:
        return None
    number = float(value.quantize(CENT, rounding=ROUND_HALF_UP))
    return {"value": number, "currency": currency} if currency else number


def _status(invoice: dict[str, Any]) -> int | None:
    try:
        return int(invoice["status"]) if invoice.get("status") is not None else None
    except (TypeError, ValueError):
        return None


def _paid_day(invoice: dict[str, Any]) -> str | None:
    when = invoice.get("closed_at") or invoice.get("updated_at")
    return local_date(when, invoice.get("time_zone"))


def _history_line(invoice: dict[str, Any], items: list[dict[str, Any]], currency: str | None) -> str:
    status = _status(invoice)
    total = money(invoice.get("total_amount"))
    parts = [str(invoice.get("issue_date") or "????-??-??")]
    if invoice.get("number") is not None:
        parts.append(f"#{invoice['number']}")
    parts.append(STATUS_NAMES.get(status, "Unknown status") if status is not None else "No status")
    if total is not None:
        parts.append(f"{total.quantize(CENT, rounding=ROUND_HALF_UP)}{' ' + currency if currency else ''}")
    names = [str(i["name"]) for i in items if i.get("name") and not i.get("deleted_at")]
    return " ".join(parts) + (f" - {', '.join(names)}" if names else "")


def invoice_summary(invoices: list[dict[str, Any]], invoice_items: list[dict[str, Any]] | None = None,
                    currency: str | None = None, history_limit: int = 10) -> dict[str, Any]:
    """count, total, outstanding, last_invoice_date, last_paid_date, history (see module doc)."""
    live = [i for i in invoices if not i.get("deleted_at") and not i.get("archived_at")]
    total = sum((money(i.get("total_amount")) or Decimal(0) for i in live), Decimal(0))
    outstanding = sum((money(i.get("total_amount")) or Decimal(0) for i in live
                       if _status(i) in OUTSTANDING_STATUSES), Decimal(0))
    issued = [str(i["issue_date"]) for i in live if i.get("issue_date")]
    paid = [day for i in live if _status(i) in PAID_STATUSES and (day := _paid_day(i))]
    by_invoice: dict[str, list[dict[str, Any]]] = {}
    for item in invoice_items or []:
        by_invoice.setdefault(str(item.get("invoice_id")), []).append(item)
    newest = sorted(live, key=lambda i: (str(i.get("issue_date") or ""), int(i.get("number") or 0), str(i["id"])),
                    reverse=True)
    lines = [_history_line(i, sorted(by_invoice.get(str(i["id"]), []), key=lambda x: str(x.get("id"))), currency)
             for i in newest[:history_limit]]
    if len(newest) > history_limit:
        lines.append(f"(+{len(newest) - history_limit} earlier invoices)")
    return {
        "count": len(live),
        "total": amount(total, currency),
        "outstanding": amount(outstanding, currency),
        "last_invoice_date": max(issued) if issued else None,
        "last_paid_date": max(paid) if paid else None,
        "history": "\n".join(lines) or None,
    }
