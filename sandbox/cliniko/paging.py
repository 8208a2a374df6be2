"""Page, per_page and sort parameters, and the `links` block of a list envelope.

Where the docs are silent: `per_page` above 100 is clamped to 100; `page`/`per_page`
below 1 or not integers are a 400; a page past the end is an empty array with `self`
and `previous`. Sort columns are the resource's non-array filter fields; ties are always
broken by ascending id so paging is stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from sandbox.cliniko.errors import bad_request
from sandbox.cliniko.resources import ARRAY, Resource, column_sql
from sandbox.common.http import Request

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def _positive(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request(name, f"must be a positive integer, got {raw!r}")
    return int(raw)


def page_of(request: Request) -> Page:
    return Page(_positive(request, "page", 1), min(_positive(request, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE))


def order_by(request: Request, resource: Resource) -> str:
    """ORDER BY clause from `sort=col1,col2:desc` and the deprecated `order=asc|desc`."""
    default_dir = (request.arg("order") or "asc").lower()
    if default_dir not in ("asc", "desc"):
        raise bad_request("order", "must be asc or desc")
    sortable = {k for k, v in resource.filters.items() if v != ARRAY}
    spec = request.arg("sort") or "created_at"
    parts: list[str] = []
    for item in spec.split(","):
        name, _, direction = item.strip().partition(":")
        direction = (direction or default_dir).lower()
        if name not in sortable:
            raise bad_request("sort", f"cannot sort {resource.name} by {name!r}; "
                                      f"sortable: {', '.join(sorted(sortable))}")
        if direction not in ("asc", "desc"):
            raise bad_request("sort", f"direction of {name!r} must be asc or desc")
        parts.append(f"{column_sql(name)} {direction.upper()}")
        if name == "id":
            break
    else:
        parts.append("id ASC")
    return ", ".join(parts)


def links(request: Request, page: Page, total: int) -> dict[str, str]:
    """Absolute self/next/previous URLs on the host the client used, other params kept."""
    kept = [(k, v) for k, vs in request.query.items() if k not in ("page", "per_page") for v in vs]
    base = f"{request.host_url}{request.path}"

    def url(number: int) -> str:
        query = urlencode([*kept, ("page", str(number)), ("per_page", str(page.size))], quote_via=quote)
        return f"{base}?{query}"

    out = {"self": url(page.number)}
    if page.number * page.size < total:
        out["next"] = url(page.number + 1)
    if page.number > 1:
        out["previous"] = url(page.number - 1)
    return out
