"""Admin endpoints under `/_admin/` (no auth, no faults, no limits): steer and inspect the account.

POST /_admin/reset            fresh account (same seed unless {"seed_value": ...})
GET  /_admin/account          company data and the seed value
GET  /_admin/snapshot         every stored object and blob digest as canonical JSON
                              (?deleted=0 drops soft-deleted items, ?omit=update_time,... drops keys)
GET  /_admin/objects/<kind>   stored bodies of one kind, soft-deleted included
GET  /_admin/objects/<kind>/<id>
PATCH /_admin/objects/<kind>/<id>   merge keys into a stored body behind the client's back
GET  /_admin/usage            requests, tokens per day, 429s, max requests in any 2 s window
POST /_admin/usage/reset      forget usage counters and windows
POST /_admin/reset-day        start a new server day: the daily token budget is full again
GET|POST /_admin/config       plan, seats, burst_limit, search_burst_limit, daily_budget, ...
POST /_admin/users            add a user {name, email, admin?, active_flag?, api_token?}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.clock import fmt_v1, fmt_v2
from sandbox.pipedrive.repo import KIND_ALIASES, KINDS
from sandbox.pipedrive.responses import ApiError
from sandbox.pipedrive.users import create_user

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

# the timestamp an out-of-band change bumps, and its format
TOUCH = {"person": ("update_time", "v2"), "activity": ("update_time", "v2"), "product": ("update_time", "v2"),
         "field": ("update_time", "v2"), "note": ("update_time", "v1"), "file": ("update_time", "v1"),
         "activity_type": ("update_time", "v1"), "user": ("modified", "v1")}


def _error(message: str, status: int = 400) -> ApiError:
    return ApiError(Response.json({"error": message}, status))


def canonical(payload: Any) -> Response:
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})


def register(app: PipedriveApp) -> None:
    def add(method: str, path: str, handler: Callable[[Request], Response]) -> None:
        def run(request: Request) -> Response:
            try:
                with app.lock:
                    return handler(request)
            except ApiError as exc:
                return exc.response
            except (ValueError, TypeError) as exc:
                return Response.json({"error": str(exc)}, 400)

        app.admin.add(method, path, run)

    add("POST", "/_admin/reset", lambda r: reset(app, r))
    add("GET", "/_admin/account", lambda r: Response.json(app.describe()))
    add("GET", "/_admin/snapshot", lambda r: canonical(snapshot(app, r)))
    add("GET", "/_admin/objects/{kind}", lambda r: list_objects(app, r))
    add("GET", "/_admin/objects/{kind}/{id}", lambda r: Response.json(_load(app, r)))
    add("PATCH", "/_admin/objects/{kind}/{id}", lambda r: patch_object(app, r))
    add("GET", "/_admin/usage", lambda r: Response.json(app.limiter.report()))
    add("POST", "/_admin/usage/reset", lambda r: _usage_reset(app))
    add("POST", "/_admin/reset-day", lambda r: new_day(app))
    add("GET", "/_admin/config", lambda r: Response.json(app.config.as_dict()))
    add("POST", "/_admin/config", lambda r: set_config(app, r))
    add("POST", "/_admin/users", lambda r: add_user(app, r))


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json() or {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _error("body must be JSON") from None
    if not isinstance(body, dict):
        raise _error("body must be a JSON object")
    return body


def _kind(request: Request) -> str:
    kind = KIND_ALIASES.get(request.params["kind"])
    if kind is None:
        raise _error(f"unknown kind; use one of {', '.join(KINDS)}", 404)
    return kind


def reset(app: PipedriveApp, request: Request) -> Response:
    body = _body(request)
    app.reset(body.get("seed_value"))
    app.request_log.clear()
    app.request_count = 0
    return Response.json({"ok": True, **app.describe()})


def snapshot(app: PipedriveApp, request: Request) -> dict[str, Any]:
    omit = {k for k in (request.arg("omit") or "").split(",") if k}
    keep_deleted = request.arg("deleted", "1") != "0"
    objects: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        rows = []
        for body in app.repo.all(kind):
            if not keep_deleted and (body.get("is_deleted") or body.get("active_flag") is False
                                     or body.get("active") is False):
                continue
            rows.append({k: v for k, v in body.items() if k not in omit})
        objects[kind] = rows
    kept_files = {f"file:{f['id']}" for f in objects["file"]}
    blobs = {key: {"sha256": hashlib.sha256(bytes(data)).hexdigest(), "size": len(data), "content_type": ctype}
             for key, ctype, data in app.store.execute("SELECT key, content_type, data FROM blobs ORDER BY key")
             if keep_deleted or key in kept_files}
    return {"account": app.account, "objects": objects, "blobs": blobs}


def list_objects(app: PipedriveApp, request: Request) -> Response:
    kind = _kind(request)
    rows = app.repo.all(kind)
    return Response.json({"kind": kind, "count": len(rows), "data": rows})


def _load(app: PipedriveApp, request: Request) -> dict[str, Any]:
    kind = _kind(request)
    try:
        item = app.repo.get(kind, int(request.params["id"]))
    except ValueError:
        item = None
    if item is None:
        raise _error(f"no {kind} with id {request.params['id']}", 404)
    return item


def patch_object(app: PipedriveApp, request: Request) -> Response:
    """Shallow merge (custom_fields merged per key, null removes); bumps the update time unless given."""
    kind = _kind(request)
    item = _load(app, request)
    body = _body(request)
    if "id" in body and body["id"] != item["id"]:
        raise _error("id cannot be changed")
    for key, value in body.items():
        if key == "custom_fields" and isinstance(value, dict) and isinstance(item.get(key), dict):
            merged = {**item[key], **value}
            item[key] = {k: v for k, v in merged.items() if v is not None}
        else:
            item[key] = value
    stamp, style = TOUCH[kind]
    if stamp not in body:
        now = app.clock.now()
        item[stamp] = fmt_v2(now) if style == "v2" else fmt_v1(now)
    found = app.store.get(kind, item["id"])
    app.repo.put(kind, item, found[1] if found else None)
    return Response.json(item)


def _usage_reset(app: PipedriveApp) -> Response:
    app.limiter.reset_usage()
    return Response.json(app.limiter.report())


def new_day(app: PipedriveApp) -> Response:
    app.clock.offset_days += 1
    return Response.json(app.limiter.report())


def set_config(app: PipedriveApp, request: Request) -> Response:
    app.config.update(_body(request))
    app.limiter.apply_config()
    return Response.json(app.config.as_dict())


def add_user(app: PipedriveApp, request: Request) -> Response:
    body = _body(request)
    name, email = body.get("name"), body.get("email")
    if not isinstance(name, str) or not name.strip() or not isinstance(email, str) or "@" not in email:
        raise _error("name and email are required")
    user = create_user(app, name.strip(), email.strip(), admin=bool(body.get("admin", False)),
                       active=bool(body.get("active_flag", True)))
    if body.get("api_token"):
        app.add_token(str(body["api_token"]), user["id"])
    return Response.json(user)
