"""The one Cliniko HTTP client: base stream with auth, headers, pacing, retries and errors.

Every request of the tap, list pages and attachment downloads alike, is sent by a session of
`requests_session`, whose transport adapter waits for the run's pacer (pacing.py), and is retried
by `request_decorator`, so the rate limit and the retry policy each live in one place. Pages come
from the SDK's own page loop (`RESTStream.request_records`), one request at a time: at Cliniko's
200 requests/minute a page arrives every 0.3 s, and fetching the next one while the rows of this one
are emitted (what this tap once did) measured 1.00x at the real limit (bench, 2026-11-24).
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import backoff
import requests
from requests.auth import HTTPBasicAuth
from singer_sdk import RESTStream
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.types import Context

from tap_cliniko.pacing import PacedAdapter, RequestPacer
from tap_cliniko.pagination import KeysetPaginator, page_body, row_position
from tap_cliniko.progress import Progress
from tap_cliniko.resources import BY_NAME
from tap_cliniko.rows import RowShape, may_hold_surrogates, valid_text
from tap_cliniko.settings import api_base_url

if TYPE_CHECKING:
    from tap_cliniko.tap import TapCliniko

SOFT_DELETE_FIELDS = ("archived_at", "cancelled_at", "deleted_at")
MAX_TRIES = 12
MAX_WAIT_S = 60.0


def _rows_before(response: requests.Response) -> int:
    """How many rows of the result set come before this page (its `page` and `per_page`)."""
    request = getattr(response, "request", None)
    query = parse_qs(urlparse(getattr(request, "url", "") or "").query)
    try:
        page, per_page = int(query.get("page", ["1"])[-1]), int(query.get("per_page", ["100"])[-1])
    except ValueError:
        return 0
    return max(0, page - 1) * per_page


class ClinikoError(Exception):
    """A failure the operator must fix; its message is one sentence, safe to print."""


class ClinikoStream(RESTStream[Any]):
    """Base for every Cliniko list endpoint (`/v1/<name>`, envelope key = `<name>`)."""

    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    STATE_MSG_FREQUENCY = 500
    # Rows are parsed JSON: no dates, bytes or Decimals to convert. `post_process` keeps what the
    # SDK's pass did for us (rows.py), compiled once per stream instead of walked per value.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    extra_retry_statuses = (429,)
    current_paginator: Any = None  # the paginator of the page loop running now (its cursor drops overlap rows)

    def __init__(self, tap: TapCliniko, **kwargs: Any) -> None:
        super().__init__(tap, **kwargs)
        self.cliniko_tap = tap  # the run-wide pieces streams share: pacer, progress, sample, attachment store

    @property
    def sample_by(self) -> str | None:
        """How sample mode decides a row belongs to a sampled patient (resources.py)."""
        return BY_NAME[self.name].sample_by

    @property
    def url_base(self) -> str:
        return api_base_url(self.config)

    @property
    def path(self) -> str:  # type: ignore[override]
        return f"/{self.name}"

    @property
    def records_key(self) -> str:
        return self.name

    @property
    def records_jsonpath(self) -> str:  # type: ignore[override]
        return f"$.{self.records_key}[*]"

    @property
    def requests_session(self) -> requests.Session:
        """One session per thread (attachment downloads run on a few): a Session is not thread-safe. Each
        sends through the run's pacer, so no request to Cliniko can skip it."""
        local = self.__dict__.setdefault("_sessions", threading.local())
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            adapter = PacedAdapter(self.pacer)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        return session

    @cached_property
    def authenticator(self) -> HTTPBasicAuth:  # type: ignore[override]
        return HTTPBasicAuth(self.config["api_key"], "")

    @property
    def http_headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "User-Agent": self.config["user_agent"]}

    @property
    def timeout(self) -> int:
        return int(self.config.get("request_timeout", 60))

    @property
    def pacer(self) -> RequestPacer:
        return self.cliniko_tap.pacer

    @property
    def progress(self) -> Progress:
        return self.cliniko_tap.progress

    # -- requests ----------------------------------------------------------------
    def soft_delete_filters(self) -> list[str]:
        """`field:*` for each archived/cancelled/deleted timestamp this resource has."""
        props = self.schema.get("properties", {})
        return [f"{name}:*" for name in SOFT_DELETE_FIELDS if name in props]

    def get_new_paginator(self) -> KeysetPaginator:
        self.current_paginator = KeysetPaginator(self.records_key)
        return self.current_paginator

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        if next_page_token:
            return {}  # the paginator's URL carries every param (and the bookmark may be moving meanwhile)
        params: dict[str, Any] = {"per_page": int(self.config.get("page_size", 100)), "page": 1}
        filters = self.soft_delete_filters() + self.extra_filters(context)
        if self.replication_key:
            start = self.get_starting_timestamp(context)
            if start is not None:
                filters.append(f"updated_at:>={start.strftime('%Y-%m-%dT%H:%M:%SZ')}")
            params["sort"] = "updated_at,id"
        if filters:
            params["q[]"] = filters
        return params

    def extra_filters(self, context: Context | None) -> list[str]:
        """Server-side filters a stream adds (sample mode narrows by patient here)."""
        return self.cliniko_tap.sample.server_filters(self)

    def get_http_request(self, *, page: Any) -> Any:
        request = super().get_http_request(page=page)
        if page.next_page_token:  # the paginator's URL already carries every param
            request.url = page.next_page_token.geturl()
            request.params = {}
        return request

    def fetch_json(self, url: str, params: dict[str, Any]) -> Any:
        """One paced, retried GET outside the stream's page loop (sample ids, verify's census): its JSON."""
        request = requests.Request("GET", url, headers=self.http_headers, params=params)
        prepared = self.requests_session.prepare_request(request)
        prepared.prepare_auth(self.authenticator)

        def send() -> requests.Response:
            response = self.requests_session.send(prepared, timeout=self.timeout)
            self.validate_response(response)
            return response

        return page_body(self.request_decorator(send)())

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 401:
            raise ClinikoError(
                "Cliniko rejected the API key (HTTP 401): check the tap-cliniko `api_key` setting "
                "and that `base_url` is the shard the key belongs to."
            )
        if status == 403:
            raise ClinikoError(
                f"Cliniko refused access to /{self.name} (HTTP 403): check that `user_agent` is "
                "'AppName (contact@email)' and that the `api_key` user may read this data (an administrator's key)."
            )
        if status == 429:
            self._honour_rate_limit_reset(response)
        super().validate_response(response)
        self.check_page(response)

    def check_page(self, response: requests.Response) -> None:
        """A page that is not a list envelope, or is empty but says more rows follow, is read again:
        a proxy's error page or a glitch usually passes; if it does not, the run stops with one sentence."""
        key = self._list_key(response)
        if key is None:
            return
        try:
            body = page_body(response)
        except ValueError:
            raise RetriableAPIError(f"Cliniko sent a page of /{self.name} that is not valid JSON", response) from None
        rows = body.get(key) if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise RetriableAPIError(f"Cliniko sent a page of /{self.name} without a `{key}` list", response)
        total = body.get("total_entries")
        counted = isinstance(total, int) and not isinstance(total, bool) and total > _rows_before(response)
        if not rows and ((body.get("links") or {}).get("next") or counted):
            # a `next` link, or a count of rows this page should start with: either way rows were withheld
            raise RetriableAPIError(f"Cliniko sent an empty page of /{self.name} that says more rows follow",
                                    response)

    def _list_key(self, response: requests.Response) -> str | None:
        """The envelope key of a successful list page (`/patients`, `/practitioners/inactive`), else None."""
        if response.status_code != 200:
            return None
        base = urlparse(self.url_base).path.rstrip("/")
        path = urlparse(response.url).path
        parts = (path[len(base):] if path.startswith(base) else path).strip("/").split("/")
        if len(parts) == 1 or parts[1:] == ["inactive"]:
            return parts[0] or None
        return None

    def response_error_message(self, response: requests.Response) -> str:
        """Status and path only: bodies and query strings can carry patient data."""
        return f"HTTP {response.status_code} from Cliniko for {urlparse(response.url).path}"

    def _honour_rate_limit_reset(self, response: requests.Response) -> None:
        reset = response.headers.get("X-RateLimit-Reset")
        retry_after = response.headers.get("Retry-After")
        try:
            if reset:
                self.pacer.pause_until(min(float(reset), time.time() + MAX_WAIT_S) + 0.05)
            elif retry_after:
                self.pacer.pause_until(time.time() + min(float(retry_after), MAX_WAIT_S))
        except ValueError:
            pass  # malformed header: fall back to exponential backoff

    def request_decorator(self, func: Any) -> Any:
        """The SDK's retry policy, with two changes: a connection that cannot be made before Cliniko ever
        answered this run (refused, a name that does not resolve, TLS) is a setting to fix, not a glitch to
        wait out for minutes (`first_contact_failure`); and each retry is one log line, not the exception's
        repr (backoff's own logging is off, `backoff_handler` writes the line)."""
        retried = (ConnectionResetError, RetriableAPIError, requests.exceptions.Timeout,
                   requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                   requests.exceptions.ContentDecodingError)

        def answered(*args: Any, **kwargs: Any) -> Any:
            result = func(*args, **kwargs)
            self.cliniko_tap.reached_cliniko = True
            return result

        return backoff.on_exception(self.backoff_wait_generator, retried, max_tries=self.backoff_max_tries,
                                   on_backoff=self.backoff_handler, jitter=self.backoff_jitter,
                                   giveup=self.first_contact_failure, logger=None)(answered)

    def first_contact_failure(self, exc: Exception) -> bool:
        """True for a connection error before any answer from Cliniko in this run: raised at once."""
        if self.cliniko_tap.reached_cliniko or isinstance(exc, requests.exceptions.Timeout):
            return False
        if isinstance(exc, RetriableAPIError) and exc.response is not None:
            self.cliniko_tap.reached_cliniko = True  # it answered, with an error
            return False
        return isinstance(exc, requests.exceptions.ConnectionError)

    def backoff_wait_generator(self) -> Any:
        def waits() -> Any:
            wait = 0.25
            while True:
                yield wait
                wait = min(wait * 2, 30.0)

        return waits()

    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", MAX_TRIES))

    def backoff_jitter(self, value: float) -> float:
        return value

    def backoff_handler(self, details: Any) -> None:
        exc = details.get("exception")
        reason = type(exc).__name__
        if isinstance(exc, RetriableAPIError) and exc.response is not None:
            reason = f"HTTP {exc.response.status_code}"
        self.logger.warning("Retrying %s after %s (attempt %d)", self.name, reason, details.get("tries", 0))

    # -- responses ---------------------------------------------------------------
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        body = page_body(response)
        self._note_server_time(response)
        if "total_entries" in body and getattr(self, "_total", None) is None:
            self._total = body["total_entries"]
            self.progress.expect(self.name, int(body["total_entries"]))
        cursor = getattr(self.current_paginator, "cursor", None)  # the cursor this page was asked after
        needs_text_pass = may_hold_surrogates(response.content)
        for row in body[self.records_key]:
            position = row_position(row)
            if cursor is not None and position is not None and not cursor.is_after(*position):
                continue  # already emitted from the previous page (keyset overlap)
            if not isinstance(row, dict):
                self.logger.warning("Skipped an entry of /%s that is not an object", self.name)
                continue
            yield valid_text(row) if needs_text_pass else row

    @cached_property
    def row_shape(self) -> RowShape:
        return RowShape.of(self.schema)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        row, unknown = self.row_shape.apply(row)
        if unknown and not getattr(self, "_warned_unknown", False):
            self._warned_unknown = True  # field names, never values: they carry no patient data
            self.logger.warning("Cliniko sent fields /%s's schema does not have; they are left out: %s",
                                self.name, ", ".join(sorted(unknown)[:20]))
        if not self.cliniko_tap.sample.keep(self, row):
            return None
        self.progress.advance(self.name)
        return row

    # -- state -------------------------------------------------------------------
    def _note_server_time(self, response: requests.Response) -> None:
        """Remember Cliniko's clock at the first page: the bookmark never passes it."""
        if getattr(self, "_server_started_at", None):
            return
        parsed = email.utils.parsedate_to_datetime(response.headers["Date"]) if "Date" in response.headers else None
        if parsed is not None:
            self._server_started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(parsed.timestamp() - 1))

    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        """Cap the bookmark at Cliniko's time when the sync began.

        A row changed in the same second as the tail of the stream can sort before the
        cursor and be passed over; the next run starts from the cap and reads it.
        """
        cap = getattr(self, "_server_started_at", None)
        if cap and self.replication_key:
            for part in [self.stream_state, *self.stream_state.get("partitions", [])]:
                value = part.get("replication_key_value")
                if isinstance(value, str) and value > cap:
                    part["replication_key_value"] = cap
        self.progress.finish(self.name)
        super().finalize_state_progress_markers(state)

