"""What v2 persons, activities and products share: ids in paths, soft delete, list filters.

Deletes are soft (`is_deleted: true`): the item leaves lists and searches, a GET still
returns it (or 404, per `deleted_get_status`), PATCH and a second DELETE answer 404 —
the v2 API cannot restore or re-delete (research notes §13).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.pagination import keyset_page
from sandbox.pipedrive.responses import ApiError, ValidationFailed, ok, v2_not_found
from sandbox.pipedrive.validation import Query

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

Render = Callable[[dict[str, Any]], dict[str, Any]]  # built once per request


def path_id(request: Request, name: str = "id") -> int:
    raw = request.params.get(name, "")
    if not re.fullmatch(r"\d+", raw):
        raise ValidationFailed([f"{name}: Parameter '{name}' must be an integer"])
    return int(raw)


def load(app: PipedriveApp, kind: str, request: Request, allow_deleted: bool = False) -> dict[str, Any]:
    item = app.repo.get(kind, path_id(request))
    if item is None:
        raise ApiError(v2_not_found())
    if item.get("is_deleted") and not (allow_deleted and app.config.deleted_get_status == 200):
        raise ApiError(v2_not_found())
    return item


def get_one(app: PipedriveApp, kind: str, request: Request, render: Render) -> Response:
    item = load(app, kind, request, allow_deleted=True)
    return ok(render(item))


def soft_delete(app: PipedriveApp, kind: str, request: Request) -> Response:
    item = load(app, kind, request)
    item["is_deleted"] = True
    item["update_time"] = app.clock.v2()
    app.repo.put(kind, item)
    return ok({"id": item["id"]})


def list_page(app: PipedriveApp, kind: str, request: Request, query: Query, where: list[str], params: list[Any],
              sort_fields: tuple[str, ...], render: Render) -> Response:
    """Common v2 list: live items only, `ids`, `owner_id`, `updated_since/until`, keyset cursor."""
    where = ["json_extract(body, '$.is_deleted') = 0", *where]
    ids = query.int_csv("ids", max_items=100)
    if ids is not None:
        where.append(f"id IN ({', '.join('?' * len(ids))})")
        params = [*params, *ids]
    owner = query.integer("owner_id")
    if owner is not None:
        where.append("json_extract(body, '$.owner_id') = ?")
        params = [*params, owner]
    since = query.timestamp("updated_since")
    if since:
        where.append("json_extract(body, '$.update_time') >= ?")
        params = [*params, since]
    until = query.timestamp("updated_until")
    if until:
        where.append("json_extract(body, '$.update_time') < ?")
        params = [*params, until]
    rows, next_cursor = keyset_page(app.repo, kind, where, params, query, sort_fields)
    return ok([render(row) for row in rows], {"next_cursor": next_cursor})


def custom_field_params(query: Query) -> tuple[list[str], bool]:
    """`custom_fields` (at most 15 keys) and `include_option_labels` read parameters."""
    keys = query.csv("custom_fields", max_items=15)
    labels = query.boolean("include_option_labels") or False
    return keys, labels
