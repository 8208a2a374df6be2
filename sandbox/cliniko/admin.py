"""`/_admin/` routes (no auth): steer the emulator from tests, the demo and benchmarks.

POST /_admin/reset {size, seed}            wipe and generate a clinic
GET  /_admin/clinic                        size, seed and epoch of the loaded clinic
GET  /_admin/counts                        per resource: total (hidden rows included), archived/cancelled/deleted,
                                           inactive (practitioners), visible (what a default list shows)
GET  /_admin/records/<resource>            every row rendered as the API would, hidden ones included
POST /_admin/records/<resource>            create a row {field: value, <relation>_id: id}; server id, now stamps
POST /_admin/mutate {resource, id, set, updated_at?}      change fields, bump updated_at
POST /_admin/archive|cancel|delete {resource, id}          set the timestamp to now (and updated_at); delete
                                           removes a row Cliniko truly deletes (appointment_type_billable_items)
GET|POST /_admin/config {rate_limit_per_minute, require_user_agent}
GET  /_admin/storage                       auth-leak counter, downloads, bad signatures
GET  /_admin/attachments/<id>              size, content type and sha256 of an attachment's bytes
GET  /_admin/edge_cases                    where each generated edge case lives {key: {resource, id}}
GET|POST|DELETE /_admin/on_request {after, path_prefix, mutate: {resource, id, set|action}, faults: {...}}
POST /_admin/raw {resource, id, set, drop}  serve these values verbatim on the row, unvalidated (see corrupt.py)
GET|POST|DELETE /_admin/responses {path, after, times, body|body_base64|empty|replay}   replace answers
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.cliniko import corrupt, render, resources
from sandbox.cliniko.errors import ApiError
from sandbox.cliniko.state import resource_of
from sandbox.common.faults import Faults
from sandbox.common.http import Request, Response
from sandbox.generator import SIZES

if TYPE_CHECKING:
    from sandbox.cliniko.app import ClinikoApp

Handler = Callable[[Request], Response]
SOFT_ACTIONS = {"archive": "archived_at", "cancel": "cancelled_at", "delete": "deleted_at"}


def _body(request: Request) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError:
        raise ApiError(400, "body must be JSON") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def _guard(fn: Handler) -> Handler:
    def wrapped(request: Request) -> Response:
        try:
            return fn(request)
        except ApiError as exc:
            return Response.json({"error": exc.message}, exc.status)

    return wrapped


def register(app: ClinikoApp) -> None:
    routes: dict[tuple[str, str], Handler] = {
        ("POST", "/_admin/reset"): lambda r: _reset(app, r),
        ("GET", "/_admin/clinic"): lambda r: Response.json(app.state.summary()),
        ("GET", "/_admin/counts"): lambda r: Response.json(app.state.counts()),
        ("GET", "/_admin/records/{resource}"): lambda r: _records(app, r),
        ("POST", "/_admin/records/{resource}"): lambda r: _create(app, r),
        ("POST", "/_admin/mutate"): lambda r: _mutate(app, r),
        ("GET", "/_admin/config"): lambda r: Response.json(app.config_dict()),
        ("POST", "/_admin/config"): lambda r: _config(app, r),
        ("GET", "/_admin/storage"): lambda r: Response.json(app.storage.report()),
        ("GET", "/_admin/attachments/{id}"): lambda r: _attachment(app, r),
        ("GET", "/_admin/edge_cases"): lambda r: Response.json(app.state.store.get_value("edge_cases", {})),
        ("GET", "/_admin/on_request"): lambda r: Response.json({"hooks": app.hooks.listing()}),
        ("POST", "/_admin/on_request"): lambda r: _hook(app, r),
        ("DELETE", "/_admin/on_request"): lambda r: (app.hooks.clear(), Response.json({"ok": True}))[1],
        ("POST", "/_admin/raw"): lambda r: _raw(app, r),
        ("GET", "/_admin/responses"): lambda r: Response.json({"rewrites": app.rewrites.listing()}),
        ("POST", "/_admin/responses"): lambda r: _rewrite(app, r),
        ("DELETE", "/_admin/responses"): lambda r: (app.rewrites.clear(), Response.json({"ok": True}))[1],
    }
    for action in SOFT_ACTIONS:
        routes[("POST", f"/_admin/{action}")] = (lambda a: lambda r: _soft(app, r, a))(action)
    for (method, path), handler in routes.items():
        app.admin.add(method, path, _guard(handler))


def _rendered(app: ClinikoApp, request: Request, resource: str, body: dict[str, Any],
              meta: dict[str, Any]) -> dict[str, Any]:
    return render.record(resources.get(resource), body, meta, f"{request.host_url}/v1")


def _reset(app: ClinikoApp, request: Request) -> Response:
    data = _body(request)
    size = data.get("size", "small")
    seed = data.get("seed", 42)
    if size not in (*SIZES, "none"):
        raise ApiError(400, f"size must be one of {', '.join((*SIZES, 'none'))}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ApiError(400, "seed must be an integer")
    summary = app.reset(size, seed)
    return Response.json({**summary, "counts": app.state.counts()})


def _records(app: ClinikoApp, request: Request) -> Response:
    res = resource_of(request.params["resource"])
    rows = app.state.store.query(res.name, order="json_extract(body, '$.created_at'), id")
    items = [_rendered(app, request, res.name, b, m) for b, m in rows]
    return Response.json({res.name: items, "total_entries": len(items)})


def _create(app: ClinikoApp, request: Request) -> Response:
    resource = request.params["resource"]
    body, meta = app.state.create(resource, _body(request))
    return Response.json(_rendered(app, request, resource, body, meta), 201)


def _target(data: dict[str, Any]) -> tuple[str, Any]:
    if "resource" not in data or "id" not in data:
        raise ApiError(400, "resource and id are required")
    return str(data["resource"]), data["id"]


def _mutate(app: ClinikoApp, request: Request) -> Response:
    data = _body(request)
    resource, row_id = _target(data)
    body, meta = app.state.mutate(resource, row_id, data.get("set") or {}, data.get("updated_at"))
    return Response.json(_rendered(app, request, resource, body, meta))


def _soft(app: ClinikoApp, request: Request, action: str) -> Response:
    data = _body(request)
    resource, row_id = _target(data)
    body, meta = app.soft_action(resource, row_id, action)
    return Response.json(_rendered(app, request, resource, body, meta))


def _config(app: ClinikoApp, request: Request) -> Response:
    data = _body(request)
    unknown = set(data) - {"rate_limit_per_minute", "require_user_agent"}
    if unknown:
        raise ApiError(400, f"unknown config key(s): {', '.join(sorted(unknown))}")
    if "rate_limit_per_minute" in data:
        limit = data["rate_limit_per_minute"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ApiError(400, "rate_limit_per_minute must be an integer >= 0 (0 = off)")
        app.set_rate_limit(limit)
    if "require_user_agent" in data:
        if not isinstance(data["require_user_agent"], bool):
            raise ApiError(400, "require_user_agent must be true or false")
        app.require_user_agent = data["require_user_agent"]
    return Response.json(app.config_dict())


def _attachment(app: ClinikoApp, request: Request) -> Response:
    raw = request.params["id"]
    if not raw.isdigit():
        raise ApiError(404, "no such attachment")
    return Response.json(app.state.attachment_info(int(raw)))


def _hook(app: ClinikoApp, request: Request) -> Response:
    hook = app.hooks.parse(_body(request))
    if hook.mutate is not None:
        resource, row_id = str(hook.mutate["resource"]), str(hook.mutate["id"])
        app.state.find(resource_of(resource).name, int(row_id) if row_id.isdigit() else -1)  # 404 now, not later
    if hook.faults is not None:
        try:  # reject unknown switches now, not when the hook fires
            Faults().update(hook.faults)
        except (TypeError, ValueError) as exc:
            return Response.json({"error": str(exc)}, 400)
    app.hooks.add(hook)
    return Response.json({"ok": True, "hooks": len(app.hooks.listing()), "after": hook.after}, 201)


def _raw(app: ClinikoApp, request: Request) -> Response:
    data = _body(request)
    raw = corrupt.raw_values(data)
    resource, row_id = _target(data)
    name = resource_of(resource).name
    with app.state.store.lock:
        body, meta = app.state.find(name, int(row_id) if str(row_id).isdigit() else -1)
        meta[corrupt.RAW_KEY] = raw
        app.state.store.put(name, int(body["id"]), body, meta)
    return corrupt.json_response(_rendered(app, request, name, body, meta))


def _rewrite(app: ClinikoApp, request: Request) -> Response:
    rewrite = app.rewrites.parse(_body(request))
    app.rewrites.add(rewrite)
    return Response.json({"ok": True, "rewrites": len(app.rewrites.listing())}, 201)
