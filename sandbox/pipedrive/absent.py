"""Read endpoints of the kinds the sandbox does not hold: deals, organizations, pipelines, stages, filters.

The migration writes none of these, and the sandbox account has none, yet a reporting client
(a Singer tap, a BI connector) lists them all. So their list endpoints answer as Pipedrive does
for an account without them: an empty page in the right envelope (v2 `additional_data.next_cursor:
null`; v1 `data: null`, as v1 sends empty collections), after checking every query parameter as
strictly as the lists of stored kinds do. A GET by id (or of one deal's products or updates) is
Pipedrive's not-found for that kind, never an unknown route. Writes to these
kinds are not served (405): nothing in the sandbox could hold them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sandbox.common.http import Request, Response
from sandbox.pipedrive import entities
from sandbox.pipedrive.pagination import MAX_LIMIT, decode_cursor
from sandbox.pipedrive.responses import ApiError, fail_v1, ok, v2_not_found
from sandbox.pipedrive.validation import Query

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

DEAL_INCLUDES = ("next_activity_id", "last_activity_id", "first_won_time", "products_count", "files_count",
                 "notes_count", "followers_count", "email_messages_count", "activities_count",
                 "done_activities_count", "undone_activities_count", "participants_count", "last_incoming_mail_time",
                 "last_outgoing_mail_time", "smart_bcc_email", "source_lead_id")
ORG_INCLUDES = ("next_activity_id", "last_activity_id", "open_deals_count", "related_open_deals_count",
                "closed_deals_count", "related_closed_deals_count", "email_messages_count", "people_count",
                "activities_count", "done_activities_count", "undone_activities_count", "files_count", "notes_count",
                "followers_count", "won_deals_count", "related_won_deals_count", "lost_deals_count",
                "related_lost_deals_count", "smart_bcc_email")
DEAL_STATUSES = ("open", "won", "lost", "deleted")
FILTER_TYPES = ("deals", "leads", "org", "people", "products", "activity", "projects")
SORT = ("id", "update_time", "add_time")


def register(app: PipedriveApp) -> None:
    app.v2("GET", "/deals", lambda r: empty_list(r, SORT, _deal_filters))
    app.v2("GET", "/deals/{id}", lambda r: not_found(r, DEAL_INCLUDES))
    app.v2("GET", "/deals/{id}/products", lambda r: not_found(r))
    app.v1("GET", "/deals/{id}/flow", deal_flow)
    app.v2("GET", "/organizations", lambda r: empty_list(r, SORT, _org_filters))
    app.v2("GET", "/organizations/{id}", lambda r: not_found(r, ORG_INCLUDES))
    app.v2("GET", "/pipelines", lambda r: empty_list(r, SORT))
    app.v2("GET", "/pipelines/{id}", lambda r: not_found(r))
    app.v2("GET", "/stages", lambda r: empty_list(r, (*SORT, "order_nr"), lambda q: q.integer("pipeline_id")))
    app.v2("GET", "/stages/{id}", lambda r: not_found(r))
    app.v1("GET", "/filters", filters)


def empty_list(request: Request, sort_fields: tuple[str, ...],
               more: Callable[[Query], object] | None = None) -> Response:
    """An empty v2 page, once the paging parameters (and the kind's own, via `more`) are valid."""
    query = Query(request)
    query.integer("limit", minimum=1, maximum=MAX_LIMIT)
    query.choice("sort_by", sort_fields, "id")
    query.choice("sort_direction", ("asc", "desc"), "asc")
    if more is not None:
        more(query)
    query.raise_if_errors()
    cursor = query.text("cursor")
    if cursor:
        decode_cursor(cursor)  # a malformed cursor is a 400, as on every list
    return ok([], {"next_cursor": None})


def _common(query: Query, includes: tuple[str, ...]) -> None:
    for name in ("filter_id", "owner_id"):
        query.integer(name)
    query.int_csv("ids", max_items=100)
    query.timestamp("updated_since")
    query.timestamp("updated_until")
    query.csv("include_fields", choices=includes)
    query.csv("custom_fields", max_items=15)
    query.boolean("include_option_labels")
    query.boolean("include_labels")


def _deal_filters(query: Query) -> None:
    _common(query, DEAL_INCLUDES)
    for name in ("person_id", "org_id", "pipeline_id", "stage_id"):
        query.integer(name)
    query.csv("status", choices=DEAL_STATUSES)  # "multiple statuses ... as a comma separated array"


def _org_filters(query: Query) -> None:
    _common(query, ORG_INCLUDES)


def not_found(request: Request, includes: tuple[str, ...] = ()) -> Response:
    entities.path_id(request)
    query = Query(request)
    if includes:
        query.csv("include_fields", choices=includes)
        query.csv("custom_fields", max_items=15)
    query.raise_if_errors()
    raise ApiError(v2_not_found())


def deal_flow(request: Request) -> Response:
    """v1 updates of one deal: there is no deal to have any."""
    raise fail_v1("Deal not found", 404)


def filters(request: Request) -> Response:
    """v1: no saved filters exist in the sandbox; `type` must still be one of the documented ones."""
    kind = request.arg("type")
    if kind not in (None, "") and kind not in FILTER_TYPES:
        raise fail_v1(f"type must be one of: {', '.join(FILTER_TYPES)}")
    return ok(None)
