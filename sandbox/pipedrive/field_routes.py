"""Field definition endpoints: v1 `/{entity}Fields` and v2 `/{entity}Fields/{field_code}`.

Person and product fields can be created, renamed, given options and deleted (soft:
they vanish from lists, values stay stored but hidden). Activity fields are read-only in
both versions — no create route exists, so POST answers 405, and v2 activities refuse
`custom_fields`. Note, deal and organization fields are served read-only (their fixed
standard fields, `fixed_fields.py`): notes have no custom fields, and the sandbox holds no
deals or organizations, so their field writes answer 405 too. Each route exists only where
the specs have it: `noteFields` is v1 only; the v1 single-field GET exists for persons,
products, deals and organizations. v1 `PUT` takes the full option list (existing ones with
`id`, new ones label-only, missing ones removed); v2 has atomic option endpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.fields import OPTION_TYPES, V1_CREATE_TYPES, V2_CREATE_TYPES, render_v1, render_v2
from sandbox.pipedrive.pagination import offset_cursor_page, v1_page
from sandbox.pipedrive.responses import ApiError, ValidationFailed, fail_v1, ok, v2_not_found
from sandbox.pipedrive.v1input import as_flag, as_int, read_body
from sandbox.pipedrive.validation import Query, S, check_body, read_json

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

ROUTE_ENTITY = {"personFields": "person", "productFields": "product", "activityFields": "activity",
                "noteFields": "note", "dealFields": "deal", "organizationFields": "organization"}
WRITABLE = ("person", "product")
V1_ONE = ("person", "product", "deal", "organization")  # the v1 spec has no /activityFields/{id}, /noteFields/{id}
V2_ENTITIES = ("person", "product", "activity", "deal", "organization")  # v2 has no noteFields
INCLUDES = ("ui_visibility", "important_fields", "required_fields")
V2_CREATE = {
    "field_name": S("string", non_empty=True), "field_type": S("string", choices=V2_CREATE_TYPES),
    "options": S("array", items=S("object", required=("label",), props={"label": S("string", non_empty=True)})),
    "ui_visibility": S("object", open_object=True), "important_fields": S("object", open_object=True),
    "required_fields": S("object", open_object=True),
}
V2_UPDATE = {k: v for k, v in V2_CREATE.items() if k not in ("field_type", "options")}


def register(app: PipedriveApp) -> None:
    for route, entity in ROUTE_ENTITY.items():
        base = f"/{route}"
        app.v1("GET", base, lambda r, e=entity: v1_list(app, r, e))
        if entity in V1_ONE:
            app.v1("GET", base + "/{id}", lambda r, e=entity: ok(render_v1(v1_load(app, r, e))))
        if entity in V2_ENTITIES:
            app.v2("GET", base, lambda r, e=entity: v2_list(app, r, e))
            app.v2("GET", base + "/{field_code}",
                   lambda r, e=entity: ok(render_v2(v2_load(app, r, e), _includes(r))))
        if entity not in WRITABLE:
            continue
        app.v1("POST", base, lambda r, e=entity: v1_create(app, r, e))
        app.v1("DELETE", base, lambda r, e=entity: v1_bulk_delete(app, r, e))
        app.v1("PUT", base + "/{id}", lambda r, e=entity: v1_update(app, r, e))
        app.v1("DELETE", base + "/{id}", lambda r, e=entity: v1_delete(app, r, e))
        app.v2("POST", base, lambda r, e=entity: v2_create(app, r, e))
        app.v2("PATCH", base + "/{field_code}", lambda r, e=entity: v2_update(app, r, e))
        app.v2("DELETE", base + "/{field_code}", lambda r, e=entity: v2_delete(app, r, e))
        app.v2("POST", base + "/{field_code}/options", lambda r, e=entity: v2_add_options(app, r, e))
        app.v2("PATCH", base + "/{field_code}/options", lambda r, e=entity: v2_rename_options(app, r, e))
        app.v2("DELETE", base + "/{field_code}/options", lambda r, e=entity: v2_delete_options(app, r, e))


# -- v1 ---------------------------------------------------------------------------------------
def v1_list(app: PipedriveApp, request: Request, entity: str) -> Response:
    items, extra = v1_page([render_v1(f) for f in app.fields.list(entity)], request)
    return ok(items, extra)


def v1_load(app: PipedriveApp, request: Request, entity: str) -> dict[str, Any]:
    field_id = as_int(request.params["id"], "id")
    field = app.fields.by_id(entity, field_id) if field_id is not None else None
    if field is None:
        raise fail_v1("Field not found", 404)
    return field


def _v1_labels(raw: Any) -> list[dict[str, Any]]:
    """Options as v1 sends them: a list (or JSON-encoded list) of {label[, id]} objects or strings."""
    if isinstance(raw, str):
        import json

        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise fail_v1("options must be a JSON array of {\"label\": ...} objects") from None
    if not isinstance(raw, list):
        raise fail_v1("options must be an array")
    out = []
    for item in raw:
        if isinstance(item, str):
            item = {"label": item}
        if not isinstance(item, dict) or not isinstance(item.get("label"), str) or not item["label"].strip():
            raise fail_v1("each option needs a non-empty label")
        out.append(item)
    return out


def v1_create(app: PipedriveApp, request: Request, entity: str) -> Response:
    body = read_body(request)
    name = body.get("name")
    ftype = body.get("field_type")
    if not isinstance(name, str) or not name.strip():
        raise fail_v1("Field name is required")
    if ftype not in V1_CREATE_TYPES:
        raise fail_v1(f"Field type must be one of: {', '.join(V1_CREATE_TYPES)}")
    labels: list[str] = []
    if ftype in OPTION_TYPES:
        if "options" not in body:
            raise fail_v1("Options are required for enum and set fields")
        labels = [o["label"].strip() for o in _v1_labels(body["options"])]
        if not labels:
            raise fail_v1("Options are required for enum and set fields")
    add_visible = as_flag(body.get("add_visible_flag", True), "add_visible_flag")
    field = app.fields.create(entity, name.strip(), ftype, labels, app.current_user_id(request), add_visible)
    return ok(render_v1(field))


def v1_update(app: PipedriveApp, request: Request, entity: str) -> Response:
    field = v1_load(app, request, entity)
    body = read_body(request)
    if not field["is_custom"]:
        raise fail_v1("System fields cannot be edited")
    if "field_type" in body and body["field_type"] != field["field_type"]:
        raise fail_v1("Field type cannot be changed")
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise fail_v1("Field name cannot be empty")
        field["name"] = body["name"].strip()
    if "add_visible_flag" in body:
        field["add_visible_flag"] = as_flag(body["add_visible_flag"], "add_visible_flag")
    if "options" in body:
        if field["field_type"] not in OPTION_TYPES:
            raise fail_v1("Only enum and set fields have options")
        wanted = _v1_labels(body["options"])
        current = {o["id"]: o for o in field["options"] or []}
        kept: list[dict[str, Any]] = []
        for item in wanted:
            if "id" in item and item["id"] is not None:
                option_id = as_int(item["id"], "options.id")
                if option_id not in current:
                    raise fail_v1(f"Option {item['id']} does not belong to this field")
                option = dict(current[option_id])
                if option["label"] != item["label"]:
                    option["label"], option["update_time"] = item["label"], app.clock.v2()
                kept.append(option)
            else:
                kept.append(app.fields.new_option(item["label"].strip()))
        if not kept:
            raise fail_v1("Options cannot be empty")
        field["options"] = kept
    return ok(render_v1(app.fields.save(field, app.current_user_id(request))))


def v1_delete(app: PipedriveApp, request: Request, entity: str) -> Response:
    field = v1_load(app, request, entity)
    _retire(app, request, field)
    return ok({"id": field["id"]})


def v1_bulk_delete(app: PipedriveApp, request: Request, entity: str) -> Response:
    raw = request.arg("ids") or ""
    ids = [as_int(p, "ids") for p in raw.split(",") if p.strip()]
    if not ids:
        raise fail_v1("ids is required")
    found = [app.fields.by_id(entity, i) for i in ids if i is not None]
    if any(f is None for f in found):
        raise fail_v1("Field not found", 404)
    for field in found:
        assert field is not None
        _retire(app, request, field)
    return ok({"id": ids})


def _retire(app: PipedriveApp, request: Request, field: dict[str, Any]) -> None:
    if not field["is_custom"]:
        raise fail_v1("System fields cannot be deleted")
    field["active"] = False
    app.fields.save(field, app.current_user_id(request))


# -- v2 ---------------------------------------------------------------------------------------
def _includes(request: Request) -> tuple[str, ...]:
    query = Query(request)
    chosen = tuple(query.csv("include_fields", choices=INCLUDES))
    query.raise_if_errors()
    return chosen


def v2_list(app: PipedriveApp, request: Request, entity: str) -> Response:
    include = _includes(request)
    page, next_cursor = offset_cursor_page(app.fields.list(entity), request)
    return ok([render_v2(f, include) for f in page], {"next_cursor": next_cursor})


def v2_load(app: PipedriveApp, request: Request, entity: str, custom_only: bool = False) -> dict[str, Any]:
    field = app.fields.by_key(entity, request.params["field_code"])
    if field is None:
        raise ApiError(v2_not_found())
    if custom_only and not field["is_custom"]:
        raise ValidationFailed([f"field_code: '{field['key']}' is a system field and cannot be changed"])
    return field


def v2_create(app: PipedriveApp, request: Request, entity: str) -> Response:
    body = read_json(request)
    errors = check_body(body, V2_CREATE, required=("field_name", "field_type"))
    if not errors and body["field_type"] in OPTION_TYPES and not body.get("options"):
        errors.append("options: Parameter 'options' is required for enum and set fields")
    if not errors and body["field_type"] not in OPTION_TYPES and "options" in body:
        errors.append("options: Parameter 'options' is only allowed for enum and set fields")
    if errors:
        raise ValidationFailed(errors)
    labels = [o["label"].strip() for o in body.get("options") or []]
    visible = bool((body.get("ui_visibility") or {}).get("add_visible_flag", False))
    field = app.fields.create(entity, body["field_name"].strip(), body["field_type"], labels,
                              app.current_user_id(request), visible)
    return ok(render_v2(field, INCLUDES))


def v2_update(app: PipedriveApp, request: Request, entity: str) -> Response:
    field = v2_load(app, request, entity, custom_only=True)
    body = read_json(request)
    errors = check_body(body, V2_UPDATE)
    if not errors and not body:
        errors.append("body: At least one property must be provided")
    if errors:
        raise ValidationFailed(errors)
    if "field_name" in body:
        field["name"] = body["field_name"].strip()
    visibility = body.get("ui_visibility") or {}
    for key in ("add_visible_flag", "details_visible_flag"):
        if key in visibility:
            field[key] = bool(visibility[key])
    if "important_fields" in body:
        field["important_flag"] = bool(body["important_fields"].get("enabled", field["important_flag"]))
    return ok(render_v2(app.fields.save(field, app.current_user_id(request)), INCLUDES))


def v2_delete(app: PipedriveApp, request: Request, entity: str) -> Response:
    field = v2_load(app, request, entity, custom_only=True)
    field["active"] = False
    app.fields.save(field, app.current_user_id(request))
    return ok(render_v2(field))


def _option_body(request: Request, props: dict[str, Any], required: tuple[str, ...]) -> list[dict[str, Any]]:
    body = read_json(request)
    if not isinstance(body, list) or not body:
        raise ValidationFailed(["body: Request body must be a non-empty array"])
    errors: list[str] = []
    for i, item in enumerate(body):
        errors += [e.replace("body", f"[{i}]") for e in check_body(item, props, required)]
    if errors:
        raise ValidationFailed(errors)
    return body


def _option_field(app: PipedriveApp, request: Request, entity: str) -> dict[str, Any]:
    field = v2_load(app, request, entity, custom_only=True)
    if field["field_type"] not in OPTION_TYPES:
        raise ValidationFailed([f"field_code: Field of type '{field['field_type']}' has no options"])
    return field


def v2_add_options(app: PipedriveApp, request: Request, entity: str) -> Response:
    field = _option_field(app, request, entity)
    body = _option_body(request, {"label": S("string", non_empty=True)}, ("label",))
    added = [app.fields.new_option(item["label"].strip()) for item in body]
    field["options"] = [*field["options"], *added]
    app.fields.save(field, app.current_user_id(request))
    return ok(added)


def _known_ids(field: dict[str, Any], body: list[dict[str, Any]]) -> None:
    known = {o["id"] for o in field["options"]}
    missing = [str(item["id"]) for item in body if item["id"] not in known]
    if missing:
        raise ValidationFailed([f"id: Option(s) {', '.join(missing)} do not exist on this field"])


def v2_rename_options(app: PipedriveApp, request: Request, entity: str) -> Response:
    field = _option_field(app, request, entity)
    body = _option_body(request, {"id": S("integer"), "label": S("string", non_empty=True)}, ("id", "label"))
    _known_ids(field, body)
    labels = {item["id"]: item["label"].strip() for item in body}
    now = app.clock.v2()
    for option in field["options"]:
        if option["id"] in labels:
            option["label"], option["update_time"] = labels[option["id"]], now
    app.fields.save(field, app.current_user_id(request))
    return ok([o for o in field["options"] if o["id"] in labels])


def v2_delete_options(app: PipedriveApp, request: Request, entity: str) -> Response:
    field = _option_field(app, request, entity)
    body = _option_body(request, {"id": S("integer")}, ("id",))
    _known_ids(field, body)
    doomed = {item["id"] for item in body}
    removed = [o for o in field["options"] if o["id"] in doomed]
    field["options"] = [o for o in field["options"] if o["id"] not in doomed]
    app.fields.save(field, app.current_user_id(request))
    return ok(removed)
