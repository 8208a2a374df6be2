"""Shared test helpers: the sandbox clinic shaped exactly as tap-cliniko emits it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cliniko_map import Map
from sandbox.cliniko.testing import start
from tap_cliniko.rows import add_link_ids, link_pairs
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
    add_link_ids(out, link_pairs(tap_properties(stream)))
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


def load_clinic() -> Iterator[Clinic]:
    """Start the small sandbox clinic, read every stream in the tap's order, stop it."""
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


@dataclass
class Run:
    map: Map
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rolled_up: dict[str, str] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)  # inputs with no outcome at all

    def feed(self, stream: str, record: dict[str, Any]) -> None:
        result = self.map.apply(stream, record)
        self.collect(result)
        if not (len(result) or result.skipped or result.rolled_up or result.deferred):
            self.silent.append(f"{stream}:{record['id']}")

    def collect(self, result: Any) -> None:
        self.records.extend(result)
        self.skipped.update(result.skipped)
        self.rolled_up.update(result.rolled_up)

    def last(self, stream: str) -> dict[str, dict[str, Any]]:
        """The latest record per source key of a contract stream (what Pipedrive ends up with)."""
        out: dict[str, dict[str, Any]] = {}
        for s, r in self.records:
            if s == stream:
                out[r["source_key"]] = r
        return out


def migrate(clinic: Clinic, out_dir: Path, edit: dict[str, Any] | None = None, **policies: Any) -> Run:
    m = Map.load(now=NOW, output_dir=out_dir, policies=policies or None)
    run = Run(m)
    run.records.extend(m.definitions())
    for stream, record in clinic.in_tap_order():
        run.feed(stream, (edit or {}).get(f"{stream}:{record['id']}", record))
    run.collect(m.flush())
    return run
