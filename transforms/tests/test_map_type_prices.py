"""Appointment-type products are priced from Cliniko's current relation
(`appointment_type_billable_items`: billable items with quantities and discounts), and from the
type's deprecated `billable_item` link only when the type has no rows there; a delta that adds
or changes a row re-prices its type."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from map_contract import problems
from map_helpers import NOW

from cliniko_map import Map, MapResult
from cliniko_map.functions.products import line_amount, type_billable_items, type_billable_items_text, type_prices

SETTINGS = {"id": "settings", "account": {"country_code": "AU"}}
ITEMS = {"11": ("Initial Consultation", "120.00"), "12": ("Dry needling add-on", "25.00"),
         "13": ("Report writing", "45.00")}


def billable_item(item_id: str, price: str | None = None) -> dict[str, Any]:
    name, default = ITEMS[item_id]
    return {"id": item_id, "name": name, "price": price or default, "item_code": None, "item_type": "Service",
            "archived_at": None}


def appointment_type(type_id: str, billable_item_id: str | None = None) -> dict[str, Any]:
    return {"id": type_id, "name": f"Type {type_id}", "duration_in_minutes": 30, "category": None, "archived_at": None,
            "color": "#3f8fd2", "billable_item_id": billable_item_id, "updated_at": "2024-08-01T00:00:00Z"}


def type_row(row_id: str, type_id: str, item_id: str, quantity: str = "1.0", **discount: Any) -> dict[str, Any]:
    return {"id": row_id, "appointment_type_id": type_id, "billable_item_id": item_id, "quantity": quantity,
            "discount_percentage": discount.get("percentage"), "discounted_amount": discount.get("amount"),
            "is_monetary_discount": discount.get("monetary"), "updated_at": "2024-08-01T00:00:00Z"}


class Feed:
    """Records in, every output and skip collected (what the target would receive)."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.map = Map.load(now=NOW, state=state)
        self.outputs: list[tuple[str, dict[str, Any]]] = []
        self.skipped: list[tuple[str, str]] = []

    def send(self, stream: str, *records: dict[str, Any]) -> MapResult:
        last = MapResult()
        for record in records:
            last = self.map.apply(stream, record)
            self.outputs.extend(last)
            self.skipped.extend(last.skipped)
        return last

    def products(self, type_id: str) -> list[dict[str, Any]]:
        key = f"cliniko:appointment_type:{type_id}"
        return [r for s, r in self.outputs if s == "products" and r["source_key"] == key]

    def next_run(self) -> Feed:
        return Feed(json.loads(json.dumps(self.map.export_state())))


def tap_order(feed: Feed, types: list[dict[str, Any]], rows: list[dict[str, Any]], items: tuple[str, ...] = (
        "11", "12", "13")) -> Feed:
    """The tap's sync order: settings, the types' billable-item rows, the types, billable items."""
    feed.send("settings", SETTINGS)
    feed.send("appointment_type_billable_items", *rows)
    feed.send("appointment_types", *types)
    feed.send("billable_items", *(billable_item(i) for i in items))
    return feed


def test_a_type_with_only_the_current_relation_is_priced_from_its_rows() -> None:
    feed = tap_order(Feed(), [appointment_type("1")], [
        type_row("101", "1", "11"), type_row("102", "1", "12", "2.0", percentage="10.0")])
    (product,) = feed.products("1")  # written once, when its last billable item arrived
    assert product["prices"] == [{"currency": "AUD", "price": 165.0}]  # 120 + 2 x 25 less 10%
    assert "Billable items: Initial Consultation, Dry needling add-on x 2 (10% off)" in product["description"]
    assert problems("products", product) == []
    assert not [k for k, _ in feed.skipped if k == "cliniko:appointment_type:1"]
    assert ("cliniko:appointment_type_billable_item:101", "the billable items of an appointment type - priced into "
            "its product (see appointment_types)") in feed.skipped


def test_a_monetary_discount_takes_its_amount_off_the_line() -> None:
    feed = tap_order(Feed(), [appointment_type("1")], [
        type_row("101", "1", "13", "1.0", amount="20.00", monetary=True)])
    (product,) = feed.products("1")
    assert product["prices"] == [{"currency": "AUD", "price": 25.0}]
    assert "Billable item: Report writing (less 20.00)" in product["description"]


def test_without_rows_the_deprecated_link_prices_the_type() -> None:
    feed = tap_order(Feed(), [appointment_type("1", billable_item_id="11")], [])
    (product,) = feed.products("1")
    assert product["prices"] == [{"currency": "AUD", "price": 120.0}]
    assert "Billable item: Initial Consultation" in product["description"]


def test_rows_win_over_the_deprecated_link() -> None:
    feed = tap_order(Feed(), [appointment_type("1", billable_item_id="11")], [type_row("101", "1", "13")])
    assert feed.products("1")[-1]["prices"] == [{"currency": "AUD", "price": 45.0}]


def test_a_type_with_neither_is_skipped_with_the_reason() -> None:
    feed = tap_order(Feed(), [appointment_type("1")], [type_row("101", "2", "11")])
    assert feed.products("1") == []
    assert ("cliniko:appointment_type:1", "no billable_items reference") in feed.skipped
    assert feed.map.pending() == []


def test_a_row_that_arrives_after_its_type_reprices_it() -> None:
    """Order does not matter: a type seen before its rows is mapped again when they arrive."""
    feed = Feed()
    feed.send("settings", SETTINGS)
    feed.send("billable_items", *(billable_item(i) for i in ITEMS))
    feed.send("appointment_types", appointment_type("1", billable_item_id="11"))
    assert feed.products("1")[-1]["prices"][0]["price"] == 120.0
    result = feed.send("appointment_type_billable_items", type_row("101", "1", "12", "3.0"))
    assert [r["prices"] for s, r in result if s == "products"] == [[{"currency": "AUD", "price": 75.0}]]


def test_a_delta_reprices_from_added_and_changed_rows() -> None:
    first = tap_order(Feed(), [appointment_type("1", billable_item_id="11"), appointment_type("2")], [])
    assert first.products("1")[-1]["prices"][0]["price"] == 120.0
    assert ("cliniko:appointment_type:2", "no billable_items reference") in first.skipped

    delta = first.next_run()  # only the new rows arrive: the types themselves did not change
    delta.send("appointment_type_billable_items", type_row("101", "1", "11"), type_row("102", "1", "12"))
    assert delta.products("1")[-1]["prices"][0]["price"] == 145.0
    delta.send("appointment_type_billable_items", type_row("201", "2", "13", "2.0"))
    assert delta.products("2")[-1]["prices"][0]["price"] == 90.0  # skipped before, priced now

    again = delta.next_run()
    assert list(again.send("appointment_type_billable_items", type_row("201", "2", "13", "2.0"))) == []  # unchanged
    changed = again.send("appointment_type_billable_items", type_row("201", "2", "13", "1.0", percentage="50"))
    assert [r["prices"][0]["price"] for s, r in changed if s == "products"] == [22.5]
    repriced = again.send("billable_items", billable_item("13", "60.00"))  # a billable item's own price
    assert {r["source_key"]: r["prices"][0]["price"] for s, r in repriced if s == "products"} == {
        "cliniko:billable_item:13": 60.0, "cliniko:appointment_type:2": 30.0}


def test_a_row_moved_to_another_type_reprices_both() -> None:
    feed = tap_order(Feed(), [appointment_type("1", billable_item_id="11"), appointment_type("2", "11")],
                     [type_row("101", "1", "12")])
    assert feed.products("1")[-1]["prices"][0]["price"] == 25.0
    moved = feed.send("appointment_type_billable_items", {**type_row("101", "2", "12"),
                                                          "updated_at": "2024-08-02T00:00:00Z"})
    prices = {r["source_key"]: r["prices"][0]["price"] for s, r in moved if s == "products"}
    assert prices == {"cliniko:appointment_type:1": 120.0, "cliniko:appointment_type:2": 25.0}


# -- the pure functions ---------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (("95.00",), Decimal("95.00")),
    (("95.00", "2.0"), Decimal("190.00")),
    (("95.00", "1.5", "10"), Decimal("128.25")),
    (("95.00", "2", None, "15.00", True), Decimal("175.00")),
    (("95.00", "2", None, "15.00", None), Decimal("175.00")),  # no percentage: the amount is the discount
    (("95.00", "2", "10", "15.00", False), Decimal("171.00")),  # a percentage discount ignores the amount
    (("95.00", "-1"), Decimal("-95.00")),  # Cliniko allows negative quantities (a credit line)
    ((None, "2"), None),
    (("not money", "2"), None),
])
def test_line_amount(args: tuple[Any, ...], expected: Decimal | None) -> None:
    assert line_amount(*args) == expected


def test_lines_come_from_rows_else_from_the_deprecated_link() -> None:
    rows = [{"id": "1", "billable_item_id": "11", "quantity": "2.0"}, {"id": "2", "billable_item_id": None}]
    assert [(x["billable_item_id"], x["quantity"]) for x in type_billable_items(rows, "12")] == [("11", "2.0")]
    assert type_billable_items([], "12") == [{"billable_item_id": "12", "quantity": "1"}]
    assert type_billable_items(None, None) == []


def test_prices_and_text_of_lines() -> None:
    items = [{"id": "11", "name": "Initial Consultation", "price": "120.00"}, {"id": "12", "name": None}]
    lines = type_billable_items([{"id": "1", "billable_item_id": "11"}, {"id": "2", "billable_item_id": "12"}])
    assert type_prices(lines, items, "NZD") == [{"currency": "NZD", "price": 120.0}]  # an unpriced item adds nothing
    assert type_prices(lines, items, None) is None
    assert type_prices(lines[1:], items, "NZD") == []
    assert type_billable_items_text(lines, items) == "Billable items: Initial Consultation, billable item 12"
    assert type_billable_items_text([], items) is None
