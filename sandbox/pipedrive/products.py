"""v2 products: create (201), read, list, update, soft delete.

`name` is required and non-empty; `prices` holds at most one entry per currency and is
replaced whole on PATCH; omitted on create it becomes one zero price in the company's
default currency (research notes §9). Custom fields work as for persons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive import entities
from sandbox.pipedrive.custom_values import render_custom_fields, validate_custom_fields
from sandbox.pipedrive.responses import ValidationFailed, ok
from sandbox.pipedrive.validation import Query, S, check_body, read_json

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

PRICE = S("object", required=("currency", "price"), props={
    "currency": S("string"), "price": S("number"), "cost": S("number"), "direct_cost": S("number", nullable=True),
    "notes": S("string", nullable=True)})
FREQUENCIES = ("one-time", "annually", "semi-annually", "quarterly", "monthly", "weekly")
SCHEMA = {
    "name": S("string", non_empty=True), "code": S("string", nullable=True), "description": S("string", nullable=True),
    "unit": S("string", nullable=True), "tax": S("number"), "category": S("number", nullable=True),
    "owner_id": S("integer"), "is_linkable": S("boolean"), "visible_to": S("integer", choices=(1, 3, 5, 7)),
    "prices": S("array", items=PRICE), "custom_fields": S("custom"),
    "billing_frequency": S("string", choices=FREQUENCIES), "billing_frequency_cycles": S("integer", nullable=True),
}
SORT_FIELDS = ("id", "name", "add_time", "update_time")


def register(app: PipedriveApp) -> None:
    app.v2("GET", "/products", lambda r: entities.list_page(app, "product", r, _list_query(r), [], [], SORT_FIELDS,
                                                            renderer(app, r)))
    app.v2("POST", "/products", lambda r: save_product(app, r, None))
    app.v2("GET", "/products/{id}", lambda r: entities.get_one(app, "product", r, renderer(app, r)))
    app.v2("PATCH", "/products/{id}", lambda r: save_product(app, r, entities.load(app, "product", r)))
    app.v2("DELETE", "/products/{id}", lambda r: entities.soft_delete(app, "product", r))


def _list_query(request: Request) -> Query:
    query = Query(request)
    query.integer("filter_id")
    return query


def renderer(app: PipedriveApp, request: Request) -> entities.Render:
    query = Query(request)
    only, labels = entities.custom_field_params(query)
    query.raise_if_errors()
    fields = app.fields.custom("product")

    def render(product: dict[str, Any]) -> dict[str, Any]:
        out = dict(product)
        out["custom_fields"] = render_custom_fields(product.get("custom_fields", {}), fields, only, labels)
        return out

    return render


def save_product(app: PipedriveApp, request: Request, product: dict[str, Any] | None) -> Response:
    body = read_json(request)
    if body is None:
        body = {}
    errors = check_body(body, SCHEMA, required=("name",) if product is None else ())
    if errors:
        raise ValidationFailed(errors)
    custom: dict[str, Any] = {}
    if "owner_id" in body and not app.exists("user", body["owner_id"]):
        errors.append(f"owner_id: User {body['owner_id']} does not exist")
    currencies = [p["currency"] for p in body.get("prices") or []]
    if len(currencies) != len(set(currencies)):
        errors.append("prices: Only one price per currency is allowed")
    if "custom_fields" in body:
        custom, problems = validate_custom_fields(body["custom_fields"], app.fields.custom("product"), app.exists,
                                                  app.default_currency())
        errors.extend(problems)
    frequency = body.get("billing_frequency", (product or {}).get("billing_frequency", "one-time"))
    cycles = body.get("billing_frequency_cycles", (product or {}).get("billing_frequency_cycles"))
    if frequency == "weekly" and cycles is None:
        errors.append("billing_frequency_cycles: Parameter is required when billing_frequency is weekly")
    if cycles is not None and (frequency == "one-time" or cycles > 208 or cycles < 1):
        errors.append("billing_frequency_cycles: must be null for one-time, else between 1 and 208")
    if errors:
        raise ValidationFailed(errors)
    now = app.clock.v2()
    created = product is None
    if product is None:
        product = {
            "id": app.repo.next_id("product"), "name": "", "code": None, "description": None, "unit": None,
            "tax": 0, "category": None, "is_linkable": True, "is_deleted": False, "visible_to": 3,
            "owner_id": app.current_user_id(request), "add_time": now, "update_time": now,
            "billing_frequency": "one-time", "billing_frequency_cycles": None, "prices": [], "custom_fields": {},
        }
        body.setdefault("prices", [{"currency": app.default_currency(), "price": 0}])
    for key in ("name", "code", "description", "unit", "tax", "category", "owner_id", "is_linkable", "visible_to",
                "billing_frequency", "billing_frequency_cycles"):
        if key in body:
            product[key] = body[key].strip() if key == "name" else body[key]
    if "prices" in body:
        product["prices"] = [{"product_id": product["id"], "price": p["price"], "currency": p["currency"],
                              "cost": p.get("cost", 0), "direct_cost": p.get("direct_cost"),
                              "notes": p.get("notes") or ""} for p in body["prices"]]
    stored = dict(product.get("custom_fields") or {})
    for key, value in custom.items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    product["custom_fields"] = stored
    product["update_time"] = now
    app.repo.put("product", product)
    return ok(renderer(app, request)(product), status=201 if created else 200)
