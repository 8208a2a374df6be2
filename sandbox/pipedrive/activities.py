"""v2 activities: create, read, list, update, soft delete.

An activity is `due_date` + optional `due_time` (UTC) + optional `duration`; times are
accepted as HH:MM or HH:MM:SS and returned as HH:MM:SS. `type` must be the `key_string`
of an active activity type. Persons link through `participants` (the primary one is
`person_id`). Activities have no custom fields: `custom_fields` is an unknown key here,
as in the spec. `add_time` and `marked_as_done_time` are server-set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive import entities
from sandbox.pipedrive.clock import normalize_time
from sandbox.pipedrive.fields import ADDRESS_PARTS
from sandbox.pipedrive.responses import ValidationFailed, ok
from sandbox.pipedrive.validation import Query, S, check_body, read_json

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

LOCATION = S("object", nullable=True, props={"value": S("string", nullable=True),
                                              **{p: S("string", nullable=True) for p in ADDRESS_PARTS
                                                 if p != "formatted_address"}})
SCHEMA = {
    "subject": S("string"), "type": S("string"), "owner_id": S("integer"),
    "deal_id": S("integer", nullable=True), "lead_id": S("string", nullable=True),
    "person_id": S("integer", nullable=True), "org_id": S("integer", nullable=True),
    "project_id": S("integer", nullable=True), "due_date": S("date", nullable=True),
    "due_time": S("time", nullable=True), "duration": S("duration", nullable=True), "busy": S("boolean"),
    "done": S("boolean"), "location": LOCATION,
    "participants": S("array", items=S("object", required=("person_id",),
                                       props={"person_id": S("integer"), "primary": S("boolean")})),
    "attendees": S("array", items=S("object", props={
        "email": S("string"), "name": S("string", nullable=True), "status": S("string", nullable=True),
        "is_organizer": S("boolean"), "person_id": S("integer", nullable=True),
        "user_id": S("integer", nullable=True)})),
    "public_description": S("string", nullable=True), "priority": S("integer", nullable=True),
    "note": S("string", nullable=True, max_len=100_000),
}
SORT_FIELDS = ("id", "update_time", "add_time", "due_date")


def register(app: PipedriveApp) -> None:
    app.v2("GET", "/activities", lambda r: list_activities(app, r))
    app.v2("POST", "/activities", lambda r: save_activity(app, r, None))
    app.v2("GET", "/activities/{id}", lambda r: entities.get_one(app, "activity", r, renderer(r)))
    app.v2("PATCH", "/activities/{id}", lambda r: save_activity(app, r, entities.load(app, "activity", r)))
    app.v2("DELETE", "/activities/{id}", lambda r: entities.soft_delete(app, "activity", r))


def renderer(request: Request) -> entities.Render:
    query = Query(request)
    attendees = "attendees" in query.csv("include_fields", choices=("attendees",))
    query.raise_if_errors()

    def render(activity: dict[str, Any]) -> dict[str, Any]:
        out = dict(activity)
        if not attendees:
            out.pop("attendees", None)
        return out

    return render


def list_activities(app: PipedriveApp, request: Request) -> Response:
    query = Query(request)
    where: list[str] = []
    params: list[Any] = []
    for name in ("person_id", "org_id", "deal_id"):
        value = query.integer(name)
        if value is not None:
            where.append(f"json_extract(body, '$.{name}') = ?")
            params.append(value)
    lead = query.text("lead_id")
    if lead:
        where.append("json_extract(body, '$.lead_id') = ?")
        params.append(lead)
    done = query.boolean("done")
    if done is not None:
        where.append("json_extract(body, '$.done') = ?")
        params.append(1 if done else 0)
    query.integer("filter_id")
    return entities.list_page(app, "activity", request, query, where, params, SORT_FIELDS, renderer(request))


def save_activity(app: PipedriveApp, request: Request, activity: dict[str, Any] | None) -> Response:
    body = read_json(request)
    if body is None:
        body = {}
    errors = check_body(body, SCHEMA)
    if errors:
        raise ValidationFailed(errors)
    _check_refs(app, body)
    now = app.clock.v2()
    if activity is None:
        activity = {
            "id": 0, "subject": None, "type": None, "owner_id": app.current_user_id(request),
            "creator_user_id": app.current_user_id(request), "is_deleted": False, "add_time": now,
            "update_time": now, "deal_id": None, "lead_id": None, "person_id": None, "org_id": None,
            "project_id": None, "due_date": None, "due_time": None, "duration": None, "busy": None, "done": False,
            "marked_as_done_time": None, "location": None, "participants": [], "attendees": [],
            "conference_meeting_client": None, "conference_meeting_url": None, "conference_meeting_id": None,
            "public_description": None, "priority": None, "note": None,
        }
        activity["type"] = body.get("type") or _default_type(app)
    _apply(app, activity, body, now)
    if activity["id"] == 0:
        activity["id"] = app.repo.next_id("activity")
    app.repo.put("activity", activity)
    return ok(renderer(request)(activity))


def _default_type(app: PipedriveApp) -> str:
    active = app.repo.all("activity_type", "json_extract(body, '$.active_flag') = 1", order="id")
    return active[0]["key_string"] if active else "call"


def _check_refs(app: PipedriveApp, body: dict[str, Any]) -> None:
    errors: list[str] = []
    if "type" in body:
        live = {t["key_string"] for t in app.repo.all("activity_type", "json_extract(body, '$.active_flag') = 1")}
        if body["type"] not in live:
            errors.append(f"type: Activity type '{body['type']}' does not exist or is not active")
    if "owner_id" in body and not app.exists("user", body["owner_id"]):
        errors.append(f"owner_id: User {body['owner_id']} does not exist")
    people = [p["person_id"] for p in body.get("participants") or []]
    if body.get("person_id") is not None:
        people.append(body["person_id"])
    for person_id in people:
        if not app.exists("person", person_id):
            errors.append(f"participants: Person {person_id} does not exist")
    if sum(1 for p in body.get("participants") or [] if p.get("primary")) > 1:
        errors.append("participants: Only one participant can be primary")
    for name, label in (("deal_id", "Deal"), ("org_id", "Organization"), ("project_id", "Project"),
                        ("lead_id", "Lead")):
        if body.get(name) is not None:
            errors.append(f"{name}: {label} {body[name]} does not exist")
    if errors:
        raise ValidationFailed(errors)


def _apply(app: PipedriveApp, activity: dict[str, Any], body: dict[str, Any], now: str) -> None:
    for key in ("subject", "type", "owner_id", "due_date", "location", "public_description", "priority", "note",
                "attendees"):
        if key in body:
            activity[key] = body[key]
    for key, limit in (("due_time", 23), ("duration", 99)):
        if key in body:
            activity[key] = normalize_time(body[key], limit) if body[key] is not None else None
    if "participants" in body:
        parts = [{"person_id": p["person_id"], "primary": bool(p.get("primary", False))}
                 for p in body["participants"]]
        if parts and not any(p["primary"] for p in parts):
            parts[0]["primary"] = True
        activity["participants"] = parts
    if "person_id" in body and "participants" not in body:
        pid = body["person_id"]
        others = [p for p in activity["participants"] if p["person_id"] != pid]
        for p in others:
            p["primary"] = False
        activity["participants"] = ([{"person_id": pid, "primary": True}] if pid is not None else []) + others
    primary = [p["person_id"] for p in activity["participants"] if p["primary"]]
    activity["person_id"] = primary[0] if primary else None
    if "done" in body and body["done"] != activity["done"]:
        activity["done"] = body["done"]
        activity["marked_as_done_time"] = now if body["done"] else None
    if "busy" in body:
        activity["busy"] = body["busy"]
    elif activity["busy"] is None:
        activity["busy"] = activity["due_time"] is not None
    if not activity.get("subject"):
        names = {t["key_string"]: t["name"] for t in app.repo.all("activity_type")}
        activity["subject"] = names.get(activity["type"], "Call")
    activity["update_time"] = now
