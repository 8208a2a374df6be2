"""The Cliniko streams. Schemas are data (schemas/*.json, derived from Cliniko's spec); the
resources, their order and how sample mode keeps their rows are data too (resources.py): a stream
class is written only for a resource with behaviour of its own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import SinglePagePaginator

from tap_cliniko import schemas
from tap_cliniko.attachments import AttachmentStore, fetch_to
from tap_cliniko.client import ClinikoStream
from tap_cliniko.resources import RESOURCES, ClinikoResource
from tap_cliniko.rows import valid_text

SCHEMAS = SchemaDirectory(schemas)


class _Stream(ClinikoStream):
    schema = StreamSchema(SCHEMAS)


class SettingsStream(_Stream):
    """`GET /settings`: one object, no list envelope, no timestamps; always full."""

    name = "settings"
    replication_key = None
    is_sorted = False

    def get_new_paginator(self) -> SinglePagePaginator:  # type: ignore[override]
        return SinglePagePaginator()

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {}

    def check_page(self, response: requests.Response) -> None:
        """One object, not a list envelope: only its JSON is checked."""
        try:
            body = response.json()
        except ValueError:
            raise RetriableAPIError("Cliniko sent /settings as something that is not valid JSON", response) from None
        if not isinstance(body, dict):
            raise RetriableAPIError("Cliniko sent /settings as something other than an object", response)

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        body = response.json()
        if isinstance(body, dict):
            yield valid_text({"id": "settings", **body})


class PractitionersStream(_Stream):
    """Active ones at `/practitioners`, inactive at `/practitioners/inactive`: a departed
    practitioner still owns appointments, so both are read (one bookmark each)."""

    name = "practitioners"
    # the SDK copies the partition key `status` into each record: the schema declares it (build_schemas.py)
    partitions = [{"status": "active"}, {"status": "inactive"}]

    def get_url(self, context: Context | None) -> str:
        suffix = "/inactive" if context and context.get("status") == "inactive" else ""
        return f"{self.url_base}/practitioners{suffix}"


class PatientAttachmentsStream(_Stream):
    """Attachment metadata; with `attachments_dir` also the bytes, as `local_path` + `sha256`."""

    name = "patient_attachments"

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        processed = super().post_process(row, context)
        if processed is not None:
            processed.setdefault("local_path", None)
            processed.setdefault("sha256", None)
        return processed

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Downloads run on a few threads (all through the one pacer); records leave in their order,
        so the bookmark never passes an attachment that is not on disk yet."""
        store: AttachmentStore | None = self.cliniko_tap.attachment_store
        records = super().get_records(context)
        yield from (records if store is None else store.attach_all(records, self._download))

    def _download(self, url: str, path: Any) -> str:
        """One paced, retried request to Cliniko, then the storage fetch without credentials."""

        def attempt() -> str:
            request = requests.Request("GET", url, headers=self.http_headers)
            prepared = self.requests_session.prepare_request(request)
            prepared.prepare_auth(self.authenticator)
            first = self.requests_session.send(prepared, timeout=self.timeout, allow_redirects=False, stream=True)
            self.validate_response(first)
            try:
                return fetch_to(path, first, self.timeout, self.config["user_agent"])
            except requests.HTTPError as exc:  # storage refused: ask Cliniko for a fresh signed URL
                raise RetriableAPIError(f"attachment storage answered {exc.response.status_code}",
                                        exc.response) from None

        return self.request_decorator(lambda *_: attempt())()


def _plain(resource: ClinikoResource) -> type[ClinikoStream]:
    """A list endpoint with nothing special beyond its name and how sample mode keeps rows."""
    class_name = "".join(part.title() for part in resource.name.split("_")) + "Stream"
    return type(class_name, (_Stream,), {"name": resource.name, "__module__": __name__})


_SPECIAL: dict[str, type[ClinikoStream]] = {
    "settings": SettingsStream,
    "practitioners": PractitionersStream,
    "patient_attachments": PatientAttachmentsStream,
}

#: One stream per Cliniko resource, in the sync order of resources.py.
STREAM_TYPES: list[type[ClinikoStream]] = [_SPECIAL.get(r.name) or _plain(r) for r in RESOURCES]
SYNC_ORDER: list[str] = [stream_type.name for stream_type in STREAM_TYPES]
