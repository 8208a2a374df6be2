"""Fixtures: the small clinic of the Cliniko sandbox, shaped exactly as tap-cliniko emits it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest

from sandbox.cliniko.testing import start
from tap_cliniko.client import add_link_ids
from tap_cliniko.streams import STREAM_TYPES

# The sandbox clinic's clock is in 2024; a fixed "now" keeps future/past statuses stable.
NOW = datetime(2024, 8, 12, 0, 0, tzinfo=UTC)


def tap_properties(stream: str) -> dict[str, Any]:
    text = resources.files("tap_cliniko.schemas").joinpath(f"{stream}.json").read_text()
    return json.loads(text)["properties"]


def tap_shaped(stream: str, row: dict[str, Any]) -> dict[str, Any]:
    """A served row as the tap emits it: `<relation>_id` beside each link; attachments
    without a download (no attachments_dir) carry null local_path/sha256."""
    out = dict(row)
    add_link_ids(out, tap_properties(stream))
    if stream == "patient_attachments":
        out.setdefault("local_path", None)
        out.setdefault("sha256", None)
    return out


class Clinic:
    """Every record of the sandbox clinic, per stream, in the tap's stream order."""

    def __init__(self, records: dict[str, list[dict[str, Any]]], edges: dict[str, dict[str, str]]) -> None:
        self.records, self.edges = records, edges

    def stream(self, name: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.records[name]]

    def edge(self, key: str) -> dict[str, Any]:
        """The record of a generated edge case (e.g. "patient_rtl_arabic")."""
        where = self.edges[key]
        return next(dict(r) for r in self.records[where["resource"]] if r["id"] == where["id"])

    def in_tap_order(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for stream in self.records:
            for record in self.records[stream]:
                yield stream, dict(record)


@pytest.fixture(scope="session")
def clinic() -> Iterator[Clinic]:
    handle = start()
    try:
        records: dict[str, list[dict[str, Any]]] = {}
        for stream_type in STREAM_TYPES:
            name = stream_type.name
            if name == "settings":
                rows = [{"id": "settings", **handle.get("settings").json()}]
            else:
                rows = handle.admin("GET", f"/_admin/records/{name}")[name]
            records[name] = [tap_shaped(name, r) for r in rows]
        yield Clinic(records, handle.admin("GET", "edge_cases"))
    finally:
        handle.stop()
