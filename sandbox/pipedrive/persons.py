"""v2 persons: create, read, list, update, soft delete.

Rules from the migration guide and spec (research notes §4): `name` (or first/last name)
is required on create; emails/phones/im are arrays of `{value, primary, label}` with
label `work` by default, at most one primary, the first made primary when none is;
`owner_id` defaults to the token's user; `add_time` is settable on create only;
`custom_fields` holds custom values by 40-hex key. PATCH replaces whole arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive import entities
from sandbox.pipedrive.clock import fmt_v2, parse_rfc3339
from sandbox.pipedrive.custom_values import render_custom_fields, validate_custom_fields
from sandbox.pipedrive.fields import ADDRESS_PARTS
from sandbox.pipedrive.responses import ValidationFailed, ok
from sandbox.pipedrive.validation import Query, S, check_body, read_json

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

CONTACT = S("array", items=S("object", props={"value": S("string"), "primary": S("boolean"), "label": S("string")},
                             required=("value",)))
POSTAL = S("object", nullable=True, required=("value",),
           props={"value": S("string"), **{p: S("string", nullable=True) for p in ADDRESS_PARTS if p !=
                                           "formatted_address"}})
UPDATE_SCHEMA = {
    "name": S("string", non_empty=True), "first_name": S("string"), "last_name": S("string"),
    "owner_id": S("integer"), "org_id": S("integer", nullable=True), "emails": CONTACT, "phones": CONTACT,
    "im": CONTACT, "visible_to": S("integer", choices=(1, 3, 5, 7)), "label_ids": S("array", items=S("integer")),
    "postal_address": POSTAL, "notes": S("string", nullable=True, max_len=10_000),
    "birthday": S("date", nullable=True), "job_title": S("string", nullable=True),
    "marketing_status": S("string", choices=("no_consent", "unsubscribed", "subscribed", "archived")),
    "custom_fields": S("custom"),
}
CREATE_SCHEMA = {**UPDATE_SCHEMA, "add_time": S("datetime")}
SORT_FIELDS = ("id", "update_time", "add_time")


def register(app: PipedriveApp) -> None:
    app.v2("GET", "/persons", lambda r: list_persons(app, r))
    app.v2("POST", "/persons", lambda r: create_person(app, r))
    app.v2("GET", "/persons/{id}", lambda r: entities.get_one(app, "person", r, renderer(app, r)))
    app.v2("PATCH", "/persons/{id}", lambda r: update_person(app, r))
    app.v2("DELETE", "/persons/{id}", lambda r: entities.soft_delete(app, "person", r))


def renderer(app: PipedriveApp, request: Request) -> entities.Render:
    query = Query(request)
    only, labels = entities.custom_field_params(query)
    query.csv("include_fields")
    query.boolean("include_labels")
    query.raise_if_errors()
    fields = app.fields.custom("person")

    def render(person: dict[str, Any]) -> dict[str, Any]:
        out = dict(person)
        out["custom_fields"] = render_custom_fields(person.get("custom_fields", {}), fields, only, labels)
        return out

    return render


def list_persons(app: PipedriveApp, request: Request) -> Response:
    query = Query(request)
    where: list[str] = []
    params: list[Any] = []
    org_id = query.integer("org_id")
    if org_id is not None:
        where.append("json_extract(body, '$.org_id') = ?")
        params.append(org_id)
    if query.integer("deal_id") is not None:
        where.append("0")  # the sandbox has no deals
    query.integer("filter_id")
    return entities.list_page(app, "person", request, query, where, params, SORT_FIELDS, renderer(app, request))


def create_person(app: PipedriveApp, request: Request) -> Response:
    body = read_json(request)
    errors = check_body(body, CREATE_SCHEMA)
    if not errors and not body.get("name") and not (body.get("first_name") or body.get("last_name")):
        errors.append("name: Parameter 'name' is required")
    custom = _check_refs(app, body, errors)
    now = app.clock.v2()
    person: dict[str, Any] = {
        "id": 0, "name": "", "first_name": "", "last_name": "", "owner_id": app.current_user_id(request),
        "org_id": None, "add_time": now, "update_time": now, "emails": [], "phones": [], "is_deleted": False,
        "visible_to": 3, "label_ids": [], "picture_id": None, "custom_fields": {}, "notes": None, "im": [],
        "birthday": None, "job_title": None, "postal_address": None,
    }
    _apply(person, body, custom)
    if body.get("add_time"):
        moment = parse_rfc3339(body["add_time"])
        person["add_time"] = fmt_v2(moment) if moment else now
    person["id"] = app.repo.next_id("person")
    app.repo.put("person", person)
    return ok(renderer(app, request)(person))


def update_person(app: PipedriveApp, request: Request) -> Response:
    person = entities.load(app, "person", request)
    body = read_json(request)
    if body is None:
        body = {}
    errors = check_body(body, UPDATE_SCHEMA)
    custom = _check_refs(app, body, errors)
    _apply(person, body, custom)
    person["update_time"] = app.clock.v2()
    app.repo.put("person", person)
    return ok(renderer(app, request)(person))


def _check_refs(app: PipedriveApp, body: Any, errors: list[str]) -> dict[str, Any]:
    """Cross-object checks (owner, organization, custom fields); returns clean custom values."""
    if errors or not isinstance(body, dict):
        raise ValidationFailed(errors or ["body: Request body must be a JSON object"])
    if "owner_id" in body and not app.exists("user", body["owner_id"]):
        errors.append(f"owner_id: User {body['owner_id']} does not exist")
    if body.get("org_id") is not None:
        errors.append(f"org_id: Organization {body['org_id']} does not exist")
    custom: dict[str, Any] = {}
    if "custom_fields" in body:
        custom, problems = validate_custom_fields(body["custom_fields"], app.fields.custom("person"), app.exists,
                                                  app.default_currency())
        errors.extend(problems)
    for key in ("emails", "phones", "im"):
        if sum(1 for item in body.get(key) or [] if item.get("primary")) > 1:
            errors.append(f"{key}: Only one item can be primary")
    if errors:
        raise ValidationFailed(errors)
    return custom


def _contacts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [{"value": i["value"], "primary": bool(i.get("primary", False)), "label": i.get("label") or "work"}
           for i in items]
    if out and not any(i["primary"] for i in out):
        out[0]["primary"] = True
    return out


def _apply(person: dict[str, Any], body: dict[str, Any], custom: dict[str, Any]) -> None:
    if "name" in body:
        person["name"] = body["name"].strip()
        first, _, last = person["name"].partition(" ")
        person["first_name"], person["last_name"] = first, last.strip()
    elif "first_name" in body or "last_name" in body:
        person["first_name"] = body.get("first_name", person["first_name"]) or ""
        person["last_name"] = body.get("last_name", person["last_name"]) or ""
        person["name"] = f"{person['first_name']} {person['last_name']}".strip()
    for key in ("emails", "phones", "im"):
        if key in body:
            person[key] = _contacts(body[key])
    for key in ("owner_id", "org_id", "visible_to", "label_ids", "notes", "birthday", "job_title",
                "marketing_status"):
        if key in body:
            person[key] = body[key]
    if "postal_address" in body:
        raw = body["postal_address"]
        person["postal_address"] = None if raw is None else {
            "value": raw["value"], **{p: raw.get(p) for p in ADDRESS_PARTS if p != "formatted_address"}}
    stored = dict(person.get("custom_fields") or {})
    for key, value in custom.items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    person["custom_fields"] = stored
