"""The `/v1` routes: list and get for every registered resource, plus settings, the
current user, attachment content (a redirect) and the bucket route it points to.

Single-record GETs hide archived/cancelled/deleted rows unless the request carries a
`q[]` on that field, as the spec's per-record `q[]` parameter implies (a documented
choice: the docs do not say it outright). Inactive practitioners are found by id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.cliniko import filters, paging, render, resources
from sandbox.cliniko.corrupt import json_response
from sandbox.cliniko.errors import ApiError, not_found
from sandbox.common.http import Request, Response, content_disposition
from sandbox.generator import files

if TYPE_CHECKING:
    from sandbox.cliniko.app import ClinikoApp

Handler = Callable[[Request], Response]


def _guard(fn: Handler) -> Handler:
    def wrapped(request: Request) -> Response:
        try:
            return fn(request)
        except ApiError as exc:
            return exc.response()

    return wrapped


def _raw_filters(request: Request) -> list[str]:
    return request.args("q[]") + request.args("q")


def _row_id(request: Request) -> int:
    raw = request.params.get("id", "")
    if not raw.isdigit() or len(raw) > 19:
        raise not_found()
    return int(raw)


def register(app: ClinikoApp) -> None:
    router = app.router
    for res in resources.RESOURCES.values():
        extra = "json_extract(body, '$.active') = 1" if res.name == "practitioners" else None
        router.add("GET", f"/v1/{res.name}", _guard(_lister(app, res, extra)))
        if res.name == "practitioners":
            router.add("GET", "/v1/practitioners/inactive",
                       _guard(_lister(app, res, "json_extract(body, '$.active') = 0")))
        router.add("GET", f"/v1/{res.name}/{{id}}", _guard(_getter(app, res)))
    router.add("GET", "/v1/settings", _guard(lambda r: Response.json(app.state.store.get_value("settings", {}))))
    router.add("GET", "/v1/user", _guard(lambda r: _current_user(app, r)))
    router.add("GET", "/v1/patient_attachments/{id}/content", _guard(lambda r: _content(app, r)))
    for method in ("GET", "HEAD"):
        router.add(method, "/_storage/{id}/{name}", _guard(lambda r: _bucket(app, r)))


def _lister(app: ClinikoApp, res: resources.Resource, extra: str | None) -> Handler:
    def handle(request: Request) -> Response:
        page = paging.page_of(request)
        order = paging.order_by(request, res)
        where = filters.build_where(res, _raw_filters(request))
        if extra:
            where.clauses.append(extra)
        store = app.state.store
        total = store.count(res.name, where.sql, where.params)
        rows = store.query(res.name, where.sql, where.params, order, page.size, page.offset)
        base = f"{request.host_url}/v1"
        return json_response({
            res.name: [render.record(res, body, meta, base) for body, meta in rows],
            "total_entries": total,
            "links": paging.links(request, page, total),
        })

    return handle


def _getter(app: ClinikoApp, res: resources.Resource) -> Handler:
    def handle(request: Request) -> Response:
        row_id = _row_id(request)
        where = filters.build_where(res, _raw_filters(request), allowed=frozenset(res.soft))
        sql = " AND ".join(s for s in (where.sql, "id = ?") if s)
        rows = app.state.store.query(res.name, sql, [*where.params, row_id], limit=1)
        if not rows:
            raise not_found()
        body, meta = rows[0]
        return json_response(render.record(res, body, meta, f"{request.host_url}/v1"))

    return handle


def _current_user(app: ClinikoApp, request: Request) -> Response:
    uid = int(app.state.summary().get("admin_user_id") or 0)
    found = app.state.store.get("users", uid)
    if found is None:
        raise not_found()
    return Response.json(render.record(resources.get("users"), *found, f"{request.host_url}/v1"))


def _content(app: ClinikoApp, request: Request) -> Response:
    row_id = _row_id(request)
    found = app.state.store.get("patient_attachments", row_id)
    if found is None or not found[1].get("content_of"):
        raise not_found()
    body, _ = found
    location = app.storage.signed_url(request.host_url, row_id, body.get("filename"))
    return Response(status=302, headers={"Location": location, "Content-Type": "text/html; charset=utf-8"},
                    body=f'<html><body>You are being <a href="{location}">redirected</a>.</body></html>'.encode())


def _bucket(app: ClinikoApp, request: Request) -> Response:
    refused = app.storage.check(request)
    if refused is not None:
        return refused
    raw = request.params.get("id", "")
    found = app.state.store.get("patient_attachments", int(raw)) if raw.isdigit() and len(raw) <= 19 else None
    if found is None or not found[1].get("content_of"):
        return Response.text("<Error><Code>NoSuchKey</Code></Error>", 404, content_type="application/xml")
    body, meta = found
    size, ctype = int(meta["size"]), meta["content_type"]
    headers = {"Content-Type": ctype, "Content-Disposition": content_disposition(body.get("filename") or "file"),
               "x-amz-server-side-encryption": "AES256"}
    if request.method == "GET":
        app.storage.counted_download()
    if meta.get("streamed"):  # never stored: generated chunk by chunk, length known up front
        seed = int(app.state.summary().get("seed", 0))
        headers["Content-Length"] = str(size)
        return Response(200, headers=headers, stream=files.iter_bytes(seed, int(body["id"]), size, ctype))
    blob = app.state.store.get_blob(str(body["id"]))
    return Response(200, body=blob[0] if blob else b"", headers=headers)
