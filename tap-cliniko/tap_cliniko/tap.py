"""TapCliniko: settings, streams, and the run-wide pieces streams share (pacer, sample, downloads)."""

from __future__ import annotations

import sys
from functools import cached_property
from typing import Any

import requests
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError

from tap_cliniko.attachments import AttachmentStore
from tap_cliniko.client import ClinikoError, ClinikoStream
from tap_cliniko.pacing import RequestPacer
from tap_cliniko.progress import Progress
from tap_cliniko.sampling import SampleScope
from tap_cliniko.settings import CONFIG_SCHEMA, DEFAULT_MAX_RPM, api_base_url, insecure_base_url
from tap_cliniko.streams import STREAM_TYPES


class TapCliniko(Tap):
    """Reads every Cliniko resource the migration and a warehouse need, incrementally."""

    name = "tap-cliniko"
    config_jsonschema = CONFIG_SCHEMA

    def discover_streams(self) -> list[ClinikoStream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @cached_property
    def pacer(self) -> RequestPacer:
        return RequestPacer(int(self.config.get("max_requests_per_minute", DEFAULT_MAX_RPM)))

    @cached_property
    def progress(self) -> Progress:
        return Progress(self.logger)

    @cached_property
    def sample(self) -> SampleScope:
        return SampleScope(self.config.get("sample_patients"), self._first_patient_ids)

    @cached_property
    def attachment_store(self) -> AttachmentStore | None:
        folder = self.config.get("attachments_dir")
        if not folder:
            return None
        try:
            return AttachmentStore(folder)
        except OSError as exc:
            raise ClinikoError(f"attachments_dir cannot be used ({exc.strerror}): choose a writable folder.") from None

    def _first_patient_ids(self, n: int) -> list[str]:
        """The N lowest patient ids, archived and deleted ones included."""
        stream: ClinikoStream = self.streams["patients"]  # type: ignore[assignment]
        ids: list[str] = []
        page = 1
        while len(ids) < n:  # sorted by id: new patients only ever append, so pages are stable
            request = requests.Request(
                "GET", f"{stream.url_base}/patients",
                params={"per_page": 100, "page": page, "sort": "id", "q[]": stream.soft_delete_filters()},
                headers=stream.http_headers,
            )
            prepared = stream.requests_session.prepare_request(request)
            prepared.prepare_auth(stream.authenticator)
            body = stream.request_decorator(stream._request)(prepared, None).json()
            rows = body.get("patients") or []
            ids += [str(r["id"]) for r in rows]
            if not rows or not (body.get("links") or {}).get("next"):
                break
            page += 1
        return ids[:n]

    def sync_all(self) -> None:
        host = insecure_base_url(self.config)
        if host:
            raise ClinikoError(f"base_url must use https for {host}: only loopback addresses may use plain http.")
        try:
            super().sync_all()
        except requests.exceptions.ConnectionError:
            raise ClinikoError(
                f"Cannot reach Cliniko at {api_base_url(self.config)} after retries: check `base_url` and the network."
            ) from None
        except requests.exceptions.Timeout:
            raise ClinikoError(
                f"Cliniko at {api_base_url(self.config)} did not answer in time after retries: try again later."
            ) from None
        store = self.attachment_store
        if store is not None:
            self.logger.info("attachments: %d downloaded, %d already up to date", store.downloaded, store.skipped)

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Operator errors end the run with one sentence and exit code 2, no traceback."""
        try:
            super().invoke(*args, **kwargs)
        except ClinikoError as exc:
            print(f"tap-cliniko: {exc}", file=sys.stderr)
            sys.exit(2)
        except ConfigValidationError:
            raise


if __name__ == "__main__":
    TapCliniko.cli()
