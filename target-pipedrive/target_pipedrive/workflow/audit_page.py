"""audit.html: the migration as a clinic manager reads it.

First the one line that says whether every Cliniko record is accounted for (over the whole
migration, or one run), then what needs a person: failures, records still waiting, files
to attach by hand. Then what became of the Cliniko records, stream by stream, in words
(in Pipedrive, rolled up into the patient, skipped by a rule), beside what the migration
wrote in Pipedrive per object type; the runs; and every record, by a name people know, with
its Cliniko key and a link to its page in Pipedrive. The audit CSV and JSON hold the same
rows in full.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from target_pipedrive.workflow.html import BarChart, Heading, Link, Paragraph, Table, write_page

# what became of a record, in the manager's words
WORDS = {
    "migrated": "in Pipedrive", "unchanged": "in Pipedrive", "rolled_up": "rolled up into its patient",
    "skipped": "skipped by a rule", "failed": "failed", "held": "waiting for its person",
    "waiting": "waiting for a record that never came", "deferred": "saved for the next run",
    "rolled_back": "rolled back", "planned": "planned", "unaccounted": "UNACCOUNTED",
}
ATTENTION = ("failed", "held", "waiting", "deferred")
MANUAL = ("file_too_large",)
OBJECTS = {"persons": "persons", "activities": "activities", "notes": "notes", "files": "files",
           "products": "products", "custom_fields": "custom fields", "activity_types": "activity types"}
ACTIONS = {"created": "created", "updated": "updated", "matched": "found there and adopted"}
MAX_ROWS = 2000


def _words(counts: dict[str, int]) -> dict[str, int]:
    """Counts by status -> by the words a manager reads, in the order of WORDS (in Pipedrive first)."""
    out: Counter[str] = Counter()
    for status, n in counts.items():
        out[WORDS.get(status, status)] += n
    order = list(dict.fromkeys(WORDS.values()))
    return dict(sorted(out.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def banner(document: dict[str, Any]) -> Paragraph:
    """The line that says whether every Cliniko record is accounted for."""
    scope = document.get("whole_migration") if not document.get("run_id") else None
    recon = scope or document.get("reconciliation")
    if not recon:  # records fed to the target directly, not through the map: the audit's own rows
        statuses = Counter(r["status"] for r in document["records"])
        open_items = sum(statuses[s] for s in ATTENTION)
        parts = ", ".join(f"{n} {w}" for w, n in _words(dict(statuses)).items()) or "none yet"
        return Paragraph(f"{len(document['records'])} records in the audit: {parts}.", "bad" if open_items else "ok")
    counts: Counter[str] = Counter()
    for c in recon["per_stream"].values():
        counts.update(c)
    total = sum(counts.values())
    parts = ", ".join(f"{n} {w}" for w, n in _words(dict(counts)).items())
    what = "The whole migration" if scope else f"Run {recon['run_id']}"
    open_items = sum(counts[s] for s in ("failed", "held", "waiting", "unaccounted"))
    verdict = ("every one is accounted for." if not open_items else
               f"{open_items} need attention (below).")
    return Paragraph(f"{what}: {total} Cliniko records received - {parts}; {verdict}",
                     "ok" if not open_items else "bad")


def attention(records: list[dict[str, Any]]) -> list[Any]:
    """Every record a person must look at, first on the page."""
    needs = [r for r in records if r["status"] in ATTENTION or r.get("error_code") in MANUAL]
    if not needs:
        return [Heading("Needs your attention"), Paragraph("Nothing needs your attention.", "ok")]
    order = {s: n for n, s in enumerate(("failed", *MANUAL, "held", "waiting", "deferred"))}
    needs.sort(key=lambda r: (order.get(r.get("error_code") if r.get("error_code") in MANUAL else r["status"], 9),
                              r["stream"], r["source_key"]))
    rows = [(Link(r.get("label") or r["source_key"], r.get("pipedrive_url")), r["source_key"],
             "needs manual handling" if r.get("error_code") in MANUAL else WORDS.get(r["status"], r["status"]),
             r.get("message") or r.get("error_code") or "") for r in needs]
    return [Heading("Needs your attention"),
            Paragraph(f"{len(needs)} record(s): failures, records still waiting, files to attach by hand.", "bad"),
            Table("What to look at", ("record", "Cliniko key", "what", "why"), rows, max_rows=MAX_ROWS)]


def cliniko_side(document: dict[str, Any]) -> list[Any]:
    recon = (document.get("whole_migration") if not document.get("run_id") else None) or document.get(
        "reconciliation")
    if not recon:
        return []
    per_stream = {stream: _words(c) for stream, c in recon["per_stream"].items()}
    columns = sorted({w for c in per_stream.values() for w in c}, key=list(WORDS.values()).index)
    return [Heading("What became of the Cliniko records"),
            BarChart("Cliniko records per stream, by what became of them", per_stream),
            Table("Cliniko records per stream", ("Cliniko stream", "received", *columns),
                  [(s, sum(c.values()), *(c.get(w, 0) for w in columns)) for s, c in per_stream.items()])]


def pipedrive_side(document: dict[str, Any]) -> list[Any]:
    objects = document.get("pipedrive_objects") or {}
    if not objects:
        return []
    shown = {OBJECTS.get(s, s): {ACTIONS.get(a, a): n for a, n in c.items()} for s, c in objects.items()}
    actions = [a for a in ACTIONS.values() if any(a in c for c in shown.values())]
    return [Heading("What the migration wrote in Pipedrive"),
            BarChart("Pipedrive objects per type", shown),
            Table("Pipedrive objects per type", ("object type", *actions, "total"),
                  [(t, *(c.get(a, 0) for a in actions), sum(c.values())) for t, c in shown.items()])]


def runs_table(document: dict[str, Any]) -> list[Any]:
    rows = []
    for run in document.get("runs") or []:
        summary = run.get("summary") or {}
        received = sum(sum(c.values()) for c in (summary.get("sources") or {}).values())
        written = sum(n for c in (summary.get("streams") or {}).values()
                      for a, n in c.items() if a in ("created", "updated", "matched"))
        rows.append((run["run_id"], run["kind"], run["status"], run["started_at"], run["finished_at"] or "",
                     received, written))
    return [Heading("Runs"), Table("Every run, oldest first", ("run", "kind", "status", "started", "finished",
                                                               "Cliniko records", "Pipedrive writes"), rows)]


def every_record(records: list[dict[str, Any]]) -> list[Any]:
    rows = [(Link(r.get("label") or r["source_key"], r.get("pipedrive_url")), r["source_key"],
             WORDS.get(r["status"], r["status"]), ACTIONS.get(r.get("action") or "", r.get("action") or ""),
             r.get("run_id") or "") for r in records]
    return [Heading("Every record"),
            Table(f"{len(records)} records (audit.csv has every column)",
                  ("record", "Cliniko key", "what became of it", "in Pipedrive", "run"), rows, max_rows=MAX_ROWS)]


def write(document: dict[str, Any], path: Path) -> Path:
    records = document["records"]
    run_id = document.get("run_id")
    title = "Migration audit" + (f" - run {run_id}" + (f" ({kind})" if (kind := _kind(document)) else "")
                                 if run_id else "")
    blocks: list[Any] = [banner(document), *attention(records), *cliniko_side(document), *pipedrive_side(document),
                         *runs_table(document), *every_record(records)]
    return write_page(path, title, blocks)


def _kind(document: dict[str, Any]) -> str | None:
    return next((r["kind"] for r in document.get("runs") or [] if r["run_id"] == document.get("run_id")), None)
