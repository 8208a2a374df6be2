"""A full sync of the small clinic, read back against the sandbox's own data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker
from tap_helpers import TapRun, run_tap, select_streams, tap_config

from tap_cliniko.rows import link_id

LIST_STREAMS = [
    "patients", "practitioners", "users", "businesses", "appointment_types", "individual_appointments",
    "group_appointments", "attendees", "treatment_notes", "invoices", "invoice_items", "products",
    "billable_items", "patient_attachments", "communications", "contacts", "medical_alerts", "patient_cases",
    "appointment_type_billable_items",
]


@pytest.fixture(scope="module")
def synced(cliniko_sandbox_module: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, TapRun]:
    tmp = tmp_path_factory.mktemp("sync")
    run = run_tap(tmp, tap_config(cliniko_sandbox_module))
    assert run.returncode == 0, run.stderr[-2000:]
    return cliniko_sandbox_module, run


def sandbox_rows(sandbox: Any, stream: str) -> list[dict[str, Any]]:
    body = sandbox.admin("GET", f"/_admin/records/{stream}")
    return body[stream] if isinstance(body, dict) else body


@pytest.mark.parametrize("stream", LIST_STREAMS)
def test_every_row_is_emitted_once_including_hidden_ones(synced: tuple[Any, TapRun], stream: str) -> None:
    sandbox, run = synced
    expected = sorted(r["id"] for r in sandbox_rows(sandbox, stream))
    got = run.ids(stream)
    assert expected, f"the small clinic has no {stream}: the test would prove nothing"
    assert sorted(set(got)) == expected
    assert len(got) == len(set(got)), "a record was emitted twice in one clean run"


def test_settings_is_one_record(synced: tuple[Any, TapRun]) -> None:
    _, run = synced
    assert len(run.records["settings"]) == 1
    assert run.records["settings"][0]["id"] == "settings"
    assert "patient_custom_fields_definition" in run.records["settings"][0]


@pytest.mark.parametrize("stream", [*LIST_STREAMS, "settings"])
def test_records_validate_against_their_schema(synced: tuple[Any, TapRun], stream: str) -> None:
    _, run = synced
    validator = Draft7Validator(run.schemas[stream], format_checker=FormatChecker())
    for record in run.records[stream]:
        errors = sorted(validator.iter_errors(record), key=str)
        assert not errors, f"{stream} {record.get('id')}: {errors[0].message} at {list(errors[0].absolute_path)}"


@pytest.mark.parametrize("stream", LIST_STREAMS)
def test_relation_ids_match_the_links(synced: tuple[Any, TapRun], stream: str) -> None:
    sandbox, run = synced
    source = {r["id"]: r for r in sandbox_rows(sandbox, stream)}
    schema_props = run.schemas[stream]["properties"]
    checked = 0
    for record in run.records[stream]:
        original = source[record["id"]]
        for prop in schema_props:
            if prop.endswith("_id") and prop[:-3] in schema_props:
                assert record[prop] == link_id(original.get(prop[:-3])), (stream, prop)
                checked += record[prop] is not None
    if stream in {"individual_appointments", "attendees", "treatment_notes", "invoices", "invoice_items",
                  "patient_attachments", "communications", "medical_alerts", "patient_cases",
                  "appointment_type_billable_items"}:
        assert checked > 0, f"{stream} carries no relation at all"


def test_hidden_rows_are_present(synced: tuple[Any, TapRun]) -> None:
    _, run = synced
    patients = run.records["patients"]
    assert any(p.get("archived_at") for p in patients), "archived patients missing"
    assert any(p.get("deleted_at") for p in patients), "deleted patients missing"
    assert any(p.get("merged_at") and p.get("merged_with_patient_id") for p in patients), "merged patients missing"
    appointments = run.records["individual_appointments"]
    assert any(a.get("cancelled_at") for a in appointments), "cancelled appointments missing"
    assert any(a.get("did_not_arrive") for a in appointments), "no-shows missing"
    assert any(a.get("cancelled_at") for a in run.records["attendees"]), "cancelled attendees missing"
    assert any(p.get("active") is False for p in run.records["practitioners"]), "inactive practitioner missing"


def test_inactive_practitioner_still_owns_appointments(synced: tuple[Any, TapRun]) -> None:
    _, run = synced
    inactive = {p["id"] for p in run.records["practitioners"] if p.get("active") is False}
    owners = {a["practitioner_id"] for a in run.records["individual_appointments"]}
    assert inactive & owners


def test_final_state_has_a_bookmark_per_incremental_stream(synced: tuple[Any, TapRun]) -> None:
    _, run = synced
    bookmarks = run.last_state["bookmarks"]
    for stream in LIST_STREAMS:
        state = bookmarks[stream]
        parts = state.get("partitions") or [state]
        assert all(p.get("replication_key") == "updated_at" for p in parts), stream
        assert all(p.get("replication_key_value") for p in parts), stream
        assert all("progress_markers" not in p for p in parts), stream


def test_discover_lists_every_stream(tmp_path: Path, cliniko_sandbox_module: Any) -> None:
    import json
    import subprocess
    import sys

    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(cliniko_sandbox_module)))
    out = subprocess.run([sys.executable, "-m", "tap_cliniko", "--config", str(config), "--discover"],
                         capture_output=True, text=True, check=True)
    catalog = json.loads(out.stdout)
    names = {s["tap_stream_id"] for s in catalog["streams"]}
    assert names == {*LIST_STREAMS, "settings"}
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] != "settings":
            assert entry["key_properties"] == ["id"]
            assert entry["replication_key"] == "updated_at"


def test_catalog_selection_limits_the_streams(tmp_path: Path, cliniko_sandbox_module: Any) -> None:
    config = tap_config(cliniko_sandbox_module)
    run = run_tap(tmp_path / "run", config, catalog=select_streams(tmp_path, config, ["contacts"]))
    assert run.returncode == 0, run.stderr[-1500:]
    assert set(run.records) == {"contacts"}


def test_progress_per_stream_goes_to_stderr(synced: tuple[Any, TapRun]) -> None:
    _, run = synced
    total = len(run.records["patients"])
    assert f"done patients: {total} records" in run.stderr
    assert f"{total}/{total}" in run.stderr  # the expected total comes from Cliniko's total_entries
    assert "done patients" not in run.stdout  # stdout carries Singer messages only


def test_stream_maps_drop_and_derive_fields(tmp_path: Path, cliniko_sandbox_module: Any) -> None:
    config = tap_config(cliniko_sandbox_module, stream_maps={
        "patients": {"email": "__NULL__", "initials": "first_name[:1] + last_name[:1]"},
        "communications": "__NULL__",
    })
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-1500:]
    assert "communications" not in run.records
    patients = run.records["patients"]
    assert patients and all("email" not in p for p in patients)
    assert all(p["initials"] == p["first_name"][:1] + p["last_name"][:1] for p in patients)


def test_streams_arrive_parents_first(synced: tuple[Any, TapRun]) -> None:
    """A loader sees patients before their records and group appointments before attendees."""
    _, run = synced
    order: list[str] = []
    for line in run.stdout.splitlines():
        if '"type":"RECORD"' in line.replace(" ", ""):
            stream = line.split('"stream":', 1)[1].split('"')[1]
            if not order or order[-1] != stream:
                order.append(stream)
    assert len(order) == len(set(order)), "a stream was interleaved with another"
    for parent, child in [("patients", "individual_appointments"), ("group_appointments", "attendees"),
                          ("invoices", "invoice_items"), ("practitioners", "individual_appointments"),
                          ("settings", "patients"), ("patients", "treatment_notes")]:
        assert order.index(parent) < order.index(child), (parent, child)
