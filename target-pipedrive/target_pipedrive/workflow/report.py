"""Audit report: every source record the target has seen, with its Pipedrive id and action or its failure.

Written as CSV and an HTML page (for people) and JSON (for programs) from the crosswalk alone, so it needs
no API call. Without a run id it shows the current state of every record; with one, what
that run did (including a plan run's planned actions).
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from target_pipedrive.crosswalk import WRITE_KINDS, Crosswalk
from target_pipedrive.input.sources import reconcile_line
from target_pipedrive.workflow import audit_page
from target_pipedrive.workflow.labels import Labels

COLUMNS = ("stream", "source_key", "status", "action", "pipedrive_id", "error_code", "message", "warnings",
           "run_id", "at", "label", "pipedrive_url")


def _blank(stream: str, key: str) -> dict[str, Any]:
    return {c: None for c in COLUMNS} | {"stream": stream, "source_key": key, "warnings": ""}


def rows(crosswalk: Crosswalk, run_id: str | None = None, labels: Labels | None = None) -> list[dict[str, Any]]:
    """One row per source record: the current state, or (with `run_id`) what that run did; with `labels`,
    a name people recognise and the Pipedrive page of each."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    kept: dict[tuple[str, str], dict[str, Any]] = {}  # records not in Pipedrive yet, as the crosswalk keeps them

    def row(stream: str, key: str) -> dict[str, Any]:
        return out.setdefault((stream, key), _blank(stream, key))

    if run_id is None:
        for m in crosswalk.all_mappings():
            row(m["stream"], m["source_key"]).update(status="migrated", action=m["action"],
                                                     pipedrive_id=m["pipedrive_id"], run_id=m["run_id"],
                                                     at=m["updated_at"])
    else:
        for c in crosswalk.changes([run_id]):
            row(c["stream"], c["source_key"]).update(status="migrated", action=c["action"],
                                                     pipedrive_id=c["pipedrive_id"], run_id=run_id, at=c["at"])
    waiting_now = _still_waiting(crosswalk) if run_id is None else set()
    for a in crosswalk.audit_rows(run_id):
        r = row(a["stream"], a["source_key"])
        if a["status"] == "warning":
            r["warnings"] = ";".join(filter(None, [r["warnings"], a["code"]]))
            continue
        if run_id is None and a["status"] in ("held", "deferred", "planned") and a["id"] not in waiting_now:
            continue  # current state: the pending queue and the mapping tell these
        if run_id is None and r["status"] == "migrated" and str(a["at"]) < str(r["at"]):
            continue  # an older failure, since fixed
        if run_id is None and a["status"] == "rolled_back" and r["status"] == "migrated":
            continue  # rolled back, then migrated again
        parked = ("failed", "held", "deferred", "skipped")
        r.update(status=a["status"], error_code=a["code"] if a["status"] in parked else None,
                 message=a["message"], run_id=a["run_id"], at=a["at"])
        if a["status"] in ("planned", "rolled_back"):
            r["action"] = a["action"] or a["code"]
        if a["pipedrive_id"] is not None:
            r["pipedrive_id"] = a["pipedrive_id"]
    if run_id is None:
        for p in crosswalk.pending_rows():
            held = p["reason"] == "parent_missing"
            code = p["reason"]
            if held and p["waiting_for"]:  # as the run's audit says it: the parent failed, or never came
                parent = out.get(tuple(p["waiting_for"].split(":", 1)))  # type: ignore[arg-type]
                if parent is not None and parent["status"] == "failed":
                    code = "parent_failed"
            row(p["stream"], p["source_key"]).update(
                status="held" if held else "deferred", error_code=code, run_id=p["run_id"], at=p["at"],
                message=f"waiting for {p['waiting_for']}" if held else "saved for the next run")
            kept[(p["stream"], p["source_key"])] = p["record"]
    found = sorted((r for r in out.values() if r["status"] is not None), key=lambda r: (r["stream"], r["source_key"]))
    if labels is not None:
        for r in found:
            record = kept.get((r["stream"], r["source_key"]))
            r["label"] = labels.label(r["stream"], r["source_key"], record)
            r["pipedrive_url"] = (labels.url(r["stream"], r["source_key"]) if r["pipedrive_id"] is not None
                                  else labels.person_url((record or {}).get("person_source_key")))
            if r["error_code"] == "file_too_large":  # not in Pipedrive: named, and linked to its person's page
                name, url = labels.manual(r["message"] or "")
                r["label"], r["pipedrive_url"] = name or r["label"], url or r["pipedrive_url"]
    return found


def _still_waiting(crosswalk: Crosswalk) -> set[int]:
    """Audit ids of the records the map still holds back (`map_waiting`), as the latest finished migration run
    listed them (each run's end lists all that still wait). Unlike a child parked for its person, they are in
    the map's memory, not in the pending queue."""
    finished = [r["run_id"] for r in crosswalk.runs() if r["kind"] in WRITE_KINDS and r["finished_at"]
                and r["status"] != "interrupted"]
    if not finished:
        return set()
    return {a["id"] for a in crosswalk.audit_rows(finished[-1]) if a["code"] == "map_waiting"}


def whole_migration(crosswalk: Crosswalk) -> dict[str, Any] | None:
    """Every Cliniko record ever received, by what became of it (the `sources` table)."""
    counts = crosswalk.source_counts()
    if not counts:
        return None
    return {"line": reconcile_line(counts), "per_stream": counts}


def write(crosswalk: Crosswalk, out_dir: Path, run_id: str | None = None, web: str | None = None) -> dict[str, Any]:
    """Write audit.csv, audit.json and audit.html into `out_dir`; returns the JSON document. `web`: where
    Pipedrive's web app shows this account (labels.web_root), for the links."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    records = rows(crosswalk, run_id, Labels(crosswalk, web))
    with owner_only(out_dir / "audit.csv") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    counts = Counter(r["status"] for r in records)
    runs = crosswalk.runs()
    document = {"run_id": run_id, "counts": dict(counts),
                "failures_by_code": dict(Counter(r["error_code"] for r in records if r["status"] == "failed")),
                "reconciliation": reconciliation(runs, run_id), "whole_migration": whole_migration(crosswalk),
                "pipedrive_objects": pipedrive_objects(crosswalk, run_id), "runs": runs, "records": records}
    with owner_only(out_dir / "audit.json") as handle:
        handle.write(json.dumps(document, indent=2, default=str))
    audit_page.write(document, out_dir / "audit.html")
    return document


def pipedrive_objects(crosswalk: Crosswalk, run_id: str | None) -> dict[str, dict[str, int]]:
    """Per Pipedrive object type, how many the migration created, updated or matched (adopted): now, or in
    one run."""
    out: dict[str, Counter[str]] = {}
    source = crosswalk.changes([run_id]) if run_id else crosswalk.all_mappings()
    for item in source:
        out.setdefault(item["stream"], Counter())[item["action"]] += 1
    return {stream: dict(c) for stream, c in sorted(out.items())}


def reconciliation(runs: list[dict[str, Any]], run_id: str | None) -> dict[str, Any] | None:
    """Per Cliniko stream, what became of every record a run received (that run, or the latest one)."""
    candidates = [r for r in runs if (r["run_id"] == run_id if run_id else r["kind"] in WRITE_KINDS)
                  and (r.get("summary") or {}).get("sources") is not None]
    if not candidates:
        return None
    run = candidates[-1]
    sources = run["summary"]["sources"]
    return {"run_id": run["run_id"], "line": reconcile_line(sources), "per_stream": sources}


def owner_only(path: Path) -> Any:
    """Open for writing, owner-only: the audit names patients' source records."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return open(fd, "w", newline="", encoding="utf-8")
