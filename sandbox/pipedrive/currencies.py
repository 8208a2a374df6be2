"""v1 currencies: the account's supported currencies, optionally narrowed by `term`.

Pipedrive lists every ISO currency it supports; the sandbox lists a fixed handful (the
account's default, AUD, first) with the spec's fields. `term` matches part of the code or the
name, case-insensitively, as Pipedrive's search box does. No paging: the spec has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.common.http import Request, Response
from sandbox.pipedrive.responses import ok

if TYPE_CHECKING:
    from sandbox.pipedrive.app import PipedriveApp

CURRENCIES = (("AUD", "Australian Dollar", "A$"), ("NZD", "New Zealand Dollar", "NZ$"), ("USD", "US Dollar", "$"),
              ("EUR", "Euro", "€"), ("GBP", "British Pound", "£"), ("CAD", "Canadian Dollar", "CA$"),
              ("SGD", "Singapore Dollar", "SGD"), ("JPY", "Japanese Yen", "¥"))
ZERO_DECIMALS = ("JPY",)


def register(app: PipedriveApp) -> None:
    app.v1("GET", "/currencies", list_currencies)


def rows() -> list[dict[str, Any]]:
    return [{"id": i, "code": code, "name": name, "decimal_points": 0 if code in ZERO_DECIMALS else 2,
             "symbol": symbol, "active_flag": True, "is_custom_flag": False}
            for i, (code, name, symbol) in enumerate(CURRENCIES, start=1)]


def list_currencies(request: Request) -> Response:
    term = (request.arg("term") or "").strip().lower()
    found = [c for c in rows() if not term or term in c["code"].lower() or term in c["name"].lower()]
    return ok(found or None)
