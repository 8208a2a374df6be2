"""Keyset pagination over Cliniko's HATEOAS list links.

Page numbers over a result set sorted by `updated_at` skip rows when a row changes
during the sync: the changed row moves to the end and every later row shifts one place
back, so the row at the page boundary is never served. This paginator uses the
response's `links.next` only to learn that more rows exist, and re-anchors each next
request on the last row seen, `(updated_at, id)`, so rows can move while we page and
none is skipped.

Two request shapes:
- normal: `q[]=updated_at:>=T` sorted by `updated_at,id`; rows at or before the cursor
  reappear at the top of the page and are dropped by `is_new`;
- tie: when one page is entirely one timestamp (bulk imports), `updated_at` pinned to T
  and `id:>X` sorted by id, until T is exhausted, then `updated_at:>T`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import ParseResult, parse_qs, urlencode, urlparse

import msgspec
from singer_sdk.pagination import BaseHATEOASPaginator

_PARSED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # response -> its JSON, while it lives


def page_body(response: Any) -> Any:
    """A page's parsed JSON, parsed once: the check, the paginator and the rows all read it.

    msgspec parses well-formed UTF-8 JSON several times faster than the stdlib; what it refuses
    (a lone surrogate escape, bytes that are not UTF-8, NaN) goes to requests' parser, which
    decides as before: those rows still arrive, or the page is "not valid JSON".
    """
    body = _PARSED.get(response)
    if body is None:
        content = getattr(response, "content", None)
        try:
            body = msgspec.json.decode(content) if isinstance(content, bytes) else response.json()
        except (msgspec.MsgspecError, UnicodeDecodeError):
            body = response.json()  # ValueError (not JSON) is not kept: raised each time
        _PARSED[response] = body
    return body


class PagingError(Exception):
    """Cliniko's pages do not advance (a `next` link that loops); one sentence, safe to print."""


def row_position(row: Any) -> tuple[str, int] | None:
    """(updated_at, id) of a row, or None when Cliniko sent no usable id (then it cannot anchor a page)."""
    if not isinstance(row, dict):
        return None
    raw = row.get("id")
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        return None
    return str(row.get("updated_at")), int(raw)


@dataclass(frozen=True)
class Cursor:
    updated_at: str
    id: int
    tie: bool = False  # True while exhausting rows that share `updated_at`
    strict: bool = False  # True right after a tie: continue strictly after `updated_at`

    def is_after(self, updated_at: str, row_id: int) -> bool:
        if self.strict:
            return updated_at > self.updated_at
        return (updated_at, row_id) > (self.updated_at, self.id)

    def filters(self) -> tuple[list[str], str]:
        """The q[] filters and sort order that continue after this cursor."""
        if self.tie:
            return [f"updated_at:>={self.updated_at}", f"updated_at:<={self.updated_at}", f"id:>{self.id}"], "id"
        if self.strict:
            return [f"updated_at:>{self.updated_at}"], "updated_at,id"
        return [f"updated_at:>={self.updated_at}"], "updated_at,id"


class KeysetPaginator(BaseHATEOASPaginator):
    """Follows `links.next`, rewritten to continue after the last row seen."""

    def __init__(self, records_key: str) -> None:
        super().__init__()
        self.records_key = records_key
        self.cursor: Cursor | None = None  # the cursor of the request being answered

    def plan(self, response: Any) -> Cursor | None:
        """Where the next request starts, or None when the stream is exhausted."""
        body = page_body(response)
        positions = [p for p in map(row_position, body.get(self.records_key) or []) if p is not None]
        has_more = bool((body.get("links") or {}).get("next"))
        current = self.cursor
        if current is not None and current.tie:
            if has_more and positions:
                return self._advanced(Cursor(current.updated_at, positions[-1][1], tie=True))
            return Cursor(current.updated_at, 0, strict=True)
        if not has_more or not positions:
            return None
        (first_ts, _), (last_ts, last_id) = positions[0], positions[-1]
        return self._advanced(Cursor(last_ts, last_id, tie=first_ts == last_ts))

    def _advanced(self, cursor: Cursor) -> Cursor:
        """The cursor, if it moves past the current one; a page that does not is a loop."""
        current = self.cursor
        if current is not None and (cursor.updated_at, cursor.id) <= (current.updated_at, current.id):
            raise PagingError(f"Cliniko kept sending the same page of /{self.records_key} although it says more "
                              "rows follow (its `next` link loops)")
        return cursor

    def continue_if_empty(self, response: Any) -> bool:
        return self.plan(response) is not None

    def get_next_url(self, response: Any) -> str | None:
        cursor = self.plan(response)
        if cursor is None:
            return None
        self.cursor = cursor
        base = urlparse(response.request.url)
        params = parse_qs(base.query, keep_blank_values=True)
        kept = [q for q in params.get("q[]", []) if not q.startswith(("updated_at:", "id:"))]
        filters, sort = cursor.filters()
        params["q[]"] = kept + filters
        params["sort"] = [sort]
        params["page"] = ["1"]
        params.pop("order", None)
        return base._replace(query=urlencode(params, doseq=True)).geturl()

    def get_next(self, response: Any) -> ParseResult | None:
        url = self.get_next_url(response)
        return urlparse(url) if url else None
