"""v1 activity types: list, add, update, delete (deactivate).

`key_string` is derived from the name at creation (lower-case, non-alphanumerics to `_`,
a numeric suffix on collision — the real rule is undocumented) and never changes.
The list includes deactivated types with `active_flag: false`, so clients must filter.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.responses import fail_v1, ok
from sandbox.pipedrive.seed import activity_type_body
from sandbox.pipedrive.v1input import as_int, read_body

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

ICONS = ("task", "email", "meeting", "deadline", "call", "lunch", "calendar", "downarrow", "document", "smartphone",
         "camera", "scissors", "cogs", "bubble", "uparrow", "checkbox", "signpost", "shuffle", "addressbook",
         "linegraph", "picture", "car", "world", "search", "clip", "sound", "brush", "key", "padlock", "pricetag",
         "suitcase", "finish", "plane", "loop", "wifi", "truck", "cart", "bulb", "bell", "presentation")
COLOR = re.compile(r"^[0-9A-Fa-f]{6}$")


def register(app: PipedriveApp) -> None:
    app.v1("GET", "/activityTypes", lambda r: ok(app.repo.all("activity_type", order="json_extract(body, "
                                                                                      "'$.order_nr'), id")))
    app.v1("POST", "/activityTypes", lambda r: add(app, r))
    app.v1("PUT", "/activityTypes/{id}", lambda r: update(app, r))
    app.v1("DELETE", "/activityTypes/{id}", lambda r: delete(app, r))


def key_for(app: PipedriveApp, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "activity"
    taken = {t["key_string"] for t in app.repo.all("activity_type")}
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _checked(body: dict[str, Any], creating: bool) -> dict[str, Any]:
    if creating or "name" in body:
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise fail_v1("name is required")
    if creating or "icon_key" in body:
        if body.get("icon_key") not in ICONS:
            raise fail_v1("icon_key is required and must be one of the documented icons")
    if body.get("color") not in (None, "") and not COLOR.match(str(body["color"])):
        raise fail_v1("color must be a 6-character HEX value")
    return body


def _load(app: PipedriveApp, request: Request) -> dict[str, Any]:
    type_id = as_int(request.params["id"], "id")
    item = app.repo.get("activity_type", type_id) if type_id is not None else None
    if item is None or not item["active_flag"]:
        raise fail_v1("Activity type not found", 404)
    return item


def _require_admin(app: PipedriveApp, request: Request) -> None:
    if not app.is_admin(app.current_user_id(request)):
        raise fail_v1("You do not have permission to manage activity types", 403)


def add(app: PipedriveApp, request: Request) -> Response:
    _require_admin(app, request)
    body = _checked(read_body(request), creating=True)
    order = max((t["order_nr"] for t in app.repo.all("activity_type")), default=0) + 1
    item = activity_type_body(app.repo.next_id("activity_type"), body["name"].strip(), key_for(app, body["name"]),
                              body["icon_key"], order, app.clock.v1(), custom=True, color=body.get("color") or None)
    return ok(app.repo.put("activity_type", item))


def update(app: PipedriveApp, request: Request) -> Response:
    _require_admin(app, request)
    item = _load(app, request)
    body = _checked(read_body(request), creating=False)
    for key in ("name", "icon_key", "color"):
        if key in body:
            item[key] = body[key].strip() if isinstance(body[key], str) else body[key]
    if "order_nr" in body:
        item["order_nr"] = as_int(body["order_nr"], "order_nr")
    item["update_time"] = app.clock.v1()
    return ok(app.repo.put("activity_type", item))


def delete(app: PipedriveApp, request: Request) -> Response:
    _require_admin(app, request)
    item = _load(app, request)
    item["active_flag"] = False
    item["update_time"] = app.clock.v1()
    return ok(app.repo.put("activity_type", item))
