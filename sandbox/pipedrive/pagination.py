"""v2 cursor pagination (opaque base64url JSON, keyset underneath) and v1 start/limit paging.

The cursor has the shape Pipedrive's examples decode to:
`{"field": "id", "fieldValue": 7, "sortDirection": "asc", "id": 7}`. Keyset paging means
records created or changed while a client pages never shift or duplicate items of the
pages it has not read yet (for sort by id).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sandbox.common.http import Request
from sandbox.pipedrive.repo import Repo
from sandbox.pipedrive.responses import ValidationFailed
from sandbox.pipedrive.validation import Query

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationFailed(["cursor: Parameter 'cursor' is not a valid cursor"]) from None
    if not isinstance(payload, dict):
        raise ValidationFailed(["cursor: Parameter 'cursor' is not a valid cursor"])
    return payload


def keyset_page(repo: Repo, kind: str, where: list[str], params: list[Any], query: Query,
                sort_fields: tuple[str, ...]) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `kind` matching `where`, in the requested order, and the next cursor."""
    limit = query.integer("limit", minimum=1, maximum=MAX_LIMIT) or DEFAULT_LIMIT
    sort_by = query.choice("sort_by", sort_fields, "id") or "id"
    direction = query.choice("sort_direction", ("asc", "desc"), "asc") or "asc"
    cursor = query.text("cursor")
    query.raise_if_errors()
    expr = "id" if sort_by == "id" else f"json_extract(body, '$.{sort_by}')"
    clauses, args = list(where), list(params)
    if cursor:
        state = decode_cursor(cursor)
        if state.get("field") != sort_by or state.get("sortDirection") != direction or "id" not in state:
            raise ValidationFailed(["cursor: Parameter 'cursor' does not match sort_by/sort_direction"])
        op = ">" if direction == "asc" else "<"
        if sort_by == "id":
            clauses.append(f"id {op} ?")
            args.append(state["id"])
        else:
            clauses.append(f"(COALESCE({expr}, '') {op} ? OR (COALESCE({expr}, '') = ? AND id {op} ?))")
            args += [state.get("fieldValue") or "", state.get("fieldValue") or "", state["id"]]
    sql_dir = "ASC" if direction == "asc" else "DESC"
    order = f"id {sql_dir}" if sort_by == "id" else f"COALESCE({expr}, '') {sql_dir}, id {sql_dir}"
    rows = repo.page(kind, " AND ".join(clauses), args, order, limit + 1)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor({"field": sort_by, "fieldValue": last.get(sort_by) if sort_by != "id"
                                        else last["id"], "sortDirection": direction, "id": last["id"]})


def offset_cursor_page(items: list[Any], request: Request) -> tuple[list[Any], str | None]:
    """Cursor paging over an in-memory list (search results, field lists)."""
    query = Query(request)
    limit = query.integer("limit", minimum=1, maximum=MAX_LIMIT) or DEFAULT_LIMIT
    cursor = query.text("cursor")
    query.raise_if_errors()
    start = 0
    if cursor:
        state = decode_cursor(cursor)
        start = state.get("offset") if isinstance(state.get("offset"), int) else -1
        if start < 0:
            raise ValidationFailed(["cursor: Parameter 'cursor' is not a valid cursor"])
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, encode_cursor({"offset": start + limit}) if more else None


def v1_page(items: list[Any], request: Request, max_limit: int = MAX_LIMIT) -> tuple[list[Any], dict[str, Any]]:
    """v1 offset paging: `start`/`limit` in, `additional_data.pagination` out (lenient parsing)."""
    def number(name: str, default: int) -> int:
        raw = request.arg(name)
        try:
            return int(raw) if raw not in (None, "") else default
        except ValueError:
            return default

    start = max(0, number("start", 0))
    limit = min(max(1, number("limit", DEFAULT_LIMIT)), max_limit)
    page = items[start:start + limit]
    more = start + limit < len(items)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return page, {"pagination": pagination}
