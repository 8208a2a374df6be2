"""v1 recents: every object changed since a moment, oldest change first, in `{item, id, data}` rows.

This is the change feed incremental clients poll (tap-pipedrive reads users and files through it
once its bookmark is recent). Deleted objects are included with `active_flag: false`, so a
client sees deletions too. Of the spec's item kinds the sandbox holds activities, activity types,
files, notes, persons, products and users; deals, filters, organizations, pipelines and stages
never exist here, so asking for them gives an empty feed, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive import notes, users, v1_shapes
from sandbox.pipedrive.clock import fmt_v1, fmt_v2, parse_v1
from sandbox.pipedrive.pagination import v1_page
from sandbox.pipedrive.responses import fail_v1, ok

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

ITEMS = ("activity", "activityType", "deal", "file", "filter", "note", "person", "organization", "pipeline",
         "product", "stage", "user")


def register(app: PipedriveApp) -> None:
    app.v1("GET", "/recents", lambda r: list_recents(app, r))


def _sources(app: PipedriveApp, request: Request) -> dict[str, tuple[str, str, bool, Callable[[Any], Any]]]:
    """item -> (stored kind, its change-time key, stored in v2 time format?, v1 rendering)."""
    company = int(app.account["company_id"])

    def owner_name(user_id: int) -> str:
        user = app.repo.get("user", user_id)
        return str(user["name"]) if user else ""

    return {
        "activity": ("activity", "update_time", True, lambda b: v1_shapes.activity(b, company)),
        "activityType": ("activity_type", "update_time", False, lambda b: b),
        "file": ("file", "update_time", False, lambda b: b),
        "note": ("note", "update_time", False, lambda b: notes.render(app, request, b)),
        "person": ("person", "update_time", True, lambda b: v1_shapes.person(b, company, owner_name(b["owner_id"]))),
        "product": ("product", "update_time", True, v1_shapes.product),
        "user": ("user", "modified", False, lambda b: users.render(app, request, b)),
    }


def list_recents(app: PipedriveApp, request: Request) -> Response:
    raw_since = request.arg("since_timestamp")
    if not raw_since:
        raise fail_v1("since_timestamp is required")
    since = parse_v1(raw_since)
    if since is None:
        raise fail_v1("since_timestamp must be in format YYYY-MM-DD HH:MM:SS")
    wanted = request.arg("items")
    if wanted not in (None, "") and wanted not in ITEMS:
        raise fail_v1(f"items must be one of: {', '.join(ITEMS)}")
    changes: list[tuple[str, str, int, dict[str, Any], Callable[[Any], Any]]] = []
    for item, (kind, key, v2_time, render) in _sources(app, request).items():
        if wanted and item != wanted:
            continue
        bound = fmt_v2(since) if v2_time else fmt_v1(since)
        for body in app.repo.all(kind, f"json_extract(body, '$.{key}') >= ?", (bound,)):
            changed = v1_shapes.v1_time(body[key]) if v2_time else body[key]
            changes.append((str(changed), item, int(body["id"]), body, render))
    changes.sort(key=lambda c: c[:3])
    page, extra = v1_page(changes, request)
    rows = [{"item": item, "id": item_id, "data": render(body)} for _, item, item_id, body, render in page]
    extra["since_timestamp"] = fmt_v1(since)
    extra["last_timestamp_on_page"] = page[-1][0] if page else fmt_v1(since)
    return ok(rows or None, extra)
