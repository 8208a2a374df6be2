"""The SDK's page loop over Cliniko's keyset pages: rows in order, errors where they happened and
nothing lost; every request, pages, sample lookups and downloads alike, through the one pacer."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from tap_helpers import tap_config

from sandbox.cliniko.auth import KeyRing
from tap_cliniko.client import ClinikoError
from tap_cliniko.pagination import PagingError
from tap_cliniko.tap import TapCliniko


def _patients_stream(sandbox: Any, **config: Any) -> Any:
    tap = TapCliniko(config=tap_config(sandbox, **config), setup_mapper=False)
    return tap.streams["patients"]


def test_a_failing_page_stops_the_run_after_the_rows_before_it(cliniko_sandbox: Any) -> None:
    """Page 3 answers 401 (the key revoked while page 2 was served): pages 1 and 2 arrive, then the error."""
    calls = {"n": 0}

    def revoke(request: Any, response: Any) -> None:
        if request.path == "/v1/patients":
            calls["n"] += 1
            if calls["n"] == 2:
                cliniko_sandbox.app.keys = KeyRing(["some-other-key"])

    cliniko_sandbox.app.observers.append(revoke)
    stream = _patients_stream(cliniko_sandbox, page_size=5)
    got: list[str] = []
    with pytest.raises(ClinikoError, match="rejected the API key"):
        for row in stream.request_records(None):
            got.append(row["id"])
    patients = cliniko_sandbox.admin("GET", "/_admin/records/patients")["patients"]
    ordered = [p["id"] for p in sorted(patients, key=lambda p: (p["updated_at"], int(p["id"])))]
    assert got == ordered[:9]  # page 2 starts at page 1's last row (keyset `>=`), which is not emitted twice


def test_a_looping_next_link_still_emits_the_page_then_stops(cliniko_sandbox: Any) -> None:
    """From the second request on, Cliniko answers with page one again: its rows arrive once, then one error."""
    cliniko_sandbox.admin("POST", "/_admin/responses", {"path": "/v1/patients", "after": 1, "times": None,
                                                        "replay": True})
    stream = _patients_stream(cliniko_sandbox, page_size=5)
    got: list[str] = []
    with pytest.raises(PagingError, match="loops"):
        for row in stream.request_records(None):
            got.append(row["id"])
    assert len(got) == 5 and len(set(got)) == 5


def test_every_request_to_cliniko_waits_for_the_pacer(cliniko_sandbox: Any, tmp_path: Any) -> None:
    """Pages, the sample's id lookups and attachment downloads: the sandbox served exactly as many Cliniko
    requests as the pacer let through (the storage fetches after a download's redirect are not Cliniko's)."""
    served: list[str] = []
    cliniko_sandbox.app.observers.append(lambda request, response: served.append(request.path))
    config = tap_config(cliniko_sandbox, page_size=20, sample_patients=3, attachments_dir=str(tmp_path / "files"))
    tap = TapCliniko(config=config)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out):  # the tap writes Singer lines to stdout's binary buffer
        tap.sync_all()
    cliniko = [path for path in served if path.startswith("/v1/")]
    assert any(path.endswith("/content") for path in cliniko), "no attachment was downloaded: the test proves less"
    assert any("patients" in path for path in cliniko)
    assert tap.pacer.requests == len(cliniko)
