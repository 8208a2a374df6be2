"""The Cliniko streams. Schemas are data (schemas/*.json, derived from Cliniko's spec).

Order matters in sample mode: invoices before invoice items, attendees before group
appointments, so the ids they bring into the sample are known when needed.
"""

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

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        body = response.json()
        if isinstance(body, dict):
            yield {"id": "settings", **body}


class UsersStream(_Stream):
    name = "users"


class PractitionersStream(_Stream):
    """Active ones at `/practitioners`, inactive at `/practitioners/inactive`: a departed
    practitioner still owns appointments, so both are read (one bookmark each)."""

    name = "practitioners"
    partitions = [{"status": "active"}, {"status": "inactive"}]

    def get_url(self, context: Context | None) -> str:
        suffix = "/inactive" if context and context.get("status") == "inactive" else ""
        return f"{self.url_base}/practitioners{suffix}"


class BusinessesStream(_Stream):
    name = "businesses"


class AppointmentTypesStream(_Stream):
    name = "appointment_types"


class BillableItemsStream(_Stream):
    name = "billable_items"


class ProductsStream(_Stream):
    name = "products"


class ContactsStream(_Stream):
    name = "contacts"


class PatientsStream(_Stream):
    name = "patients"


class PatientCasesStream(_Stream):
    name = "patient_cases"
    sample_by = "patient"


class MedicalAlertsStream(_Stream):
    name = "medical_alerts"
    sample_by = "patient"


class IndividualAppointmentsStream(_Stream):
    name = "individual_appointments"
    sample_by = "patient"


class AttendeesStream(_Stream):
    name = "attendees"
    sample_by = "patient"


class GroupAppointmentsStream(_Stream):
    name = "group_appointments"
    sample_by = "booking"


class TreatmentNotesStream(_Stream):
    name = "treatment_notes"
    sample_by = "patient"


class InvoicesStream(_Stream):
    name = "invoices"
    sample_by = "patient"


class InvoiceItemsStream(_Stream):
    name = "invoice_items"
    sample_by = "invoice"


class CommunicationsStream(_Stream):
    name = "communications"
    sample_by = "patient"


class PatientAttachmentsStream(_Stream):
    """Attachment metadata; with `attachments_dir` also the bytes, as `local_path` + `sha256`."""

    name = "patient_attachments"
    sample_by = "patient"

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        processed = super().post_process(row, context)
        if processed is None:
            return None
        processed.setdefault("local_path", None)
        processed.setdefault("sha256", None)
        store: AttachmentStore | None = self._tap.attachment_store  # type: ignore[attr-defined]
        content_url = ((processed.get("content") or {}).get("links") or {}).get("self")
        if store is None or not content_url:
            return processed
        path = store.target_path(processed)
        digest = store.up_to_date(processed, path)
        if digest is None:
            digest = self._download(content_url, path)
            store.downloaded += 1
        else:
            store.skipped += 1
        store.remember(processed, path, digest)
        processed["local_path"] = str(path)
        processed["sha256"] = digest
        return processed

    def _download(self, url: str, path: Any) -> str:
        """One paced, retried request to Cliniko, then the storage fetch without credentials."""

        def attempt() -> str:
            request = requests.Request("GET", url, headers=self.http_headers)
            prepared = self.requests_session.prepare_request(request)
            prepared.prepare_auth(self.authenticator)
            self.pacer.acquire()
            first = self.requests_session.send(prepared, timeout=self.timeout, allow_redirects=False, stream=True)
            self.validate_response(first)
            try:
                return fetch_to(path, first, self.timeout, self.config["user_agent"])
            except requests.HTTPError as exc:  # storage refused: ask Cliniko for a fresh signed URL
                raise RetriableAPIError(f"attachment storage answered {exc.response.status_code}",
                                        exc.response) from None

        return self.request_decorator(lambda *_: attempt())()


STREAM_TYPES: list[type[ClinikoStream]] = [
    SettingsStream,
    UsersStream,
    PractitionersStream,
    BusinessesStream,
    AppointmentTypesStream,
    BillableItemsStream,
    ProductsStream,
    ContactsStream,
    PatientsStream,
    PatientCasesStream,
    MedicalAlertsStream,
    IndividualAppointmentsStream,
    AttendeesStream,
    GroupAppointmentsStream,
    TreatmentNotesStream,
    InvoicesStream,
    InvoiceItemsStream,
    PatientAttachmentsStream,
    CommunicationsStream,
]
