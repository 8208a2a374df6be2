"""The baseline tap: tap-cliniko with the simplest singer-sdk pager (bench only).

Each stream follows Cliniko's `links.next` page by page, as the SDK's HATEOAS paginator
does out of the box: no keyset re-anchoring. Auth, pacing (the same 200/min pacer, else it
would be refused), retries and records are the tap's own, so the difference measured is the
paging.
"""

from __future__ import annotations

from typing import Any

from singer_sdk.pagination import BaseHATEOASPaginator

from tap_cliniko.client import ClinikoStream
from tap_cliniko.tap import TapCliniko


class NextLinkPaginator(BaseHATEOASPaginator):
    def get_next_url(self, response: Any) -> str | None:
        body = response.json()
        return (body.get("links") or {}).get("next") if isinstance(body, dict) else None


def plain(stream_type: type[ClinikoStream]) -> type[ClinikoStream]:
    """The stream with the SDK's paginator (settings keeps its single page)."""
    if stream_type.name == "settings":
        return stream_type

    def get_new_paginator(self: ClinikoStream) -> NextLinkPaginator:
        return NextLinkPaginator()

    return type(f"Plain{stream_type.__name__}", (stream_type,),
                {"get_new_paginator": get_new_paginator})


class BaselineTap(TapCliniko):
    name = "tap-cliniko"

    def discover_streams(self) -> list[ClinikoStream]:
        return [plain(stream_type)(tap=self) for stream_type in type(self)._stream_types()]

    @staticmethod
    def _stream_types() -> list[type[ClinikoStream]]:
        from tap_cliniko.streams import STREAM_TYPES

        return STREAM_TYPES


if __name__ == "__main__":
    BaselineTap.cli()
