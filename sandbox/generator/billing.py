"""Invoices and their items, with amounts that add up (tax-inclusive prices, 10% GST)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sandbox.generator import records
from sandbox.generator.context import Context, iso

STATUS = {10: "Open", 20: "Paid", 30: "Closed", 40: "Open credit"}
Row = tuple[str, int, dict[str, Any], dict[str, Any]]


def _money(value: float) -> str:
    return f"{value:.2f}"


def pick_status(rng: random.Random) -> int:
    r = rng.random()
    return 20 if r < 0.65 else 10 if r < 0.85 else 30 if r < 0.92 else 40


def invoice(ctx: Context, rng: random.Random, *, issued: datetime, local_day: str, status: int,
            lines: list[dict[str, Any]], meta: dict[str, Any], patient_label: str, variant: str | None) -> list[Row]:
    """One invoice and its items. `lines` hold name/code/price and billable_item_id or product_id."""
    iid = ctx.new_id("invoices")
    ctx.counters["invoice_number"] = ctx.counters.get("invoice_number", 1000) + 1
    rows: list[Row] = []
    total = tax = discount = 0.0
    created = min(issued, ctx.epoch)
    for line in lines:
        item_id = ctx.new_id("invoice_items")
        qty = line.get("quantity", 1)
        unit = float(line["price"])
        pct = 10.0 if rng.random() < 0.1 else 0.0
        gross = unit * qty
        disc = round(gross * pct / 100, 2)
        line_total = round(gross - disc, 2)
        taxable = line.get("taxable", True)
        line_tax = round(line_total / 11, 2) if taxable else 0.0
        total, tax, discount = total + line_total, tax + line_tax, discount + disc
        source = line.get("billable_item_id") or line.get("product_id")
        rows.append(("invoice_items", item_id, records.make(
            "invoice_items", id=str(item_id), name=line["name"], code=line.get("code"), quantity=f"{qty:.1f}",
            unit_price=_money(unit), discount_percentage=f"{pct:.1f}", discounted_amount=_money(disc),
            is_monetary_discount=False, net_price=_money(line_total - line_tax), tax_name="GST" if taxable else None,
            tax_rate="10.0" if taxable else None, tax_amount=_money(line_tax), total_including_tax=line_total,
            concession_type_name=None, created_at=iso(created), updated_at=iso(created),
        ), {"invoice_id": iid, "source_item_id": source, "billable_item_id": line.get("billable_item_id"),
            "product_id": line.get("product_id")}))
    closed = status == 30 or (status == 20 and rng.random() < 0.5)
    closed_at = min(created + timedelta(days=rng.randint(0, 20)), ctx.epoch) if closed else None
    updated = max(created, closed_at or created)
    archived = deleted = None
    if variant == "archived":
        archived = updated = ctx.epoch - timedelta(days=3)
    elif variant == "deleted":
        deleted = updated = ctx.epoch - timedelta(days=2)
    body = records.make(
        "invoices", id=str(iid), number=ctx.counters["invoice_number"], issue_date=local_day, status=status,
        status_description=STATUS[status], calculation_method=3, calculation_method_description="Tax inclusive",
        total_amount=_money(total), tax_amount=_money(tax), net_amount=_money(total - tax),
        discounted_amount=_money(discount), invoice_to=f"{patient_label}\nPrivate and confidential",
        notes="Paid by card" if status == 20 and rng.random() < 0.3 else None,
        patient_extra_information=None, online_payment_url=None,
        closed_at=iso(closed_at) if closed_at else None, archived_at=iso(archived) if archived else None,
        deleted_at=iso(deleted) if deleted else None, created_at=iso(created), updated_at=iso(updated),
    )
    for _, _, item, _ in rows:
        item["archived_at"], item["deleted_at"], item["updated_at"] = body["archived_at"], body["deleted_at"], \
            body["updated_at"]
    if variant:
        ctx.mark(f"invoice_{variant}", "invoices", iid)
    ctx.mark(f"invoice_status_{status}", "invoices", iid)
    return [("invoices", iid, body, {**meta}), *rows]
