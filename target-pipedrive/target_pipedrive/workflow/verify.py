"""`verify`: read every migrated object back from Pipedrive and diff it field by field.

The expected side is the crosswalk's change history: for each mapped record, the
after-images of its writes (not rolled back), merged oldest first. An after-image holds,
for every field a write sent, the value Pipedrive confirmed — that is the map's output
after names were resolved to ids — so the diff needs no Cliniko access and no re-run of
the map. Ids are decoded back to names for people (options -> labels, users -> e-mails,
persons -> source keys, activity types -> names); the comparison rules are in
normalize.py. Nothing is written to Pipedrive: the API is used in plan mode.

Limits of that expected side (see the README): fields Pipedrive sets only at creation
(`add_time`) are not kept in after-images, so they are not compared; for an adopted
("matched") object, only the fields the migration had to change are known.

Objects are read one by one (1-2 tokens a read); from BULK_THRESHOLD objects of a stream
on, the stream is listed instead, in pages of 500 (100 for files; 10-20 tokens a page). A
list also returns objects the migration did not write, so it pays off only for many.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from target_pipedrive.crosswalk import Crosswalk, now_iso
from target_pipedrive.workflow import completeness, normalize
from target_pipedrive.workflow.report import owner_only
from target_pipedrive.write.kinds import Api, kind_for

BULK_THRESHOLD = 50  # from this many objects of a stream, list them instead of reading each
COLUMNS = ("stream", "source_key", "pipedrive_id", "field", "cliniko_value", "pipedrive_value", "verdict")
HTML_COLUMNS = ("stream", "source key", "Pipedrive id", "field", "Cliniko value (as migrated)", "Pipedrive value now",
                "verdict")
LISTS = {"persons": ("v2", "/persons", 500), "products": ("v2", "/products", 500),
         "activities": ("v2", "/activities", 500), "notes": ("v1", "/notes", 500),
         "files": ("v1", "/files", 100)}  # (version, path, page size: v1 /files allows at most 100)
FIELD_PATHS = {"person": "/personFields", "product": "/productFields"}
STREAM_ORDER = ("custom_fields", "activity_types", "persons", "products", "activities", "notes", "files")


@dataclass(frozen=True)
class Expected:
    """One migrated record: where it is in Pipedrive and what the migration wrote there."""

    stream: str
    source_key: str
    pipedrive_id: int
    image: dict[str, Any]


@dataclass(frozen=True)
class Row:
    stream: str
    source_key: str
    pipedrive_id: int
    field: str
    cliniko_value: str
    pipedrive_value: str
    verdict: str


# -- the expected side (crosswalk only) ------------------------------------------------------------
def expected_records(crosswalk: Crosswalk, run_id: str | None = None) -> list[Expected]:
    """Every record mapped now (or only those `run_id` wrote), with its merged after-images."""
    undone = {cid for cid, step in crosswalk.rollback_done().items() if step["status"] == "done"}
    history: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for change in crosswalk.changes():
        if change["id"] not in undone:
            history[(change["stream"], change["source_key"])].append(change)
    wanted = None if run_id is None else {(c["stream"], c["source_key"]) for c in crosswalk.changes([run_id])}
    out = []
    for mapping in crosswalk.all_mappings():
        ident = (mapping["stream"], mapping["source_key"])
        if wanted is not None and ident not in wanted:
            continue
        pid = int(mapping["pipedrive_id"])
        images = [c["after_image"] for c in history[ident] if int(c["pipedrive_id"]) == pid]
        out.append(Expected(mapping["stream"], mapping["source_key"], pid, normalize.merge_images(images)))
    order = {s: n for n, s in enumerate(STREAM_ORDER)}
    return sorted(out, key=lambda e: (order.get(e.stream, 99), e.stream, e.source_key))


def compare(records: Iterable[Expected], actual: Callable[[Expected], dict[str, Any] | None],
            ctx: normalize.Context) -> list[Row]:
    rows = []
    for rec in records:
        for result in normalize.compare_object(rec.image, actual(rec), ctx):
            rows.append(Row(rec.stream, rec.source_key, rec.pipedrive_id, result.field, result.expected,
                            result.actual, result.verdict))
    return rows


def summarize(rows: list[Row]) -> dict[str, Any]:
    """Counts per verdict, per object type (stream) and per field."""
    by_stream: dict[str, dict[str, Any]] = {}
    objects: dict[str, dict[tuple[str, int], set[str]]] = defaultdict(lambda: defaultdict(set))
    by_field: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        objects[row.stream][(row.source_key, row.pipedrive_id)].add(row.verdict)
        if row.field != normalize.OBJECT:
            by_field[f"{row.stream}.{row.field}"][row.verdict] += 1
    for stream, seen in objects.items():
        fields = Counter(r.verdict for r in rows if r.stream == stream and r.field != normalize.OBJECT)
        by_stream[stream] = {
            "objects": len(seen),
            "all_match": sum(1 for v in seen.values() if v <= {normalize.MATCH}),
            "with_differences": sum(1 for v in seen.values() if v - {normalize.MATCH, normalize.OBJECT_MISSING}),
            "object_missing": sum(1 for v in seen.values() if normalize.OBJECT_MISSING in v),
            "fields": dict(fields),
        }
    verdicts = Counter(r.verdict for r in rows)
    return {"objects": sum(s["objects"] for s in by_stream.values()),
            "fields_compared": sum(1 for r in rows if r.field != normalize.OBJECT),
            "verdicts": {v: verdicts.get(v, 0) for v in normalize.VERDICTS},
            "differences": sum(n for v, n in verdicts.items() if v != normalize.MATCH),
            "by_object_type": by_stream, "by_field": {k: dict(v) for k, v in sorted(by_field.items())}}


# -- the Pipedrive side ----------------------------------------------------------------------------
class Reader:
    """Reads migrated objects and the account's definitions (custom fields, users, activity types)."""

    def __init__(self, api: Api, crosswalk: Crosswalk, bulk_threshold: int = BULK_THRESHOLD) -> None:
        self.api = api
        self.crosswalk = crosswalk
        self.bulk_threshold = bulk_threshold
        self._fields: dict[str, dict[int, dict[str, Any]]] = {}
        self._types: dict[int, dict[str, Any]] | None = None
        self._listed: dict[str, dict[int, dict[str, Any]]] = {}

    def fields(self, entity: str) -> dict[int, dict[str, Any]]:
        if entity not in self._fields:
            self._fields[entity] = {int(f["id"]): f for f in self.api.list("v1", FIELD_PATHS[entity])
                                    if f.get("id") is not None}
        return self._fields[entity]

    def activity_types(self) -> dict[int, dict[str, Any]]:
        if self._types is None:
            self._types = {int(t["id"]): t for t in self.api.read("v1", "/activityTypes") or []}
        return self._types

    def context(self) -> normalize.Context:
        ctx = normalize.Context()
        for entity in FIELD_PATHS:
            for f in self.fields(entity).values():
                key = str(f.get("key") or "")
                ctx.field_names[key] = str(f.get("name") or key)
                ctx.field_types[key] = str(f.get("field_type") or "")
                ctx.options[key] = {int(o["id"]): str(o.get("label")) for o in f.get("options") or []
                                    if isinstance(o, dict) and o.get("id") is not None}
        ctx.users = {int(u["id"]): str(u.get("email") or u.get("name") or u["id"])
                     for u in self.api.read("v1", "/users") or [] if u.get("id") is not None}
        ctx.activity_types = {str(t.get("key_string")): str(t.get("name")) for t in self.activity_types().values()}
        ctx.persons = {int(m["pipedrive_id"]): m["source_key"] for m in self.crosswalk.all_mappings()
                       if m["stream"] == "persons"}
        return ctx

    def prepare(self, records: list[Expected]) -> None:
        """List the streams with many objects to verify (one request per 500 instead of one each)."""
        counts = Counter(r.stream for r in records)
        for stream, (version, path, limit) in LISTS.items():
            if counts[stream] and counts[stream] >= self.bulk_threshold:
                self._listed[stream] = {int(o["id"]): o for o in self.api.list(version, path, limit=limit)
                                        if o.get("id") is not None}

    def get(self, rec: Expected) -> dict[str, Any] | None:
        if rec.stream == "custom_fields":
            found = self.fields(str(rec.image.get("_entity") or "person")).get(rec.pipedrive_id)
            return found if found and found.get("active_flag", True) else None
        if rec.stream == "activity_types":
            found = self.activity_types().get(rec.pipedrive_id)
            return found if found and found.get("active_flag", True) else None
        if rec.stream in self._listed:
            found = self._listed[rec.stream].get(rec.pipedrive_id)
            if found is None or found.get("is_deleted") or found.get("active_flag") is False:
                return None
            return found
        return kind_for(self.api, rec.stream).get(rec.pipedrive_id)


def run(crosswalk: Crosswalk, api: Api, run_id: str | None = None,
        bulk_threshold: int = BULK_THRESHOLD) -> tuple[list[Row], dict[str, Any]]:
    records = expected_records(crosswalk, run_id)
    reader = Reader(api, crosswalk, bulk_threshold)
    ctx = reader.context() if records else normalize.Context()
    reader.prepare(records)
    rows = compare(records, reader.get, ctx)
    return rows, summarize(rows)


# -- completeness against Cliniko (completeness.py) ---------------------------------------------------
SOURCE_RECORD = "(Cliniko record)"  # the field name of a completeness row


def completeness_rows(gaps: list[completeness.Gap]) -> list[Row]:
    """Completeness findings as diff rows: no Pipedrive id, the Cliniko side's last change as its value."""
    return [Row(g.stream, g.source_key, 0, SOURCE_RECORD, f"updated {g.updated_at}" if g.updated_at else "received",
                "", g.verdict) for g in gaps]


def completeness_summary(gaps: list[completeness.Gap], per_stream: dict[str, dict[str, int]],
                         requests: int) -> dict[str, Any]:
    verdicts = Counter(g.verdict for g in gaps)
    return {"checked": True, "per_stream": per_stream, "cliniko_requests": requests,
            "in_cliniko": sum(s["in_cliniko"] for s in per_stream.values()),
            "verdicts": {v: verdicts.get(v, 0) for v in completeness.VERDICTS},
            "problems": sum(verdicts.get(v, 0) for v in completeness.PROBLEMS)}


# -- output ----------------------------------------------------------------------------------------
def write(rows: list[Row], summary: dict[str, Any], out_dir: Path, run_id: str | None,
          gaps: list[completeness.Gap] | None = None) -> list[Path]:
    """diff.csv, diff.json and diff.html, owner-only (they hold patient data)."""
    import json

    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    csv_path, json_path, html_path = out_dir / "diff.csv", out_dir / "diff.json", out_dir / "diff.html"
    every = rows + completeness_rows(gaps or [])
    with owner_only(csv_path) as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(r) for r in every)
    document = {"run_id": run_id, "generated_at": now_iso(), "summary": summary, "rows": [asdict(r) for r in every]}
    with owner_only(json_path) as handle:
        handle.write(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    _write_html(html_path, rows, summary, run_id, gaps or [])
    return [csv_path, json_path, html_path]


def _completeness_blocks(summary: dict[str, Any], gaps: list[completeness.Gap]) -> list[Any]:
    from target_pipedrive.workflow import html

    found = summary.get("completeness") or {}
    if not found.get("checked"):
        return [html.Paragraph("Completeness against Cliniko was not checked (verify --skip-cliniko, or a single "
                               "run): only what the migration wrote was compared.", "warn")]
    verdicts = found["verdicts"]
    problems = found["problems"]
    waiting = verdicts.get(completeness.NOT_YET, 0) + verdicts.get("deferred", 0)
    line = (f"Cliniko holds {found['in_cliniko']} records ({found['cliniko_requests']} requests to count them): "
            + (f"{problems} not in Pipedrive that should be: " + ", ".join(
                f"{v} {verdicts[v]}" for v in completeness.PROBLEMS if verdicts.get(v)) + "." if problems
               else "every one is migrated, skipped with a reason, or failed as listed in the audit.")
            + (f" {waiting} changed after the last run or were saved for the next one: the next run brings them."
               if waiting else ""))
    columns = ("Cliniko stream", "in Cliniko", "received", *completeness.VERDICTS)
    per_stream = [(stream, s["in_cliniko"], s["received"], *(s.get(v, 0) for v in completeness.VERDICTS))
                  for stream, s in found["per_stream"].items()]
    listed = [(g.stream, g.source_key, g.updated_at or "", g.verdict)
              for g in sorted(gaps, key=lambda g: (g.verdict not in completeness.PROBLEMS, g.stream, g.source_key))]
    return [html.Paragraph(line, "bad" if problems else "ok"),
            html.Table("Completeness per Cliniko stream", columns, per_stream),
            html.Table("Cliniko records not in Pipedrive", ("Cliniko stream", "source key", "changed in Cliniko",
                                                             "verdict"), listed, max_rows=2000)]


def _write_html(path: Path, rows: list[Row], summary: dict[str, Any], run_id: str | None,
                gaps: list[completeness.Gap]) -> None:
    from target_pipedrive.workflow import html

    differences = [r for r in rows if r.verdict != normalize.MATCH]
    problems = (summary.get("completeness") or {}).get("problems", 0)
    scope = f"run {run_id}" if run_id else "every migrated record"
    tone = "ok" if not differences and not problems else "bad"
    headline = (f"{summary['objects']} objects and {summary['fields_compared']} fields compared ({scope}): "
                + ("everything matches." if not differences else
                   f"{len(differences)} difference(s): " + ", ".join(
                       f"{v} {n}" for v, n in summary["verdicts"].items() if v != normalize.MATCH and n) + "."))
    per_type = [(stream, s["objects"], s["all_match"], s["with_differences"], s["object_missing"])
                for stream, s in summary["by_object_type"].items()]
    per_field = [(name, *(counts.get(v, 0) for v in normalize.VERDICTS[:3]))
                 for name, counts in summary["by_field"].items()]
    blocks: list[Any] = [
        html.Paragraph(headline, tone),
        *_completeness_blocks(summary, gaps),
        html.Table("Differences", HTML_COLUMNS, [tuple(asdict(r).values()) for r in differences], max_rows=2000),
        html.BarChart("Fields per object type", {s: {v: n for v, n in d["fields"].items() if n}
                                                 for s, d in summary["by_object_type"].items()}),
        html.Table("Per object type", ("stream", "objects", "all match", "with differences", "object missing"),
                   per_type),
        html.Table("Per field", ("field", *normalize.VERDICTS[:3]), per_field),
    ]
    html.write_page(path, "Verify: Pipedrive compared with the migration", blocks, generated_at=now_iso())
