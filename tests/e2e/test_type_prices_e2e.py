"""End to end: appointment types priced only by Cliniko's current relation
(`appointment_type_billable_items`) become Pipedrive products with those prices; a type left with
only the deprecated `billable_item` link is priced from it; and a delta that changes the relation
re-prices exactly those products.

The clinic is changed the way the README's delta rehearsal does it: with the real
`python -m sandbox cliniko change` command against the running Cliniko sandbox. Expected prices are
computed here from the sandbox's own rows (quantity x price less the percentage discount).
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_migration import ROOT, Clinic, link_id, meltano, meltano_env, migrate, writes


def change(cliniko: Any, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "sandbox", "cliniko", "change", "--url", cliniko.url, *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def rows(cliniko: Any, resource: str) -> list[dict[str, Any]]:
    return cliniko.admin("GET", f"/_admin/records/{resource}")[resource]


def expected_prices(cliniko: Any) -> dict[str, float]:
    """Product name -> price, from the Cliniko sandbox's rows."""
    items = {i["id"]: Decimal(i["price"]) for i in rows(cliniko, "billable_items")}
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in rows(cliniko, "appointment_type_billable_items"):
        lines.setdefault(link_id(row, "appointment_type") or "", []).append(row)
    out = {}
    for atype in rows(cliniko, "appointment_types"):
        mine = lines.get(atype["id"]) or [{"billable_item": atype.get("billable_item"), "quantity": "1"}]
        total = Decimal(0)
        for line in mine:
            gross = items[link_id(line, "billable_item") or ""] * Decimal(line["quantity"])
            total += gross - gross * Decimal(line.get("discount_percentage") or 0) / 100
        out[f"Appointment: {atype['name']}"] = float(total.quantize(Decimal("0.01")))
    return out


def pipedrive_prices(pipedrive: Any) -> dict[str, float]:
    products = pipedrive.admin("GET", "/_admin/objects/product")["data"]
    return {p["name"]: p["prices"][0]["price"] for p in products
            if p["name"].startswith("Appointment: ") and not p.get("is_deleted")}


def test_types_priced_by_the_current_relation_reach_pipedrive_and_a_delta_reprices_them(
        tmp_path: Path, cliniko_sandbox: Any, pipedrive_sandbox: Any) -> None:
    if not (ROOT / ".meltano" / "loaders" / "target-pipedrive").exists():
        pytest.fail("meltano plugins are not installed: run `make install` (it runs `meltano install`)")
    cliniko, pipedrive = cliniko_sandbox, pipedrive_sandbox
    for user in Clinic(cliniko).users.values():
        if user.get("email"):
            pipedrive.admin("POST", "/_admin/users", {"name": user["first_name"], "email": user["email"]})
    types = sorted(rows(cliniko, "appointment_types"), key=lambda t: t["name"])
    row_of = {link_id(r, "appointment_type"): r for r in rows(cliniko, "appointment_type_billable_items")}
    items = {i["name"]: i for i in rows(cliniko, "billable_items")}
    legacy, add_on = types[0], types[1]
    # every type but one loses its deprecated link: only the current relation prices it ...
    for atype in types[1:]:
        change(cliniko, "edit", "appointment_types", atype["id"], "billable_item_id:=null")
    # ... the other keeps only the deprecated link (its row deleted, as Cliniko deletes such rows)
    change(cliniko, "delete", "appointment_type_billable_items", row_of[legacy["id"]]["id"])
    # and one type also charges an add-on twice, 10% off
    created = change(cliniko, "add", "appointment_type_billable_items", f"appointment_type_id={add_on['id']}",
                     f"billable_item_id={items['Dry needling add-on']['id']}", "quantity=2.0",
                     "discount_percentage=10.0")
    extra_row = created.split()[2]
    assert all(not t.get("billable_item") for t in rows(cliniko, "appointment_types") if t["id"] != legacy["id"])
    expected = expected_prices(cliniko)
    assert expected[f"Appointment: {add_on['name']}"] == float(Decimal(items[add_on["name"]]["price"]) + 45)

    env = meltano_env(tmp_path, cliniko, pipedrive)
    confirmed = meltano(env, "invoke", "target-pipedrive:confirm-map")
    assert confirmed.returncode == 0, confirmed.stderr[-2000:]
    first = migrate(env, cliniko, pipedrive)
    assert first.returncode == 0, first.stderr[-3000:]
    assert pipedrive_prices(pipedrive) == expected and len(expected) == 6

    # the delta: the add-on's quantity changes, and the legacy type gets a row in the current relation
    change(cliniko, "edit", "appointment_type_billable_items", extra_row, "quantity=3.0")
    change(cliniko, "add", "appointment_type_billable_items", f"appointment_type_id={legacy['id']}",
           f"billable_item_id={items['Report writing (per 15 min)']['id']}")
    pipedrive.admin("POST", "/_admin/usage/reset")
    delta = migrate(env, cliniko, pipedrive)
    assert delta.returncode == 0, delta.stderr[-3000:]
    assert writes(pipedrive) == {"PATCH /v2/products/{id}": 2}
    repriced = expected_prices(cliniko)
    assert repriced[f"Appointment: {legacy['name']}"] == float(items["Report writing (per 15 min)"]["price"])
    assert pipedrive_prices(pipedrive) == repriced != expected
