"""TapCliniko: settings, streams, and the run-wide pieces streams share (pacer, sample, downloads)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from functools import cached_property
from types import FrameType
from typing import Any

import requests
from singer_sdk import Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_cliniko.attachments import AttachmentStore
from tap_cliniko.client import ClinikoError, ClinikoStream
from tap_cliniko.pacing import RequestPacer
from tap_cliniko.pagination import PagingError
from tap_cliniko.progress import Progress
from tap_cliniko.rows import add_link_ids
from tap_cliniko.sampling import SampleScope, id_filters, merged_into
from tap_cliniko.settings import CONFIG_SCHEMA, DEFAULT_MAX_RPM, api_base_url, insecure_base_url
from tap_cliniko.streams import STREAM_TYPES


def unreachable_reason(exc: BaseException) -> str:
    """What went wrong with a connection, in words (never the URL's query or a key)."""
    text = " ".join(str(part) for part in (exc, exc.__context__, exc.__cause__) if part)
    if isinstance(exc, requests.exceptions.SSLError) or "SSL" in text or "CERTIFICATE" in text:
        return "the TLS connection failed (a certificate or protocol problem)"
    if "Name or service not known" in text or "NameResolution" in text or "getaddrinfo" in text or \
            "Temporary failure in name resolution" in text:
        return "its host name does not resolve"
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "the connection was refused"
    return f"{type(exc).__name__}"


class Interrupted(BaseException):
    """SIGINT/SIGTERM, raised in the main thread (a BaseException, like KeyboardInterrupt, so no retry loop
    or `except Exception` takes it for a failed request)."""

    def __init__(self, signum: int) -> None:
        super().__init__("SIGINT (Ctrl-C)" if signum == signal.SIGINT else signal.Signals(signum).name)
        self.exit_code = 128 + signum


class TapCliniko(Tap):
    """Reads every Cliniko resource the migration and a warehouse need, incrementally."""

    name = "tap-cliniko"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = MsgSpecWriter  # the SDK's msgspec encoder: a fifth of the tap's CPU was JSON out
    reached_cliniko = False  # set by the first answer of this run (client.py: retries only after it)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The SDK's handler writes the STATE from inside the signal handler and exits 0, so a script
        # cannot tell an interrupted read from a finished one: stop in the main thread instead (sync_all
        # still ends the output with the STATE of what was emitted) and exit 128 + the signal number.
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._interrupt)
        self._interrupted = False
        # The SDK logs a METRIC line per request and per stream at INFO: hundreds of them between the progress
        # lines people read (progress.py). TAP_CLINIKO_METRICS=1 brings them back.
        if os.environ.get("TAP_CLINIKO_METRICS") != "1":
            self.metrics_logger.setLevel(logging.WARNING)

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        if not self._interrupted:  # a second signal (Meltano sends SIGTERM after Ctrl-C) lets the first finish
            self._interrupted = True
            raise Interrupted(signum)

    def discover_streams(self) -> list[ClinikoStream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    def load_streams(self) -> list[ClinikoStream]:  # type: ignore[override]
        """Keep the dependency order of STREAM_TYPES (the SDK would sort by name)."""
        return self.discover_streams()

    @cached_property
    def pacer(self) -> RequestPacer:
        return RequestPacer(int(self.config.get("max_requests_per_minute", DEFAULT_MAX_RPM)))

    @cached_property
    def progress(self) -> Progress:
        return Progress(self.logger)

    @cached_property
    def sample(self) -> SampleScope:
        return SampleScope(self.config.get("sample_patients"), self._first_patient_ids, self._list_values)

    @cached_property
    def attachment_store(self) -> AttachmentStore | None:
        folder = self.config.get("attachments_dir")
        if not folder:
            return None
        try:
            store = AttachmentStore(folder)
        except OSError as exc:
            raise ClinikoError(f"attachments_dir cannot be used ({exc.strerror}): choose a writable folder.") from None
        if not os.access(store.root, os.W_OK | os.X_OK):
            raise ClinikoError(f"attachments_dir {folder} is read-only: choose a writable folder.")
        return store

    def _pages(self, resource: str, params: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
        """Rows of a sorted-by-id listing, through the streams' paced and retried client."""
        stream: ClinikoStream = self.streams["patients"]  # type: ignore[assignment]
        rows: list[dict[str, Any]] = []
        page = 1
        while limit is None or len(rows) < limit:  # sorted by id: new rows append, pages are stable
            body = stream.fetch_json(f"{stream.url_base}/{resource}",
                                     {"per_page": 100, "page": page, "sort": "id", **params})
            batch = body.get(resource) or []
            rows += batch
            if not batch or not (body.get("links") or {}).get("next"):
                break
            page += 1
        return rows[:limit] if limit is not None else rows

    def _first_patient_ids(self, n: int) -> list[str]:
        """The N lowest patient ids, archived and deleted ones included, and every patient one of them was
        merged into: a merged patient's records belong to the survivor, which must be in the sample too."""
        stream: ClinikoStream = self.streams["patients"]  # type: ignore[assignment]
        hidden = stream.soft_delete_filters()
        rows = self._pages("patients", {"q[]": hidden}, limit=n)
        if len(rows) < n:  # a sample that is the whole clinic: the "full run" after it finds nothing new
            self.logger.warning("sample_patients %d covers the whole clinic (%d patients): this sample is the full "
                                "migration; choose a smaller sample to rehearse on part of it", n, len(rows))
        ids = [str(r["id"]) for r in rows]
        while survivors := sorted(merged_into(rows, stream.row_shape.links) - set(ids), key=int):
            ids += survivors
            rows = [r for f in id_filters("id", survivors) for r in self._pages("patients", {"q[]": hidden + f})]
        return ids

    def _list_values(self, resource: str, filters: list[str], field: str) -> list[str]:
        stream: ClinikoStream = self.streams[resource]  # type: ignore[assignment]
        rows = self._pages(resource, {"q[]": stream.soft_delete_filters() + filters})
        for row in rows:
            add_link_ids(row, stream.row_shape.links)
        return [str(row[field]) for row in rows if row.get(field)]

    def sync_all(self) -> None:
        host = insecure_base_url(self.config)
        if host:
            raise ClinikoError(f"base_url must use https for {host}: only loopback addresses may use plain http.")
        _ = self.attachment_store  # an unusable attachments_dir stops the run before the first record
        try:
            try:
                super().sync_all()
            except (Exception, Interrupted):
                # Sorted streams advance their bookmark record by record: hand the
                # progress to the target so the next run resumes here, not from the start.
                if self.state:
                    self.state_writer.write_state(self.state)
                raise
        except PagingError as exc:
            raise ClinikoError(f"{exc}; the progress so far is saved in the state.") from None
        except requests.exceptions.ConnectionError as exc:
            if not self.reached_cliniko:  # never answered: a setting to fix, said at once (client.py)
                raise ClinikoError(f"Cannot reach Cliniko at {api_base_url(self.config)}: {unreachable_reason(exc)}; "
                                   "check the `base_url` setting (or the shard in `api_key`) and the network."
                                   ) from None
            raise ClinikoError(
                f"Lost Cliniko at {api_base_url(self.config)} after retries ({unreachable_reason(exc)}): try again "
                "later; the progress so far is saved in the state."
            ) from None
        except RetriableAPIError as exc:
            raise ClinikoError(
                f"Cliniko kept failing ({exc}) after {self.config.get('max_retries', 12)} attempts: "
                "try again later; the progress so far is saved in the state."
            ) from None
        except FatalAPIError as exc:
            raise ClinikoError(
                f"Cliniko refused a request ({exc}); the progress so far is saved in the state."
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
        except Interrupted as exc:
            print(f"tap-cliniko: stopped by {exc}; the records read so far are followed by their STATE: run again "
                  "to continue from there.", file=sys.stderr, flush=True)
            sys.exit(exc.exit_code)


if __name__ == "__main__":
    TapCliniko.cli()
