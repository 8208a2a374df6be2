"""What Cliniko holds now, for a loader's completeness check (target-pipedrive's `verify`).

Cheap first: one request per list endpoint for its `total_entries`, with the same filters
a full read uses (archived, cancelled and deleted rows included), so the count is exactly
what the tap would emit. Ids only on request, for the streams whose count differs from
what the loader received: pages of 100 sorted by id, each row reduced to its id and
`updated_at` before anything else keeps it. Every request goes through the streams' one
paced, retried client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tap_cliniko.client import ClinikoStream
    from tap_cliniko.tap import TapCliniko

PAGE = 100


def _endpoints(stream: ClinikoStream) -> Iterator[str]:
    for context in stream.partitions or [None]:
        yield stream.get_url(context)


def _params(stream: ClinikoStream, **extra: Any) -> dict[str, Any]:
    filters = stream.soft_delete_filters()
    return {**({"q[]": filters} if filters else {}), **extra}


def streams(tap: TapCliniko) -> list[str]:
    """The list streams a census covers (settings is one object, not a list)."""
    return [name for name, stream in tap.streams.items() if stream.replication_key]


def count(tap: TapCliniko, name: str) -> int:
    """Rows of one stream a full read would emit (one request per endpoint)."""
    stream: ClinikoStream = tap.streams[name]  # type: ignore[assignment]
    total = 0
    for url in _endpoints(stream):
        body = stream.fetch_json(url, _params(stream, per_page=1, page=1))
        total += int(body.get("total_entries") or 0)
    return total


def listing(tap: TapCliniko, name: str) -> dict[str, str | None]:
    """Every row of one stream: id -> updated_at."""
    stream: ClinikoStream = tap.streams[name]  # type: ignore[assignment]
    key = stream.records_key
    out: dict[str, str | None] = {}
    for url in _endpoints(stream):
        page = 1
        while True:
            body = stream.fetch_json(url, _params(stream, per_page=PAGE, page=page, sort="id"))
            rows = body.get(key) if isinstance(body, dict) else None
            for row in rows or []:
                if isinstance(row, dict) and row.get("id") is not None:
                    out[str(row["id"])] = row.get("updated_at")
            if not rows or not ((body.get("links") or {}).get("next")):
                break
            page += 1
    return out


def requests_for_counts(tap: TapCliniko) -> int:
    """What a census costs before any listing: one request per list endpoint."""
    return sum(len(stream.partitions or [None]) for stream in tap.streams.values() if stream.replication_key)
